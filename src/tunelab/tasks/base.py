"""The contract every task module fulfils. The loop, the artifact and the Predictor only talk to this."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunelab.config import DataConfig, ModelConfig
from tunelab.data.encoding import EncodedDataset
from tunelab.models.resolve import ResolvedModel


class Task(Protocol):
    name: ClassVar[str]
    model_class: ClassVar[type]  # the transformers Auto class that loads the artifact
    default_metric: ClassVar[str]
    metric_directions: ClassVar[dict[str, str]]  # selectable dev metrics -> "max" | "min"
    labels: list[str]  # the model's output labels, in id order
    config: Any  # the task's own config section

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def read_splits(data_config: DataConfig, config: Any) -> Any:
        """train/dev/test examples (dev/test carved when no file), files and their sources."""

    @classmethod
    def from_examples(cls, config: Any, train: Sequence[Any]) -> "Task":
        """Labels detected from train (or taken from the config)."""

    @classmethod
    def from_state(cls, config: Any, state: dict[str, Any]) -> "Task":
        """Rebuild the task from an artifact's ``tunelab.json``."""

    def state(self) -> dict[str, Any]:
        """What the artifact must store to rebuild this task (labels, options)."""

    # -- model and training --------------------------------------------------------------------
    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        """A backbone with this task's freshly initialised head."""

    def head_modules(self, model: PreTrainedModel) -> list[str]:
        """Names of the head's top-level modules: always trained and saved, whatever the method."""

    def encode(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Any], max_length: int) -> EncodedDataset:
        """Token ids plus targets (targets only when every example is labelled); keeps the examples."""

    def loss_fn(self, train: Sequence[Any]) -> torch.nn.Module:
        """The training loss ``loss(logits, labels)``, with class weights computed from train."""

    # -- evaluation and prediction -------------------------------------------------------------
    def score(self, encoded: EncodedDataset, outputs: Sequence[np.ndarray]) -> dict[str, Any]:
        """Metrics of per-item logits against the encoded targets (JSON-ready)."""

    def read_file(self, path: str | Path, meta: dict[str, Any], **options: Any) -> list[Any]:
        """Read an evaluation or prediction file the way the artifact's training data was read."""

    def check_known(self, examples: Sequence[Any], where: str) -> None:
        """DataError naming file and line for a label the model does not know."""

    @staticmethod
    def make_examples(texts=None, text_pairs=None, tokens=None) -> list[Any]:
        """Examples from raw user input."""

    def predictions(self, encoded: EncodedDataset, outputs: Sequence[np.ndarray]) -> list:
        """What ``Predictor.predict`` returns: label names, or entities with character offsets."""

    def prediction_records(self, encoded: EncodedDataset, outputs: Sequence[np.ndarray], *, top_k: int = 1) -> list[dict]:
        """JSON-ready records with scores, one per input (what `tunelab predict` prints)."""
