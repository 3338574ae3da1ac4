"""What predict and serve return for one text (or pair) of a regression model."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RegressionPrediction(BaseModel):
    text: str
    text_pair: str | None = Field(None, description="The second text (pair models).")
    score: float = Field(description="The predicted number, on the scale of the training targets.")
