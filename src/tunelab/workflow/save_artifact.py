"""The saved artifact of a run (split from workflow/train.py): the model, tokenizer, licences and
``tunelab.json`` written to the staging directory, the task's state fitted on the saved model
(``Task.fit_after_training``), and the report scored by reloading it through the Predictor."""

from __future__ import annotations

import json
import resource
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.artifact import (
    ArtifactMeta,
    MethodMeta,
    ModelMeta,
    TaskMeta,
    library_versions,
    portable_path,
    relocate,
    write_meta,
)
from tunelab.config import TunelabConfig
from tunelab.files import write_json
from tunelab.inference.predictor import Predictor
from tunelab.models.heads import HEAD_CLASSES
from tunelab.models.resolve import ResolvedModel
from tunelab.training.loop import Trainer
from tunelab.workflow.card import write_model_card
from tunelab.workflow.report import build_report, write_report_files
from tunelab.workflow.train_data import data_meta, data_record

if TYPE_CHECKING:
    from tunelab.workflow.train import BuiltModel, PreparedData


def save_artifact(
    config: TunelabConfig,
    prepared: PreparedData,
    built: BuiltModel,
    trainer: Trainer,
    train_seconds: float,
    staging: Path,
    output: Path,
    data: dict[str, dict[str, Any]] | None = None,
) -> ArtifactMeta:
    """The trained model, tokenizer, licence files, logs and ``tunelab.json`` in ``staging`` (to be
    published as ``output``: recorded paths are relative to it, so no file holds an absolute path).
    ``data``: the run's data record (:func:`data_record`), whose hashes are not computed again."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    state, task, resolved, method = trainer.state, prepared.task, prepared.resolved, built.method
    local = resolved.source == "local"
    method.save(trainer.accelerator.unwrap_model(trainer.model), staging)
    base_name = portable_path(resolved.path, output) if local else resolved.name
    _name_base_model(staging, base_name)
    artifact_bytes = sum(f.stat().st_size for f in staging.iterdir() if f.is_file())
    prepared.tokenizer.save_pretrained(staging)
    for licence_file in resolved.licence_files:  # e.g. the Gemma Terms of Use travel with the model
        shutil.copy2(licence_file, staging / Path(licence_file).name)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    meta = ArtifactMeta(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        task=TaskMeta(name=task.name, config=config.task.model_dump(mode="json"), state=task.state()),
        labels=task.labels,
        model=ModelMeta(
            # a local directory is recorded relative to the artifact; packaged and hub models by name
            base=base_name,
            source=resolved.source,
            path=base_name if local else None,
            architecture=type(built.base).__name__,
            auto_class=auto_class_name(task, built.base),
            head="tunelab" if isinstance(built.base, TUNELAB_HEADS) else "transformers",
            licence=resolved.licence or None,
            licence_files=[Path(f).name for f in resolved.licence_files],
            max_length=prepared.max_length,
            num_parameters=built.total_parameters,
            head_modules=built.head,
        ),
        method=MethodMeta(
            **method.state(),
            stored="full_model" if method.stores_full_model or method.merge else "trained_weights",
            parameters=built.params,
            weights_bytes=artifact_bytes,
        ),
        data=data_meta(prepared, output, data or data_record(prepared)),
        config=_portable_config(config, resolved, output),
        training={
            "precision": trainer.accelerator.mixed_precision,
            "device": str(trainer.accelerator.device),
            "num_processes": trainer.accelerator.num_processes,
            "steps": state.global_step,
            "total_steps": trainer.total_steps,
            "epochs_completed": round(trainer.epoch_progress, 4),
            "stop_reason": state.stop_reason,
            "best_step": state.best_step,
            "best_dev_metric": {"name": trainer.metric, "value": state.best_metric},
            "seconds": round(train_seconds, 2),
            # this run's own samples: a resumed run's earlier ones are not in its seconds
            "samples_per_second": round(trainer.samples_this_run / train_seconds, 2) if train_seconds else None,
            "peak_rss_mb": round(peak_rss_mb),
            "history": state.history,
            "resumed": state.resumed,
        },
        versions=library_versions(),
    )
    write_meta(meta, staging)
    logs = trainer.workdir / "logs"
    if logs.exists():
        shutil.copytree(logs, staging / "logs")
    return meta


def fit_after_training(
    config: TunelabConfig, prepared: PreparedData, staging: Path, meta: ArtifactMeta, output: Path
) -> Predictor:
    """The task's hook on the saved artifact (e.g. out-of-scope thresholds): its state is merged into
    tunelab.json's task state, and the Predictor the report uses reloads the artifact with it."""
    load = lambda: Predictor.from_artifact(  # noqa: E731 (paths in meta are relative to the output)
        staging, batch_size=config.training.eval_batch_size, meta=relocate(meta, output, staging)
    )
    predictor = load()
    fitted = predictor.task.fit_after_training(predictor, prepared.parts, staging)
    if fitted:
        meta.task.state = {**meta.task.state, **fitted}
        write_meta(meta, staging)
        predictor = load()
        prepared.task = predictor.task  # the run's summary shows the fitted task
    return predictor


