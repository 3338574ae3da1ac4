"""What predict and serve return for one text (or pair) of a classification model."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LabelScore(BaseModel):
    label: str
    score: float


class ClassificationPrediction(BaseModel):
    text: str
    text_pair: str | None = Field(None, description="The second text (pair models).")
    label: str | None = Field(None, description="Best label (single-label models).")
    score: float | None = Field(None, description="Probability of `label`.")
    labels: list[str] | None = Field(None, description="Labels over the threshold (multi-label models).")
    top: list[LabelScore] = Field(description="The `top_k` best labels, best first.")
