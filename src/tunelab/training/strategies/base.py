"""What a task gives the contrastive strategy (``Task.contrastive()``; None: not supported)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from tunelab.config import ModelConfig


class ContrastiveSupport(Protocol):
    def label_sets(self, examples: Sequence[Any]) -> list[tuple[int, ...]]:
        """Each example's class ids: texts whose sets meet are a positive pair, disjoint ones a negative pair."""
        ...

    def examples_per_label(self, examples: Sequence[Any]) -> float:
        """Training examples per class on average (what ``strategy: auto`` decides on)."""
        ...

    def model_config(self, model_config: ModelConfig) -> ModelConfig:
        """The model section the strategy needs (e.g. a head on pooled embeddings); a ConfigError if it cannot."""
        ...

    def prepare(self, model: torch.nn.Module) -> None:
        """Switch the built model to what the strategy trains (e.g. normalised features), before stage 1."""
        ...

    def trainable_body(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        """The parameters stage 1 trains: those the method left trainable, the head's excepted."""
        ...

    def embed(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(batch, dim) float unit vectors of a collated batch, as the head reads them; differentiable."""
        ...

    def fit_head(
        self, model: torch.nn.Module, features: np.ndarray, examples: Sequence[Any], *, c: float | str, seed: int = 0
    ) -> dict:
        """Fit the head on the training examples' features and put it into the model; what to record."""
        ...
