"""Text regression's config sections: ``task`` and its data keys (the shared text-table ones)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tunelab.config import TaskSection, TextDataConfig


class TextRegressionConfig(TaskSection):
    name: Literal["text_regression"] = "text_regression"
    scale_targets: bool = Field(
        True,
        description="Train on targets standardised with train's mean and standard deviation (the model "
        "predicts z-scores); predictions are mapped back to the original scale.",
    )
    min_value: float | None = Field(None, description="Clip predictions to at least this (e.g. 0 for STS-B).")
    max_value: float | None = Field(None, description="Clip predictions to at most this (e.g. 5 for STS-B).")

    @model_validator(mode="after")
    def _check_range(self) -> TextRegressionConfig:
        if self.min_value is not None and self.max_value is not None and self.min_value >= self.max_value:
            raise ValueError(f"task.min_value ({self.min_value}) must be below task.max_value ({self.max_value})")
        return self


class TextRegressionData(TextDataConfig):
    """A text (and optional second text) and a number per row; no keys beyond the shared ones."""
