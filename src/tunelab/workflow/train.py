"""`tunelab train`: config -> data -> task + model -> loop -> artifact -> report. A plain function."""

from __future__ import annotations

import gc
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from transformers import AutoTokenizer

from tunelab.artifact import (
    ArtifactMeta,
    check_output_dir,
    publish,
    write_meta,
)
from tunelab.augment.apply import augment_training
from tunelab.config import TunelabConfig
from tunelab.config_methods import MEASURED_ON
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import TunelabError
from tunelab.files import check_writable_dir
from tunelab.methods import Method, build_method, parameter_counts
from tunelab.models.resolve import ResolvedModel, resolve_model
from tunelab.tasks import task_class
from tunelab.tasks.backbone import effective_max_length, ensure_padding
from tunelab.tasks.base import Task
from tunelab.training.callbacks import BestModel, Checkpoint, EarlyStopping, JsonlLogger, ProgressBar
from tunelab.training.distributed import process_state
from tunelab.training.loop import CheckpointError, Trainer, select_metric
from tunelab.training.strategies import choose_strategy, plan_config
from tunelab.training.strategies.contrastive import run_contrastive
from tunelab.training.techniques import describe_techniques
from tunelab.training.trackers import finish_tracking, tracking_callbacks
from tunelab.workflow.report import print_report
from tunelab.workflow.resume import open_workdir, recorded_strategy, remember_run, run_record
from tunelab.workflow.save_artifact import fit_after_training, report_artifact, save_artifact
from tunelab.workflow.train_data import data_record, print_data_summary
from tunelab.workflow.untrained import add_self_training, untrained_run


