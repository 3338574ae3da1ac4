"""What predict and serve return for one question of an extractive QA model."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CandidateAnswer(BaseModel):
    text: str
    start: int
    end: int
    score: float
    probability: float


class QaPrediction(BaseModel):
    question: str
    id: str | None = Field(None, description="The question's id, when the input gave one.")
    answer: str = Field(description='The answer: a span of the context ("" when the model finds no answer).')
    start: int = Field(description="First character of the answer in the given context (-1: no answer).")
    end: int = Field(description="One past its last character: context[start:end] == answer (-1: no answer).")
    score: float = Field(description="Start + end logit of the answer (the no-answer score when there is none).")
    probability: float = Field(description="Softmax over the n-best answers (and the no-answer, SQuAD v2 models).")
    no_answer: bool = Field(description="The model finds no answer in the context (SQuAD v2 models only).")
    answers: list[CandidateAnswer] | None = Field(None, description="The top_k best spans (top_k > 1).")
