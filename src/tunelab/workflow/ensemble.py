"""`tunelab ensemble`: one artifact made of several trained artifacts of one task and labels.

The members are checked (task, labels, the task's state, one shared tokenizer), copied into
``<out>/members/<i>`` (so the ensemble is self-contained and can be moved), and described in
``<out>/tunelab.json`` (kind "ensemble", the combine mode, the weights). The work happens in a
hidden directory next to ``<out>``, published with a rename; an existing ``<out>`` is refused up
front unless ``overwrite``.

With dev data every member's outputs are computed once and kept (dev sets are small), then scored
alone and combined: for ``weighted``, every weight vector of a grid on the simplex (steps of 1/20
for 2-3 members, coarser for more, the uniform weights and each member alone included) is scored
and the best dev metric wins (ties: the weights nearest to uniform). The dev metric is not smooth
(accuracy, F1), so a grid is as good as an optimiser here and its result is easy to state; it
holds each member alone, so the tuned ensemble is never below its best member on that dev set.
"""

from __future__ import annotations

import copy
import itertools
import math
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.artifact import (
    ENSEMBLE_KIND,
    ArtifactError,
    ArtifactMeta,
    artifact_path,
    check_output_dir,
    file_sha256,
    is_ensemble,
    library_versions,
    portable_path,
    publish,
    read_meta,
    relocate,
    write_meta,
)
from tunelab.errors import ConfigError
from tunelab.files import write_json
from tunelab.inference.ensemble import COMBINE_MODES, MEMBERS_DIR

GRID_POINTS = 250  # at most this many weight vectors are scored
GRID_STEPS = 20  # the finest grid: weights in steps of 1/20
# The files that define what a tokenizer does; tokenizer_config.json is compared without the keys
# that say only where it was loaded from.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "special_tokens_map.json",
    "added_tokens.json",
)
TOKENIZER_CONFIG_IGNORED = {"name_or_path", "is_local", "local_files_only", "model_max_length", "_commit_hash"}


@dataclass
class EnsembleResult:
    output: Path
    meta: ArtifactMeta
    metric: str | None = None
    dev: Path | None = None
    rows: list[tuple[str, float | None, float | None]] = field(default_factory=list)  # name, weight, dev metric
    notes: list[str] = field(default_factory=list)


# -- checks --------------------------------------------------------------------------------------
def tokenizer_dir(path: Path, meta: ArtifactMeta) -> Path:
    """Where an artifact's tokenizer lies (an ensemble's: its first member's)."""
    if is_ensemble(meta):
        first = path / meta["ensemble"]["members"][0]["path"]
        return tokenizer_dir(first, read_meta(first))
    return path


def tokenizer_fingerprint(directory: Path) -> dict[str, Any]:
    import hashlib
    import json

    facts: dict[str, Any] = {}
    for name in TOKENIZER_FILES:
        if (directory / name).is_file():
            facts[name] = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    config = directory / "tokenizer_config.json"
    if config.is_file():
        try:
            values = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            values = {"unreadable": config.read_bytes().hex()}
        if isinstance(values, dict):
            facts["tokenizer_config.json"] = {k: v for k, v in values.items() if k not in TOKENIZER_CONFIG_IGNORED}
    return facts