def report_artifact(
    config: TunelabConfig,
    prepared: PreparedData,
    staging: Path,
    meta: ArtifactMeta,
    output: Path,
    predictor: Predictor | None = None,
) -> dict[str, Any]:
    """Score dev/test by reloading the artifact through the Predictor (the path `tunelab evaluate`
    takes, so the two always agree); write report.json, plots and the model card."""
    # tunelab.json's paths are relative to the output; the artifact is still in the staging directory
    predictor = predictor or Predictor.from_artifact(
        staging, batch_size=config.training.eval_batch_size, meta=relocate(meta, output, staging)
    )
    parts, splits = prepared.parts, prepared.splits
    eval_splits = {name: parts[name] for name in ("dev", "test") if parts[name]}
    files = {name: splits.files.get(name) for name in eval_splits}
    report = build_report(
        predictor, eval_splits, {name: portable_path(path, output) if path else None for name, path in files.items()}
    )
    meta.metrics = report["metrics"]
    meta.evaluated_on = report["evaluated_on"]
    write_meta(meta, staging)
    write_report_files(
        staging,
        report,
        predictor.task,
        history_path=staging / "logs" / "train_log.jsonl",
        plots=config.output.plots,
    )
    write_model_card(staging, meta, report, predictor.task, resolved=prepared.resolved)
    return report


TUNELAB_HEADS = tuple(HEAD_CLASSES.values())


def auto_class_name(task, model) -> str:
    """The class that loads the artifact: transformers' Auto class, or tunelab's generic head."""
    return type(model).__name__ if isinstance(model, TUNELAB_HEADS) else task.model_class.__name__


_NAME_KEYS = {"config.json": "_name_or_path", "adapter_config.json": "base_model_name_or_path"}


def _name_base_model(staging: Path, base_name: str) -> None:
    for file_name, key in _NAME_KEYS.items():
        path = staging / file_name
        if not path.is_file():
            continue
        values = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(values.get(key), str) and Path(values[key]).is_absolute():
            values[key] = base_name
            write_json(values, path)


def _portable_config(config: TunelabConfig, resolved: ResolvedModel, output: Path) -> dict[str, Any]:
    """The config as the artifact records it: data files and a local model directory relative to the artifact."""
    recorded = config.to_dict()
    recorded["output"]["dir"] = "."  # the artifact itself (the training machine's path is not kept)
    for split in ("train", "dev", "test", "unlabelled"):
        if recorded["data"].get(split):
            recorded["data"][split] = portable_path(recorded["data"][split], output)
    if resolved.source == "local":
        recorded["model"]["name"] = portable_path(resolved.path, output)
    return recorded
