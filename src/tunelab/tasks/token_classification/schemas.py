"""What predict and serve return for one text of a token-classification model."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Entity(BaseModel):
    text: str
    type: str
    start: int = Field(description="Character offset of the entity in the text.")
    end: int = Field(description="Character offset just past the entity.")
    score: float


class EntityPrediction(BaseModel):
    text: str
    entities: list[Entity]
    tokens: list[str] | None = Field(None, description="The words, when the input was pre-tokenised.")