class TrainingInterrupted(TunelabError):
    """Stopped by SIGINT (exit 130) or SIGTERM (exit 143, what `kill` and `docker stop` send), after a checkpoint."""

    def __init__(self, message: str, signal_name: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = 143 if signal_name == "SIGTERM" else 130


@dataclass
class TrainResult:
    output_dir: Path
    report: dict[str, Any]
    meta: ArtifactMeta | None


def workdir_for(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


@dataclass
class PreparedData:
    """Everything known before a model is loaded: the splits, the task, the tokenizer and the encoded sets."""

    splits: Any
    parts: dict[str, list[Any]]
    task: Task
    resolved: ResolvedModel
    tokenizer: Any
    max_length: int
    encoded: dict[str, EncodedDataset]
    augmented: dict[str, int] | None = None  # augment: the training examples each op added


@dataclass
class BuiltModel:
    base: torch.nn.Module
    model: torch.nn.Module  # the base with the method applied
    method: Method
    head: list[str]
    total_parameters: int
    params: dict[str, Any]


def with_method_defaults(config: TunelabConfig) -> tuple[TunelabConfig, dict[str, Any]]:
    """The config with the method's own measured learning rate written into ``method.learning_rate``
    (so run.json and tunelab.json record the rate used), and the measured defaults the method falls
    back on, to tell the user at start."""
    method = config.method
    used = method.defaults_used()
    if method.learning_rate is None and method.default_learning_rate is not None:
        method = method.model_copy(update={"learning_rate": method.default_learning_rate})
        config = config.model_copy(update={"method": method})
    return config, used


def prepare_data(config: TunelabConfig, console: Console) -> PreparedData:
    """Read and check the data, build the task, load the tokenizer and encode every split.
    Data first: a bad file should fail in a second, not after loading a model."""
    task_cls = task_class(config.task.name)
    splits = task_cls.read_splits(config.data, config.task)
    parts = {"train": splits.train, "dev": splits.dev, "test": splits.test}
    task = task_cls.from_splits(config.task, splits)
    select_metric(task, config.training.metric)  # a bad metric name fails now, not after an epoch
    inputs, augmented = augment_training(task, parts, config.augment, config.training.seed, console.print)
    resolved = resolve_model(
        config.model.name, allow_download=config.model.allow_download, revision=config.model.revision, log=console.print
    )
    tokenizer = AutoTokenizer.from_pretrained(
        resolved.path, local_files_only=resolved.local_files_only, revision=resolved.revision
    )
    ensure_padding(tokenizer)
    max_length = effective_max_length(tokenizer, config.model.max_length)
    encoded = {name: task.encode(tokenizer, examples, max_length) for name, examples in inputs.items() if examples}
    prepared = PreparedData(splits, parts, task, resolved, tokenizer, max_length, encoded, augmented)
    print_data_summary(console, prepared)
    return prepared


def build_model(config: TunelabConfig, prepared: PreparedData) -> BuiltModel:
    """The backbone with the task's fresh head, and the training method applied to it."""
    torch.manual_seed(config.training.seed)  # the head's initial weights
    base_model = prepared.task.build_model(prepared.resolved, config.model)
    if config.training.gradient_checkpointing:
        # non-reentrant checkpointing also works when the inputs need no gradient (frozen embeddings, LoRA)
        if hasattr(base_model, "activation_checkpointing_enable"):  # transformers >= 5
            base_model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            base_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    head = prepared.task.head_modules(base_model)
    total_parameters = sum(p.numel() for p in base_model.parameters())
    method = build_method(config.method, prepared.resolved.path, task_type=prepared.task.peft_task_type)
    model = method.apply(base_model, head)
    return BuiltModel(base_model, model, method, head, total_parameters, parameter_counts(model))


def make_trainer(
    config: TunelabConfig,
    prepared: PreparedData,
    built: BuiltModel,
    workdir: Path,
    console: Console,
    callbacks: list | None,
) -> Trainer:
    task, encoded = prepared.task, prepared.encoded
    pad_id = prepared.tokenizer.pad_token_id if prepared.tokenizer.pad_token_id is not None else 0
    has_dev = "dev" in encoded
    cbs = [BestModel(), Checkpoint(), JsonlLogger(workdir / "logs" / "train_log.jsonl", config.training.log_every)]
    if has_dev and config.training.early_stopping.patience:
        cbs.append(EarlyStopping(config.training.early_stopping.patience))
    cbs.extend(tracking_callbacks(config, workdir / "logs"))  # training.trackers: TensorBoard, W&B, MLflow
    cbs.append(ProgressBar(console))
    cbs.extend(callbacks or [])
    trainer = Trainer(
        model=built.model,
        task=task,
        loss_fn=task.loss_fn(prepared.splits.train, label_smoothing=config.training.label_smoothing),
        train_set=encoded["train"],
        dev_set=encoded["dev"] if has_dev else None,
        collator=task.collator(pad_id),
        # the method's own learning rate (method.learning_rate; full fine-tuning: training.learning_rate)
        config=config.training.model_copy(
            update={"learning_rate": config.method.effective_learning_rate(config.training.learning_rate)}
        ),
        workdir=workdir,
        callbacks=cbs,
        method=built.method,
    )
    params = built.params
    console.print(
        f"method {built.method.name}: {params['trainable']:,} of {params['total']:,} parameters train "
        f"({100 * params['share']:.2f}%)"
    )
    if techniques := describe_techniques(config.training):  # training/techniques: what this run adds
        console.print(f"techniques: {techniques}")
    console.print(
        f"training {trainer.total_steps} steps ({config.training.epochs:g} epochs × {trainer.steps_per_epoch}), "
        f"precision {trainer.accelerator.mixed_precision}, device {trainer.accelerator.device}, "
        f"{torch.get_num_threads()} threads"
    )
    return trainer


def train(
    config: TunelabConfig,
    *,
    output_dir: str | Path | None = None,
    overwrite: bool | None = None,
    resume: bool = False,
    restart: bool = False,
    allow_changes: bool = False,
    console: Console | None = None,
    callbacks: list | None = None,
) -> TrainResult:
    """Train, evaluate and save an artifact. Nothing is written to ``output_dir`` unless the run succeeds.

    ``resume`` continues an interrupted run from its newest checkpoint once its config and data are
    checked against the run's (``allow_changes`` permits deliberate changes such as more epochs);
    ``restart`` deletes an interrupted run's checkpoints instead, which a new run otherwise refuses to do.

    The stages: prepare the data, build the model, train, save the artifact, report."""
    console = console or Console(stderr=True)
    if not process_state().is_main_process:  # torchrun / accelerate launch: one process speaks
        console = Console(quiet=True)
    started = time.perf_counter()
    output = Path(output_dir or config.output.dir).expanduser().resolve()
    overwrite = config.output.overwrite if overwrite is None else overwrite
    check_output_dir(output, overwrite)
    check_writable_dir(output.parent, what=str(output))  # read-only or not ours: refused now, not after training
    if config.training.num_threads:
        torch.set_num_threads(config.training.num_threads)

    config, method_defaults = with_method_defaults(config)
    prepared = prepare_data(config, console)
    workdir = workdir_for(output)
    # training.strategy (training/strategies): auto picks contrastive for few examples per label
    plan = choose_strategy(
        config.training,
        prepared.task,
        prepared.parts["train"] or [],
        processes=process_state().num_processes,
        recorded=recorded_strategy(workdir) if resume else None,
    )
    config = plan_config(config, prepared.task, plan)  # contrastive: the model section it trains
    console.print(plan.message())
    data = data_record(prepared)  # hashed once: the resume record and tunelab.json share it
    record = run_record(config.to_dict(), data, process_state().num_processes)
    record["strategy"] = plan.name
    changes = open_workdir(workdir, record, resume=resume, restart=restart, allow_changes=allow_changes)
    built = build_model(config, prepared)
    add_self_training(config, prepared, built, console)  # the task's pseudo-labelled examples, if any
    strategy, fitted = plan.record(), None
    if plan.name == "contrastive":  # the body on pairs, then the head fitted; the loop only for end_to_end
        pad_id = prepared.tokenizer.pad_token_id if prepared.tokenizer.pad_token_id is not None else 0
        stages, fitted = run_contrastive(
            config, prepared.task, built.model, prepared.encoded.get("train"), pad_id, workdir, console, resume=resume
        )
        strategy.update(stages)
    trainer: Any = (  # a Trainer, or a stand-in with its interface (FittedRun, NoTraining)
        fitted
        if fitted is not None
        else make_trainer(config, prepared, built, workdir, console, callbacks)
        if "train" in prepared.encoded
        else untrained_run(config, prepared, built, workdir, console)  # zero-shot: used as built
    )
    if method_defaults:
        console.print(
            f"method {config.method.name} defaults: "
            + ", ".join(f"{key} {value}" for key, value in method_defaults.items())
            + f" (measured: {MEASURED_ON}; set method.<key> to choose)"
        )
    if resume:
        _restore(trainer, changes, console)
        remember_run(workdir, record)
    train_started = time.perf_counter()
    state = trainer.fit()
    train_seconds = time.perf_counter() - train_started + strategy.get("seconds", 0.0)
    if state.stop_reason == "interrupted":
        by = f" by {trainer.interrupt_signal}" if trainer.interrupt_signal else ""
        raise TrainingInterrupted(
            f"training stopped{by} at step {state.global_step}/{trainer.total_steps}; checkpoint saved in "
            f"{workdir}. Run the same command with --resume to continue.",
            trainer.interrupt_signal,
        )
    console.print(f"stopped: {state.stop_reason}")
    if not trainer.accelerator.is_main_process:
        return TrainResult(output, {}, None)

    staging = workdir / "artifact"
    meta = save_artifact(config, prepared, built, trainer, train_seconds, staging, output, data)
    meta.training["strategy"] = strategy  # which strategy, why, and what its stages did
    write_meta(meta, staging)
    # The training copy of the model (and its optimizer state) goes before the report reloads the
    # artifact, so a large model is never in memory twice.
    trainer.accelerator.free_memory()
    del trainer, built
    gc.collect()
    predictor = fit_after_training(config, prepared, staging, meta, output)  # Task.fit_after_training
    report = report_artifact(config, prepared, staging, meta, output, predictor)
    finish_tracking(report, staging)  # the trackers log the report's metrics and plots, then close
    publish(staging, output, overwrite=overwrite)
    if not config.output.keep_checkpoints:
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(report, prepared.task, console=console)
    console.print(
        f"artifact: {output} (model weights {(meta.method.weights_bytes or 0) / 1e6:.1f} MB, {meta.method.stored}); "
        + (
            f"{meta.training['samples_per_second']} samples/s, "
            if not str(state.stop_reason).startswith("not trained")
            else "not trained, "
        )
        + f"peak RSS {meta.training['peak_rss_mb']:.0f} MB, "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    return TrainResult(output, report, meta)


def _restore(trainer: Trainer, changes: list[str], console: Console) -> None:
    """Load the newest checkpoint, refuse one the (changed) config has already passed, and say
    where the run resumes; the resume and its permitted changes are kept in the training history."""
    found = trainer.restore()
    state = trainer.state
    if state.global_step >= trainer.total_steps:
        raise CheckpointError(
            f"the checkpoint {found.path} is at step {state.global_step}, but this config trains "
            f"{trainer.total_steps} steps in all (training.epochs {trainer.config.epochs:g}); nothing would be "
            "trained. Raise training.epochs (with --allow-changes) or start over with --restart"
        )
    best = (
        f"; best dev {trainer.metric} {state.best_metric:.4f} at step {state.best_step}"
        if state.best_metric is not None
        else ""
    )
    into = f", {state.batches_in_epoch} batches into it" if state.batches_in_epoch else ""
    console.print(
        f"resuming from {found.path.name}: step {state.global_step}/{trainer.total_steps}, "
        f"epoch {state.epoch + 1}{into}{best}"
    )
    for change in changes:
        console.print(f"  [yellow]changed:[/] {change}")
    state.resumed.append({"step": state.global_step, "checkpoint": found.path.name, "changes": changes})


# Where transformers and peft write the path the model was loaded from (an absolute path of this
# machine for a local or packaged model); the artifact records the base model's name instead.