def check_members(paths: Sequence[Path], metas: Sequence[ArtifactMeta], combine: str) -> list[str]:
    """Refuse members that cannot be combined, with a message naming the member and what differs;
    returns notes (e.g. different max lengths: the shortest is used)."""
    from tunelab.tasks import task_class

    first, ref = paths[0], metas[0]
    for path, meta in zip(paths[1:], metas[1:]):
        if meta.task.name != ref.task.name:
            raise ConfigError(
                f"{path} is a {meta.task.name} model but {first} a {ref.task.name} model; "
                "an ensemble combines models of one task"
            )
        if set(meta.labels) != set(ref.labels):
            missing, extra = sorted(set(ref.labels) - set(meta.labels)), sorted(set(meta.labels) - set(ref.labels))
            raise ConfigError(
                f"{path} was trained on other labels than {first} (missing: {missing or 'none'}, "
                f"extra: {extra or 'none'}); an ensemble combines models of the same labels"
            )
        if list(meta.labels) != list(ref.labels):
            raise ConfigError(
                f"{path} has the labels of {first} in another order ({meta.labels} vs {ref.labels}); "
                "retrain it with task.labels in the same order"
            )
        state, ref_state = meta.task.state, ref.task.state
        for key in sorted(set(state) | set(ref_state)):
            if state.get(key) != ref_state.get(key):
                raise ConfigError(
                    f"{path} differs from {first} in the task's '{key}' ({state.get(key)!r} vs "
                    f"{ref_state.get(key)!r}); an ensemble combines models that read and decode alike"
                )
    modes = task_class(ref.task.name).combine_modes
    if combine not in modes:
        raise ConfigError(f"--combine {combine}: a {ref.task.name} model combines by {', '.join(modes)}")
    ref_tokenizer = tokenizer_fingerprint(tokenizer_dir(first, ref))
    for path, meta in zip(paths[1:], metas[1:]):
        tokenizer = tokenizer_fingerprint(tokenizer_dir(path, meta))
        if tokenizer != ref_tokenizer:
            differing = sorted(
                k for k in set(tokenizer) | set(ref_tokenizer) if tokenizer.get(k) != ref_tokenizer.get(k)
            )
            raise ConfigError(
                f"{path} has another tokenizer than {first} ({', '.join(differing)} differ); the members of an "
                "ensemble share one tokenizer (e.g. several seeds or methods on one base model)"
            )
    lengths = [int(meta.model.max_length) for meta in metas]
    if len(set(lengths)) > 1:
        return [f"the members' max lengths differ ({lengths}); the ensemble cuts inputs at {min(lengths)} tokens"]
    return []


def check_paths(members: Sequence[Path], output: Path, overwrite: bool) -> None:
    if len(members) < 2:
        raise ConfigError(f"an ensemble needs at least 2 artifacts; got {len(members)}")
    resolved = [m.resolve() for m in members]
    for member, where in zip(members, resolved):
        if resolved.count(where) > 1:
            raise ConfigError(f"{member} is given more than once; an ensemble's members are different artifacts")
        if where == output.resolve() or where.is_relative_to(output.resolve()):
            raise ArtifactError(f"-o {output} holds the member {member}; replacing it would delete the member")
        if output.resolve().is_relative_to(where):
            raise ArtifactError(f"-o {output} is inside the member {member}; choose a directory outside the members")
    check_output_dir(output, overwrite)


