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
    score: float | None = Field(
        None, description="Probability of `label` (of the best in-scope label when the text is out-of-scope)."
    )
    labels: list[str] | None = Field(None, description="Labels over the threshold (multi-label models).")
    top: list[LabelScore] = Field(description="The `top_k` best labels, best first.")
    out_of_scope: bool | None = Field(
        None, description="Out-of-scope detection on (task.out_of_scope): the text belongs to none of the labels."
    )
    oos_score: float | None = Field(
        None, description="The out-of-scope scorer's value; above the model's threshold is out-of-scope."
    )
