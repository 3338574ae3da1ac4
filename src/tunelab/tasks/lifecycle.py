"""Defaults of the Task hooks around training that most tasks leave alone: few-shot contrastive
training, runs without training data (zero-shot), self-training, and state fitted on the saved
model (out-of-scope detection, calibration). BaseTask inherits them; a task overrides what it does."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


class LifecycleDefaults:
    def contrastive(self) -> Any | None:
        """What few-shot contrastive training (``training.strategy: contrastive``,
        tunelab/training/strategies/contrastive.py) needs of the task: an object with the methods of
        ``tunelab.training.strategies.base.ContrastiveSupport`` (what a positive pair is, how the head
        is fitted), or None: the task does not support it (the default; ``auto`` then trains the
        standard way and an explicit ``contrastive`` is refused)."""
        return None

    @classmethod
    def from_splits(cls, config: Any, splits: Any) -> Any:
        """The task of a run from all its splits (``tunelab train``); by default from the training
        examples. A task that can do without them (zero-shot) takes its labels elsewhere."""
        return cls.from_examples(config, splits.train)  # type: ignore[attr-defined]

    def needs_training_data(self) -> bool:
        """False when ``build_model`` gives a usable model without training examples (zero-shot):
        `tunelab train` then saves and reports it untrained."""
        return True

    def self_training_examples(
        self, model: Any, tokenizer: Any, data_config: Any, max_length: int, log: Callable[[str], None]
    ) -> list[Any]:
        """Training examples the freshly built ``model`` labels itself (self-training's pseudo-labels),
        added to the training split before training; none by default."""
        return []

    def fit_after_training(self, predictor: Any, parts: Mapping[str, Sequence[Any]], directory: Path) -> dict | None:
        return None  # state to merge into the saved task state; may write files (task_files) there

    def prepare_model(self, model: Any) -> Any:
        return model  # the Predictor's loaded torch model, e.g. with hooks that add outputs

    def load_files(self, directory: str | Path) -> None:
        return None  # the task's own files of an artifact (an export copies ``task_files``)

    def task_files(self) -> list[str]:
        return []