# -- building ------------------------------------------------------------------------------------
def build_ensemble(
    members: Sequence[str | Path],
    output: str | Path,
    *,
    combine: str = "mean",
    dev: str | Path | None = None,
    overwrite: bool = False,
    batch_size: int = 64,
    device: str | None = None,
    log: Any = None,
) -> EnsembleResult:
    """Build the ensemble of ``members`` in ``output`` (see the module's docstring); with ``dev`` (a
    labelled file, read as the first member reads files) the members and the ensemble are scored on
    it, and ``combine="weighted"`` tunes the weights there."""
    log = log or (lambda message: None)
    paths, output = [Path(m) for m in members], Path(output)
    if combine not in COMBINE_MODES:
        raise ConfigError(f"--combine {combine!r} is unknown; choose one of {', '.join(COMBINE_MODES)}")
    if combine == "weighted" and dev is None:
        raise ConfigError("--combine weighted tunes the weights on dev data: give --dev FILE (a labelled file)")
    if dev is not None and not Path(dev).is_file():
        raise ConfigError(f"--dev {dev}: no such file")
    check_paths(paths, output, overwrite)
    metas = [read_meta(p) for p in paths]
    notes = check_members(paths, metas, combine)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.ensemble-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        for i, path in enumerate(paths):
            log(f"copying member {i}: {path}")
            target = Path(MEMBERS_DIR) / str(i)
            shutil.copytree(path, staging / target)
            _relocate_copy(path, staging / target, output / target)
        meta = ensemble_meta(paths, metas, output, combine)
        write_meta(meta, staging)
        result = EnsembleResult(output, meta, notes=notes)
        if dev is not None:
            meta = score_on_dev(staging, meta, Path(dev), output, batch_size=batch_size, device=device, result=result)
            write_meta(meta, staging)
            write_json(dev_report(meta), staging / "report.json")  # what `tunelab compare` reads
            result.meta = meta
        publish(staging, output, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def _relocate_copy(source: Path, copy_dir: Path, final: Path) -> None:
    """The copy's tunelab.json with its recorded paths relative to where it will be published
    (recursively for an ensemble's members)."""
    meta = read_meta(copy_dir)
    moved = relocate(meta, source, final)
    if is_ensemble(meta) and isinstance((meta["ensemble"].get("dev") or {}).get("file"), str):
        recorded = meta["ensemble"]["dev"]["file"]
        if not Path(recorded).is_absolute():
            ensemble = {**meta["ensemble"], "dev": {**meta["ensemble"]["dev"]}}
            ensemble["dev"]["file"] = portable_path(artifact_path(recorded, source), final)
            moved = ArtifactMeta.model_validate({**moved.to_json(), "ensemble": ensemble})
    write_meta(moved, copy_dir)
    if is_ensemble(meta):
        for member in meta["ensemble"]["members"]:
            _relocate_copy(source / member["path"], copy_dir / member["path"], final / member["path"])


def ensemble_meta(paths: Sequence[Path], metas: Sequence[ArtifactMeta], output: Path, combine: str) -> ArtifactMeta:
    """tunelab.json of the ensemble: the first member's task, labels, model facts and data reading
    (later files are read as it read them), relocated to ``output``; the members and weights."""
    first = relocate(metas[0], paths[0], output)
    sizes = [m.method.weights_bytes for m in metas]
    params = [m.model.num_parameters for m in metas]
    raw = first.to_json()
    raw.update(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        kind=ENSEMBLE_KIND,
        model={
            **raw["model"],
            "max_length": min(int(m.model.max_length) for m in metas),
            "num_parameters": sum(params) if all(p is not None for p in params) else None,
        },
        method={
            "name": ENSEMBLE_KIND,
            "config": {"name": ENSEMBLE_KIND, "combine": combine},
            "stored": ENSEMBLE_KIND,
            "parameters": {"members": len(metas)},
            "weights_bytes": sum(s or 0 for s in sizes) if all(s is not None for s in sizes) else None,
        },
        training={},
        metrics={},
        evaluated_on=None,
        versions=library_versions(),
        export=None,
        ensemble={
            "combine": combine,
            "weights": [1.0 / len(metas)] * len(metas),
            "members": [member_entry(i, path, meta) for i, (path, meta) in enumerate(zip(paths, metas))],
            "dev": None,
        },
    )
    return ArtifactMeta.model_validate(raw)


def member_entry(i: int, path: Path, meta: ArtifactMeta) -> dict[str, Any]:
    from tunelab.tasks import task_class

    training = meta.config.get("training") or {}
    metric = training.get("metric") or task_class(meta.task.name).default_metric
    return {
        "path": f"{MEMBERS_DIR}/{i}",
        "name": path.resolve().name,
        "base_model": meta.model.base,
        "method": meta.method.name,
        "seed": training.get("seed"),
        "max_length": int(meta.model.max_length),
        "metrics": {metric: meta.metrics[metric]} if isinstance(meta.metrics.get(metric), (int, float)) else {},
    }


# -- dev data --------------------------------------------------------------------------------------
def score_on_dev(
    staging: Path,
    meta: ArtifactMeta,
    dev: Path,
    output: Path,
    *,
    batch_size: int,
    device: str | None,
    result: EnsembleResult,
) -> ArtifactMeta:
    """Score each member and the ensemble on ``dev`` (tuning the weights for ``weighted``); the
    returned meta records the weights, the scores and the ensemble's metrics."""
    from tunelab.inference.predictor import Predictor

    predictor = Predictor.from_artifact(staging, meta=meta, batch_size=batch_size, device=device)
    task, runner = predictor.task, predictor.backend
    examples = task.read_file(dev, predictor.meta)
    task.check_known(examples, "--dev data")
    if not examples:
        raise ConfigError(f"--dev {dev} holds no examples")
    encoded = predictor.encode(examples)
    collecting = copy.copy(predictor)
    collecting.backend = runner.member_outputs  # the Predictor's batches, each member's outputs kept
    cache = list(collecting.batches(encoded))
    metric = (meta.config.get("training") or {}).get("metric") or task.default_metric
    direction = task.metric_directions.get(metric, "max")

    def score(outputs_of) -> dict[str, Any]:
        scorer = task.scorer(encoded)
        for indices, outputs in cache:
            scorer.add(indices, task.decode_batch(encoded, indices, outputs_of(outputs)))
        return scorer.result()

    n = len(runner.members)
    members = [score(lambda outputs, i=i: outputs[i])[metric] for i in range(n)]
    combine = meta["ensemble"]["combine"]
    weights = list(runner.weights)
    search = None
    if combine == "weighted":
        weights, search = tune_weights(n, lambda w: score(lambda o: runner.combine_outputs(o, w))[metric], direction)
    metrics = score(lambda outputs: runner.combine_outputs(outputs, weights))
    names = [m["name"] for m in meta["ensemble"]["members"]]
    result.metric, result.dev = metric, dev
    result.rows = [(name, w, float(v)) for name, w, v in zip(names, weights, members)]
    result.rows.append((f"ensemble ({combine})", None, float(metrics[metric])))
    dev_file = portable_path(dev, output)
    sha = file_sha256(dev)
    ensemble = {
        **meta["ensemble"],
        "weights": [float(w) for w in weights],
        "dev": {
            "file": dev_file,
            "sha256": sha,
            "num_examples": len(examples),
            "metric": metric,
            "members": [float(v) for v in members],
            "ensemble": float(metrics[metric]),
            **({"search": search} if search else {}),
        },
    }
    raw = meta.to_json()
    raw.update(
        ensemble=ensemble,
        metrics=metrics,
        evaluated_on={"split": "file", "file": dev_file, "sha256": sha, "num_examples": len(examples)},
    )
    return ArtifactMeta.model_validate(raw)


def dev_report(meta: ArtifactMeta) -> dict[str, Any]:
    """report.json of an ensemble scored on --dev: its metrics as the "dev" split, the members' scores."""
    return {
        "task": meta.task.name,
        "labels": list(meta.labels),
        "splits": {"dev": meta.metrics},
        "metrics": meta.metrics,
        "evaluated_on": meta.evaluated_on,
        "ensemble": meta["ensemble"]["dev"],
    }


def simplex_grid(n: int, steps: int) -> list[tuple[float, ...]]:
    """Every weight vector of ``n`` non-negative multiples of 1/steps summing to 1 (stars and bars)."""
    points = []
    for bars in itertools.combinations(range(steps + n - 1), n - 1):
        edges = (-1, *bars, steps + n - 1)
        points.append(tuple((edges[k + 1] - edges[k] - 1) / steps for k in range(n)))
    return points


def grid_steps(n: int) -> int:
    return next((s for s in range(GRID_STEPS, 0, -1) if math.comb(s + n - 1, n - 1) <= GRID_POINTS), 1)


def tune_weights(n: int, metric_of: Any, direction: str) -> tuple[list[float], dict[str, Any]]:
    """The weights of the grid with the best dev metric (``metric_of(weights)``); ties go to the
    weights nearest to uniform."""
    steps = grid_steps(n)
    uniform = np.full(n, 1.0 / n)
    points = simplex_grid(n, steps)
    if not any(np.allclose(p, uniform) for p in points):
        points.append(tuple(uniform))
    sign = 1.0 if direction == "max" else -1.0
    best: tuple[float, float] | None = None
    chosen: tuple[float, ...] = points[0]
    for point in points:
        key = (sign * float(metric_of(point)), -float(np.linalg.norm(np.asarray(point) - uniform)))
        if best is None or key > best:
            best, chosen = key, point
    return [float(w) for w in chosen], {"points": len(points), "step": 1.0 / steps}


def summary(result: EnsembleResult) -> Any:
    """The table `tunelab ensemble` prints after building with dev data: each member and the ensemble."""
    from rich.table import Table

    where = f" on {result.dev.name}" if result.dev is not None else ""
    table = Table("model", "weight", result.metric or "metric", title=f"{result.metric}{where}")
    for name, weight, value in result.rows:
        table.add_row(name, "" if weight is None else f"{weight:.3f}", "" if value is None else f"{value:.4f}")
    return table
