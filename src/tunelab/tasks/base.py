"""The contract every task module fulfils. The loop, the artifact and the Predictor only talk to this."""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunelab.config import ModelConfig, TaskConfig
from tunelab.data.encoding import EncodedDataset
from tunelab.data.example import Example
from tunelab.models.resolve import ResolvedModel


class Task(Protocol):
    name: str
    labels: list[str]
    config: TaskConfig

    @classmethod
    def from_examples(cls, config: TaskConfig, train: Sequence[Example]) -> "Task": ...

    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        """A backbone with this task's freshly initialised head."""

    def head_modules(self, model: PreTrainedModel) -> list[str]:
        """Names of the head's top-level modules: always trained and saved, whatever the method."""

    def encode(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int) -> EncodedDataset:
        """Token ids plus targets (targets only when every example is labelled)."""

    def loss_fn(self, train: Sequence[Example]) -> torch.nn.Module:
        """The training loss, including class weights computed from train."""

    def targets(self, examples: Sequence[Example]) -> np.ndarray: ...

    def decode(self, logits: np.ndarray) -> np.ndarray:
        """Predictions in the same form as ``targets``."""

    def probabilities(self, logits: np.ndarray) -> np.ndarray: ...

    def metrics(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]: ...

    def state(self) -> dict[str, Any]:
        """What the artifact must store to rebuild this task (labels, options)."""
