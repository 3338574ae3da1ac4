"""The prediction record of a relation extraction model (OpenAPI)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RelationArgument(BaseModel):
    start: int = Field(description="Character offset of the entity in the text (inclusive).")
    end: int = Field(description="Character offset of the entity's end (exclusive).")
    text: str
    type: str | None = None


class RelationScore(BaseModel):
    label: str
    score: float


class RelationPrediction(BaseModel):
    text: str = Field(description="The text without markers; offsets refer to it.")
    head: RelationArgument = Field(description="The first argument (e1).")
    tail: RelationArgument = Field(description="The second argument (e2).")
    relation: str = Field(description="The predicted relation; directed labels name the direction, e.g. X(e2,e1).")
    score: float
    top: list[RelationScore]
