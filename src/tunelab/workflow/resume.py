"""The run's scratch directory (``<out>.partial``) and what makes resuming it safe.

A new run writes ``run.json`` there: its whole config and a fingerprint of every data split (the
file's sha256 and the examples read from it). ``--resume`` compares the current config and data
with that record before anything is loaded and refuses a mismatch with a list of what changed:

- keys that change nothing the checkpoint holds (threads, logging, checkpoint cadence, output,
  data file *paths* — their contents are compared instead) are never checked;
- keys a user may change on purpose mid-run (more epochs, the evaluation cadence, early stopping,
  precision, gradient checkpointing, clipping, adversarial training, R-Drop, label smoothing, another
  EMA decay) need ``--allow-changes``;
- everything else (the model, the method, the task, the batches, the learning rate, layer decay, EMA
  on or off, the data) makes the checkpoint meaningless: refused even with ``--allow-changes``.

A new run never deletes a resumable checkpoint: the user says ``--resume`` or ``--restart``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tunelab.artifact import PARTIAL_MARKER, ArtifactError, on_main_process
from tunelab.config import flatten
from tunelab.config_augment import AugmentConfig
from tunelab.config_training import AdversarialConfig, ContrastiveConfig, TrainingConfig
from tunelab.files import write_json
from tunelab.training.checkpoints import newest_checkpoint

RUN_FILE = "run.json"
IGNORED = (
    "training.num_threads",
    "training.log_every",
    "training.tensorboard",
    "training.trackers",
    "training.tracking.",
    "training.eval_batch_size",
    "training.checkpoint.",
    "output.",
    "tune.",  # `tunelab tune`'s search settings: not a training setting
    "model.allow_download",
    "data.train",
    "data.dev",
    "data.test",
    # fitted after training on the saved model (docs/out-of-scope.md): nothing of them is in a checkpoint
    "task.out_of_scope.",
    "task.calibration",
)
ADJUSTABLE = (
    "training.epochs",
    "training.eval_steps",
    "training.metric",
    "training.early_stopping.",
    "training.precision",
    "training.gradient_checkpointing",
    "training.max_grad_norm",
    "training.lazy_embeddings",
    "training.fast_dropout",
    # training techniques that change only the loss of later steps (the checkpoint holds nothing of them)
    "training.adversarial.",
    "training.rdrop",
    "training.label_smoothing",
)
# Keys added after earlier releases wrote their run.json: absent there and at their default here
# is no change (a run started by the previous release resumes without --allow-changes).
ADDED = {
    key: TrainingConfig.model_fields[key.removeprefix("training.")].default
    for key in (
        "training.lazy_embeddings",
        "training.fast_dropout",
        "training.rdrop",
        "training.ema",
        "training.layer_decay",
        "training.label_smoothing",
    )
}
ADDED.update({f"training.adversarial.{k}": v for k, v in AdversarialConfig().model_dump().items()})
ADDED.update({f"augment.{k}": v for k, v in AugmentConfig().model_dump(mode="json").items()})  # not resumable
ADDED["method.learning_rate"] = None  # full fine-tuning's (the other methods' is filled in by train)
# few-shot strategies: a run recorded before them trained the standard way, which recorded_strategy keeps
ADDED["training.strategy"] = TrainingConfig.model_fields["strategy"].default
ADDED.update({f"training.contrastive.{k}": v for k, v in ContrastiveConfig().model_dump().items()})
ADDED["task.zero_shot"] = None  # text classification from label names (off)
ADDED["data.unlabelled"] = None  # self-training texts of a zero-shot classifier (none)
ADDED["model.config_overrides"] = {}


def _ema_decay_change(key: str, old: Any, new: Any) -> bool:
    """training.ema: another decay continues the checkpoint's average; switching it on or off does
    not (the checkpoint has no average to load, or one this run would not load)."""
    return key == "training.ema" and old not in (None, "(unset)") and new not in (None, "(unset)")


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    return any(key == p or (p.endswith(".") and key.startswith(p)) for p in patterns)


def run_record(config: dict[str, Any], data: dict[str, dict[str, Any]], processes: int = 1) -> dict[str, Any]:
    """What ``run.json`` holds: the config as used, per split ``{file, sha256, examples, fingerprint}``,
    and the number of processes (each has its own RNG state and share of the batches in a checkpoint)."""
    return {
        "config": config,
        "data": data,
        "processes": processes,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def compare(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changes that ``--allow-changes`` permits, changes that make resuming impossible), each a
    ``key: old -> new`` line."""
    adjustable: list[str] = []
    fixed: list[str] = []
    before, after = flatten(old.get("config", {})), flatten(new.get("config", {}))
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, "(unset)"), after.get(key, "(unset)")
        if a == b or _matches(key, IGNORED) or (key not in before and key in ADDED and b == ADDED[key]):
            continue
        (adjustable if _matches(key, ADJUSTABLE) or _ema_decay_change(key, a, b) else fixed).append(
            f"{key}: {a!r} -> {b!r}"
        )
    if old.get("processes", 1) != new.get("processes", 1):
        fixed.append(
            f"processes: {old.get('processes', 1)} -> {new.get('processes', 1)} (resume with the same launcher command)"
        )
    old_data, new_data = old.get("data", {}), new.get("data", {})
    for split in sorted(set(old_data) | set(new_data)):
        a, b = old_data.get(split), new_data.get(split)
        if a is None or b is None:
            fixed.append(
                f"data ({split}): {'none' if a is None else 'present'} -> {'none' if b is None else 'present'}"
            )
        elif a.get("sha256") != b.get("sha256") and a.get("sha256") and b.get("sha256"):
            fixed.append(
                f"data ({split}): file {b.get('file')} has other contents than at the start of the run "
                f"(sha256 {str(a['sha256'])[:12]}… -> {str(b['sha256'])[:12]}…)"
            )
        elif a.get("fingerprint") != b.get("fingerprint"):
            fixed.append(
                f"data ({split}): other examples than at the start of the run "
                f"({a.get('examples')} -> {b.get('examples')} examples)"
            )
    return adjustable, fixed


