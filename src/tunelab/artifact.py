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
from typing import Any, Callable, Sequence

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
    """The run's scratch space beside the output: checkpoints, logs and the artifact being built.

    In a distributed run the main process prepares it while the others wait, and a refusal
    (nothing to resume, a foreign directory) is raised on every process."""
    on_main_process(_prepare_workdir, workdir, resume=resume)


def _prepare_workdir(workdir: Path, *, resume: bool) -> None:
    if workdir.exists():
        if not (workdir / _PARTIAL_MARKER).exists():
            raise ArtifactError(f"{workdir} exists and was not made by tunelab; move it away")
        if not resume:
            shutil.rmtree(workdir)
    elif resume:
        raise ArtifactError(f"nothing to resume: no interrupted run at {workdir}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / _PARTIAL_MARKER).touch()


def on_main_process(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on the main process of a distributed run (`torchrun`, `accelerate launch`) while
    the others wait; its result is handed to every process, and when it fails every process raises
    (the others an ArtifactError with the same message). Without a process group it simply
    calls ``fn``. The result travels pickled: keep it small."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return fn(*args, **kwargs)
    box: list[Any] = [None]
    error: BaseException | None = None
    if dist.get_rank() == 0:
        try:
            box[0] = ("ok", fn(*args, **kwargs))
        except Exception as err:  # the others must not wait forever for a main process that failed
            error = err
            box[0] = ("error", str(err) if isinstance(err, TunelabError) else f"{type(err).__name__}: {err}")
    dist.broadcast_object_list(box, src=0)  # also the barrier: the others wait here for the main process
    kind, value = box[0]
    if error is not None:
        raise error
    if kind == "error":
        raise ArtifactError(value)  # the main process raises (and reports) the original error
    return value


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
