"""GGUF checkpoints: dequantised once through transformers' ``gguf_file`` support, cached as a
plain Hugging Face directory (config.json, model.safetensors, tokenizer.json), so every later run
loads safetensors in a second instead of de-quantising for a minute.

The cache lives in ``$TUNELAB_CACHE`` (default ``~/.cache/tunelab``) under ``models/``, one folder
per GGUF file keyed by its size and modification time (and by the packaged model's sha256 when it
comes from a package). It is written to a temporary folder and renamed, so an interrupted
conversion never leaves a half-written model that later runs would trust.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tunelab.errors import ModelNotFoundError

COMPLETE_MARKER = ".tunelab-complete"


def cache_root() -> Path:
    root = os.environ.get("TUNELAB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tunelab"
    return Path(root).expanduser()


def _require_gguf() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise ModelNotFoundError(
            "loading a GGUF model needs the 'gguf' package; install it with: pip install gguf "
            "(or pip install 'tunelab[zh]' for the packaged Chinese-capable model)"
        ) from None


def cache_dir_for(gguf_path: Path, key: str | None = None) -> Path:
    stat = gguf_path.stat()
    key = key or f"{stat.st_size}-{int(stat.st_mtime)}"
    return cache_root() / "models" / f"{gguf_path.stem}-{key[:16]}"


def is_cached(directory: Path) -> bool:
    return (directory / COMPLETE_MARKER).is_file() and (directory / "config.json").is_file()


def convert_gguf(gguf_path: Path, target: Path, *, log: Callable[[str], None] | None = None) -> Path:
    """De-quantise ``gguf_path`` to fp32 and save it (with its tokenizer) as a model directory at ``target``."""
    _require_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if is_cached(target):
        return target
    say = log or (lambda message: None)
    say(f"de-quantising {gguf_path.name} once into {target} (later runs load the cached copy)")
    started = time.perf_counter()
    folder, name = str(gguf_path.parent), gguf_path.name
    progress_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    finally:
        if progress_was_enabled:
            hf_logging.enable_progress_bar()
    # The weights are plain fp32 tensors now; transformers still marks the model as GGUF-quantised
    # and refuses to serialise it, so drop that mark before saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / COMPLETE_MARKER).write_text(str(gguf_path) + "\n", encoding="utf-8")
        try:
            os.replace(staging, target)
        except OSError:
            if not is_cached(target):  # another process finished first: keep theirs
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"cached {target.name} in {time.perf_counter() - started:.0f} s")
    return target


def find_gguf(path: Path) -> Path | None:
    """The GGUF file a user points at: the file itself, or the only .gguf in a directory without config.json."""
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path
    if path.is_dir() and not (path / "config.json").is_file():
        files = sorted(path.glob("*.gguf"))
        if len(files) == 1:
            return files[0]
        if len(files) > 1:
            raise ModelNotFoundError(
                f"{path} holds several GGUF files ({', '.join(f.name for f in files)}); point model.name at one of them"
            )
    return None
