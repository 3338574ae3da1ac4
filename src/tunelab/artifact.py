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
from collections.abc import Callable, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunelab.errors import TunelabError
from tunelab.files import write_json

META_FILE = "tunelab.json"
# 1: wave 1 (data facts at the top of "data"); 2: typed, the task's reading facts in data.reading,
# the carved dev split referenced by its lines in the training file.
FORMAT_VERSION = 2
PARTIAL_MARKER = ".tunelab-partial"


class ArtifactError(TunelabError):
    pass


# `tunelab tune`'s output directory: the study's files and best/, a copy of the best trial's artifact
TUNE_FILE = "tune.json"
TUNE_BEST_DIR = "best"


def resolve_artifact_dir(path: str | os.PathLike[str]) -> Path:
    """The artifact a directory stands for: itself, or for a `tunelab tune` output (``tune.json`` and
    ``best/``, no ``tunelab.json`` of its own) the best trial's copy in ``best/``."""
    path = Path(path)
    best = path / TUNE_BEST_DIR
    if not (path / META_FILE).exists() and (path / TUNE_FILE).is_file() and (best / META_FILE).is_file():
        return best
    return path


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


class _Meta(BaseModel):
    # Unknown keys are kept: a file written by a newer minor release round-trips.
    model_config = ConfigDict(extra="allow", protected_namespaces=(), validate_assignment=True)

    # Read access by key, as for the plain dict `TrainResult.meta` was: meta["training"]["history"].
    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields or key in (self.model_extra or {}):
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in type(self).model_fields or key in (self.model_extra or {}))


class TaskMeta(_Meta):
    name: str
    config: dict[str, Any] = Field(default_factory=dict)  # the task section, as validated
    state: dict[str, Any] = Field(default_factory=dict)  # what the task needs to rebuild itself (its own part)


class ModelMeta(_Meta):
    base: str
    source: str | None = None
    path: str | None = None
    architecture: str | None = None
    auto_class: str | None = None
    head: str = "transformers"
    licence: str | None = None
    licence_files: list[str] = Field(default_factory=list)
    max_length: int
    num_parameters: int | None = None
    head_modules: list[str] = Field(default_factory=list)


class MethodMeta(_Meta):
    name: str = "full"
    config: dict[str, Any] = Field(default_factory=lambda: {"name": "full"})
    stored: str = "full_model"  # or "trained_weights": the base model is rebuilt from ModelMeta
    parameters: dict[str, Any] = Field(default_factory=dict)
    weights_bytes: int | None = None


class FileRef(_Meta):
    path: str
    sha256: str | None = None


class DataMeta(_Meta):
    reading: dict[str, Any] = Field(default_factory=dict)  # the task's: columns, format, header, tag scheme
    files: dict[str, FileRef] = Field(default_factory=dict)
    dev_source: str | None = None  # file | split | none
    test_source: str | None = None
    dev_lines: list[int] | None = None  # carved dev split: its examples' lines in the training file
    counts: dict[str, int] = Field(default_factory=dict)
    truncated: dict[str, int] = Field(default_factory=dict)
    fingerprint: dict[str, str] = Field(default_factory=dict)
    augmented: dict[str, int] = Field(default_factory=dict)  # augment: training examples added per op (not in counts)


class ArtifactMeta(_Meta):
    """``tunelab.json``: read and written here only (:func:`read_meta`, :func:`write_meta`)."""

    format_version: int = FORMAT_VERSION
    created: str | None = None
    task: TaskMeta
    labels: list[str] = Field(default_factory=list)
    model: ModelMeta
    method: MethodMeta = Field(default_factory=MethodMeta)
    data: DataMeta = Field(default_factory=DataMeta)
    config: dict[str, Any] = Field(default_factory=dict)  # the whole run config
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    evaluated_on: dict[str, Any] | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    export: dict[str, Any] | None = None

    @property
    def data_config(self) -> dict[str, Any]:
        return dict(self.config.get("data") or {})

    @property
    def model_config_section(self) -> dict[str, Any]:
        return dict(self.config.get("model") or {})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)


