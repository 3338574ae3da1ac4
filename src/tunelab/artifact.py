"""The on-disk model format and its safe publication.

An artifact is a Hugging Face model directory (config.json with real label names, safetensors
weights, tokenizer files) plus `tunelab.json` (task, labels, config, data fingerprint, metrics,
versions), `report.json`, plots and a model card. Plain transformers can load it; tunelab.load
turns it into a Predictor.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import uuid
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from tunelab.errors import TunelabError
from tunelab.evaluation.report import write_json  # noqa: F401  (re-exported for artifact writers)

META_FILE = "tunelab.json"
FORMAT_VERSION = 1
_PARTIAL_MARKER = ".tunelab-partial"


class ArtifactError(TunelabError):
    pass


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("tunelab", "torch", "transformers", "tokenizers", "accelerate", "safetensors", "scikit-learn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def examples_fingerprint(examples: Sequence[Any]) -> str:
    """sha256 over the examples' content in order (not where they came from): two runs on the
    same data share it, whatever the task's example type."""
    digest = hashlib.sha256()
    for ex in examples:
        content = {k: v for k, v in asdict(ex).items() if k not in ("source", "line")}
        digest.update(json.dumps(content, ensure_ascii=False, sort_keys=True, default=list).encode("utf-8") + b"\n")
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_meta(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    meta_path = path / META_FILE
    if not path.exists():
        raise ArtifactError(f"artifact not found: {path}")
    if not meta_path.is_file():
        raise ArtifactError(f"{path} is not a tunelab artifact (no {META_FILE}); train one with `tunelab train`")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ArtifactError(f"{path} was written by a newer tunelab (format {meta['format_version']}); upgrade tunelab")
    return meta


def check_output_dir(output: Path, overwrite: bool) -> None:
    """Refuse before any work starts, so a long run never ends in 'directory exists'."""
    if not output.exists():
        return
    if not output.is_dir():
        raise ArtifactError(f"output {output} exists and is not a directory")
    if not overwrite:
        raise ArtifactError(f"output directory {output} already exists; pass --overwrite to replace it or choose another -o")
    if any(output.iterdir()) and not (output / META_FILE).is_file():
        raise ArtifactError(
            f"refusing to overwrite {output}: it is not empty and not a tunelab artifact (no {META_FILE})"
        )


def prepare_workdir(workdir: Path, *, resume: bool) -> None:
    """The run's scratch space beside the output: checkpoints, logs and the artifact being built."""
    if workdir.exists():
        if not (workdir / _PARTIAL_MARKER).exists():
            raise ArtifactError(f"{workdir} exists and was not made by tunelab; move it away")
        if not resume:
            shutil.rmtree(workdir)
    elif resume:
        raise ArtifactError(f"nothing to resume: no interrupted run at {workdir}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / _PARTIAL_MARKER).touch()


def publish(staging: Path, output: Path, *, overwrite: bool) -> None:
    """Move a finished artifact into place. The old one is replaced only once the new one is complete."""
    output.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if output.exists():
        check_output_dir(output, overwrite)
        backup = output.with_name(f".{output.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(output, backup)
    try:
        os.replace(staging, output)
    except OSError:
        if backup is not None:
            os.replace(backup, output)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
