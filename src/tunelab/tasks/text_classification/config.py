"""Text classification's config sections: ``task`` and its own data keys."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tunelab.config import TaskSection, TextDataConfig


class TextClassificationConfig(TaskSection):
    name: Literal["text_classification"] = "text_classification"
    multi_label: bool = False
    labels: list[str] | None = Field(None, description="Explicit label order; detected from train when absent.")
    class_weights: Literal["balanced"] | dict[str, float] | None = None
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="Multi-label decision threshold.")

    @model_validator(mode="after")
    def _check_class_weights(self) -> TextClassificationConfig:
        weights = self.class_weights
        if isinstance(weights, dict) and self.labels is not None:
            unknown = sorted(set(weights) - set(self.labels))
            if unknown:
                raise ValueError(f"task.class_weights names unknown labels {unknown}; labels are {self.labels}")
        return self


class TextClassificationData(TextDataConfig):
    label_separator: str = Field("|", description="Separates labels in one field for multi-label CSV/TSV.")
