"""Checks of an artifact before the service starts, so `tunelab serve` on a missing, incomplete or
damaged artifact stops at once with one line naming the path (exit 2), instead of a server that
starts, fails to load in the background and logs a traceback.

Cheap on purpose (no torch import): ``tunelab.json`` is read and validated, the weights file the
backend needs must exist, and every ``.safetensors`` file's header must describe exactly the bytes
the file holds (a truncated or overwritten file fails here).
"""

from __future__ import annotations

from pathlib import Path

from tunelab.artifact import META_FILE, ArtifactError, ArtifactMeta, is_ensemble, read_meta

FULL_MODEL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
ONNX_FILE = "model.onnx"


def chosen_backend(path: Path, meta: ArtifactMeta, backend: str | None) -> str:
    """The backend the Predictor will use (same rule: onnx for an exported artifact without torch weights)."""
    if backend is not None:
        return backend
    return "onnx" if meta.export and not (path / "model.safetensors").is_file() else "torch"


def check_safetensors(file: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="np"):
            pass
    except Exception as exc:  # safetensors raises its own error type (and OSError)
        raise ArtifactError(f"{file} is damaged or truncated ({exc}); copy the artifact again or retrain it") from None


def check_artifact(path: str | Path, backend: str | None = None) -> ArtifactMeta:
    """The artifact's metadata, after checking that its model files are there and readable;
    :class:`ArtifactError` (a TunelabError) naming the path otherwise."""
    path = Path(path)
    try:
        meta = read_meta(path)  # missing directory, no tunelab.json, broken or invalid tunelab.json
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a tunelab.json read_meta did not foresee
        raise ArtifactError(
            f"{path / META_FILE} is not a valid tunelab.json ({type(exc).__name__}: {exc}); the artifact is damaged"
        ) from None
    if is_ensemble(meta):  # `tunelab ensemble`: each member is an artifact of its own under members/
        spec = meta.get("ensemble")
        members = spec.get("members") if isinstance(spec, dict) else None
        if not isinstance(members, list) or not all(isinstance(m, dict) and m.get("path") for m in members):
            raise ArtifactError(f"{path / META_FILE} does not list the ensemble's members; the artifact is damaged")
        for member in members:
            check_artifact(path / str(member["path"]), backend)
        return meta
    if chosen_backend(path, meta, backend) == "onnx":
        onnx = path / ONNX_FILE
        if not onnx.is_file():
            raise ArtifactError(
                f"{onnx} is missing: the onnx backend needs an exported artifact (`tunelab export {path} "
                "--format onnx`); serve a trained artifact with --backend torch"
            )
        if onnx.stat().st_size == 0:
            raise ArtifactError(f"{onnx} is empty; the export is damaged: export the model again")
        return meta
    if meta.method.stored == "full_model":
        if not any((path / name).is_file() for name in FULL_MODEL_WEIGHTS):
            raise ArtifactError(
                f"{path} holds no model weights ({FULL_MODEL_WEIGHTS[0]} is missing); the artifact is "
                "incomplete: copy the whole directory again or retrain it"
            )
    elif not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise ArtifactError(
            f"{path} holds no trained weights (no .safetensors file); the artifact is incomplete: "
            "copy the whole directory again or retrain it"
        )
    for file in sorted(path.glob("*.safetensors")):
        check_safetensors(file)
    return meta
