"""`tunelab train` when the task builds a usable model without labelled training data (zero-shot
classification from label names), and when it labels training data itself (self-training).

The core never names the task: it asks ``task.needs_training_data()`` and
``task.self_training_examples(...)`` (tasks/base.py defaults: data needed, none made). A run with no
training examples then goes through the same save -> reload -> report path as any other, with
:class:`NoTraining` standing in for the Trainer (no steps, no optimizer, no checkpoints).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from tunelab.config import TunelabConfig
from tunelab.errors import DataError
from tunelab.training.distributed import make_accelerator
from tunelab.training.loop import CheckpointError, TrainState

if TYPE_CHECKING:
    from tunelab.workflow.train import BuiltModel, PreparedData

STOP_REASON = "not trained: built without training data"


class NoTraining:
    """What save_artifact and train() read of a Trainer, for a model used as built: step 0, no
    history, fp32 (nothing ran in another precision)."""

    def __init__(self, model: Any, workdir: Path, metric: str) -> None:
        self.accelerator = make_accelerator("fp32")
        self.model = model.to(self.accelerator.device)
        self.workdir = Path(workdir)
        self.metric = metric
        self.state = TrainState()
        self.total_steps = 0
        self.epoch_progress = 0.0
        self.samples_this_run = 0
        self.interrupt_signal = None

    def fit(self, resume: bool = False) -> TrainState:
        self.state.stop_reason = STOP_REASON
        return self.state

    def restore(self) -> Any:
        raise CheckpointError("this run trains nothing (no training data), so there is no checkpoint to resume")


def untrained_run(config: TunelabConfig, prepared: PreparedData, built: BuiltModel, workdir: Path, console: Console):
    """The stand-in Trainer for a run without training examples, or a clear error when the task
    needs them."""
    task = prepared.task
    if task.needs_training_data():
        raise DataError("no training examples: set data.train (the file may be empty, or self-training kept no text)")
    metric = config.training.metric or task.default_metric
    console.print(f"no training data: {task.card_summary()}; the model is used as built (nothing is trained)")
    return NoTraining(built.model, workdir, metric)


def add_self_training(config: TunelabConfig, prepared: PreparedData, built: BuiltModel, console: Console) -> int:
    """Training examples the freshly built model labels itself (the task decides: self-training's
    pseudo-labels on ``data.unlabelled``), added to the training split and encoded; how many."""
    task = prepared.task
    made = task.self_training_examples(built.model, prepared.tokenizer, config.data, prepared.max_length, console.print)
    if not made:
        return 0
    train = list(prepared.parts.get("train") or []) + list(made)
    prepared.parts["train"] = train
    prepared.splits.train = train
    encoded = prepared.encoded.get("train")
    inputs = list(encoded.examples if encoded is not None else []) + list(made)  # augmented copies kept
    prepared.encoded["train"] = task.encode(prepared.tokenizer, inputs, prepared.max_length)
    return len(made)