def open_workdir(
    workdir: Path, record: dict[str, Any], *, resume: bool, restart: bool = False, allow_changes: bool = False
) -> list[str]:
    """Prepare ``workdir`` for a new run or check it for a resume; returns the permitted changes
    a resume goes on with. On the main process of a distributed run, refusals raised everywhere."""
    return on_main_process(_open_workdir, workdir, record, resume=resume, restart=restart, allow_changes=allow_changes)


def _open_workdir(
    workdir: Path, record: dict[str, Any], *, resume: bool, restart: bool, allow_changes: bool
) -> list[str]:
    import shutil

    if workdir.exists() and not (workdir / PARTIAL_MARKER).exists():
        raise ArtifactError(f"{workdir} exists and was not made by tunelab; move it away")
    newest = newest_checkpoint(workdir / "checkpoints") if workdir.exists() else None
    if resume:
        if not workdir.exists():
            raise ArtifactError(f"nothing to resume: no interrupted run at {workdir}")
        if newest is None:
            raise ArtifactError(
                f"nothing to resume: the run at {workdir} stopped before its first checkpoint; "
                "run the same command without --resume to start it again"
            )
        return _check_resume(workdir, record, allow_changes)
    if workdir.exists():
        if newest is not None and not restart:
            raise ArtifactError(
                f"an interrupted run can be resumed from {newest.path} (step {newest.step}); add --resume "
                "to continue it, or --restart to delete it and start over"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / PARTIAL_MARKER).touch()
    write_json(record, workdir / RUN_FILE)
    return []


def recorded_strategy(workdir: Path) -> str | None:
    """The strategy (training.strategy resolved) of the interrupted run in ``workdir``, which a
    resume keeps whatever ``auto`` would pick now; "standard" for a run recorded before strategies
    existed; None when there is no readable record (open_workdir says what is wrong)."""
    try:
        old = json.loads((workdir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(old.get("strategy") or "standard") if isinstance(old, dict) else None


def remember_run(workdir: Path, record: dict[str, Any]) -> None:
    """After a resume has loaded its checkpoint: the next resume compares with what this one uses."""
    on_main_process(write_json, record, workdir / RUN_FILE)


def _check_resume(workdir: Path, record: dict[str, Any], allow_changes: bool) -> list[str]:
    path = workdir / RUN_FILE
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        # a run started by tunelab < 0.3 kept no record: nothing to compare, say so
        return ["(no record of the interrupted run's config and data: they could not be compared)"]
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{path} is damaged ({err}); resume is not safe. Start over with --restart") from None
    adjustable, fixed = compare(old, record)
    if fixed:
        raise ArtifactError(
            "cannot resume: the config or data differ from the interrupted run's in ways its checkpoint "
            "cannot follow:\n  "
            + "\n  ".join(fixed + adjustable)
            + "\nUndo these changes, or start over with --restart"
        )
    if adjustable and not allow_changes:
        raise ArtifactError(
            "the config differs from the interrupted run's:\n  "
            + "\n  ".join(adjustable)
            + "\nAdd --allow-changes to resume with these changes, or undo them"
        )
    return adjustable