def _upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2: the task's reading facts move under data.reading; data keys another task
    owns (format 1 kept them all in one section) leave the stored config."""
    version = raw.get("format_version", 1)
    if version < 2:
        data = dict(raw.get("data") or {})
        reading = {key: data.pop(key) for key in ("columns", "format", "header", "tag_scheme") if key in data}
        raw = {**raw, "data": {**data, "reading": reading}, "format_version": 2}
        # format 1 did not say whether the model reads pairs; its training data's columns do
        columns = reading.get("columns") or {}
        task = dict(raw.get("task") or {})
        task["state"] = {"pairs": bool(columns.get("text_pair")), **(task.get("state") or {})}
        raw["task"] = task
        task_name = (raw.get("task") or {}).get("name")
        config = dict(raw.get("config") or {})
        if task_name and isinstance(config.get("data"), dict):
            from tunelab.config import task_sections

            known = task_sections(task_name)[1].model_fields
            config["data"] = {k: v for k, v in config["data"].items() if k in known}
            raw["config"] = config
    return raw


def read_meta(path: str | Path) -> ArtifactMeta:
    path = Path(path)
    meta_path = path / META_FILE
    if not path.exists():
        raise ArtifactError(f"artifact not found: {path}")
    if not meta_path.is_file() and (path / TUNE_FILE).is_file():
        raise ArtifactError(
            f"{path} is a `tunelab tune` output; its best trial's artifact is {path / TUNE_BEST_DIR}"
            + ("" if (path / TUNE_BEST_DIR / META_FILE).is_file() else " (none finished yet)")
        )
    if not meta_path.is_file():
        raise ArtifactError(f"{path} is not a tunelab artifact (no {META_FILE}); train one with `tunelab train`")
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{meta_path} is not readable JSON ({exc}); the artifact is damaged") from None
    if not isinstance(raw, dict):
        raise ArtifactError(f"{meta_path} does not hold a JSON object; the artifact is damaged")
    if not isinstance(raw.get("format_version", 1), int):
        raise ArtifactError(f"{meta_path}: format_version is not a number; the artifact is damaged")
    if raw.get("format_version", 0) > FORMAT_VERSION:
        raise ArtifactError(f"{path} was written by a newer tunelab (format {raw['format_version']}); upgrade tunelab")
    try:
        return ArtifactMeta.model_validate(_upgrade(raw))
    except (TypeError, AttributeError, ValueError, KeyError, TunelabError) as err:  # ValidationError is a ValueError
        if isinstance(err, ValidationError):
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:5])
        else:  # a part of the wrong type ({"task": 3}) breaks the upgrade before validation
            problems = f"{type(err).__name__}: {err}"
        raise ArtifactError(f"{meta_path} is not a valid tunelab.json ({problems}); the artifact is damaged") from None


def portable_path(path: str | os.PathLike[str], artifact_dir: str | os.PathLike[str]) -> str:
    """A path as an artifact records it: relative to the artifact's own directory, so no file of an
    artifact holds an absolute path of the machine that trained it, and an artifact moved together
    with its data still finds it. (A path on another Windows drive keeps only its file name.)"""
    try:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(artifact_dir))
    except ValueError:
        return Path(path).name


def artifact_path(recorded: str | os.PathLike[str], artifact_dir: str | os.PathLike[str]) -> Path:
    """Where a path an artifact recorded points: relative ones (since format 2's portable paths)
    from the artifact's directory; absolute ones (older artifacts) as they are."""
    path = Path(recorded)
    return path if path.is_absolute() else Path(os.path.normpath(Path(artifact_dir).absolute() / path))


def relocate(meta: ArtifactMeta, source: str | os.PathLike[str], target: str | os.PathLike[str]) -> ArtifactMeta:
    """``meta`` of the artifact in ``source`` as an artifact in ``target`` (an export) records it:
    every relative path it holds made relative to ``target``."""

    def moved(recorded: str) -> str:
        return recorded if Path(recorded).is_absolute() else portable_path(artifact_path(recorded, source), target)

    data = meta.data.model_copy(
        update={
            "files": {name: ref.model_copy(update={"path": moved(ref.path)}) for name, ref in meta.data.files.items()}
        }
    )
    config = json.loads(json.dumps(meta.config))
    for split in ("train", "dev", "test"):
        if isinstance(config.get("data"), dict) and config["data"].get(split):
            config["data"][split] = moved(str(config["data"][split]))
    model = meta.model
    if model.source == "local":
        model = model.model_copy(update={"base": moved(model.base), "path": moved(model.path) if model.path else None})
        if isinstance(config.get("model"), dict) and config["model"].get("name"):
            config["model"]["name"] = moved(str(config["model"]["name"]))
    return meta.model_copy(update={"data": data, "config": config, "model": model})


def write_meta(meta: ArtifactMeta, directory: str | Path) -> Path:
    return write_json(meta.to_json(), Path(directory) / META_FILE)


# `tunelab ensemble`: tunelab.json says kind "ensemble" (method.stored "ensemble" too, so nothing
# looks for weights at the top); the members' artifacts lie in members/0, members/1, ...
ENSEMBLE_KIND = "ensemble"


def is_ensemble(meta: ArtifactMeta) -> bool:
    return meta.get("kind") == ENSEMBLE_KIND


def check_output_dir(output: Path, overwrite: bool) -> None:
    """Refuse before any work starts, so a long run never ends in 'directory exists'."""
    if not output.exists():
        return
    if not output.is_dir():
        raise ArtifactError(f"output {output} exists and is not a directory")
    if not overwrite:
        raise ArtifactError(
            f"output directory {output} already exists; pass --overwrite to replace it or choose another -o"
        )
    if any(output.iterdir()) and not (output / META_FILE).is_file():
        raise ArtifactError(
            f"refusing to overwrite {output}: it is not empty and not a tunelab artifact (no {META_FILE})"
        )


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
