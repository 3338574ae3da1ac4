"""Extractive QA's config sections: ``task`` (windows, answer search, metric language) and ``data``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tunelab.config import DataConfig, TaskSection

# Special tokens a question/context pair adds at most ([CLS] q [SEP] c [SEP]; <s> q </s></s> c </s>).
SPECIAL_TOKENS = 4


class ExtractiveQaConfig(TaskSection):
    name: Literal["extractive_qa"] = "extractive_qa"
    max_length: int = Field(
        384,
        ge=16,
        le=8192,
        description="Tokens per window (question + context + special tokens), as run_qa.py's max_seq_length; "
        "used instead of model.max_length, capped at the tokenizer's own limit.",
    )
    doc_stride: int = Field(
        128,
        ge=0,
        description="Context tokens shared by consecutive windows of a long context (run_qa.py's doc_stride).",
    )
    max_question_length: int = Field(
        64, ge=1, description="Tokens kept of a question; a longer one is cut (BERT's max_query_length)."
    )
    n_best: int = Field(
        20, ge=1, le=1000, description="Start and end candidates per window, and answers kept per question."
    )
    max_answer_length: int = Field(30, ge=1, description="Longest answer considered, in tokens.")
    metric_language: Literal["auto", "en", "zh"] = Field(
        "auto",
        description="en: the official SQuAD EM/F1 (English normalisation, word tokens); zh: the official CMRC 2018 "
        "EM/F1 (characters); auto: zh when CJK characters make up most of the contexts.",
    )
    null_threshold: float | None = Field(
        None,
        description="SQuAD v2: answer nothing when the no-answer score exceeds the best span's by more than this; "
        "None: tuned on dev after training when train has unanswerable questions (0 before).",
    )

    @model_validator(mode="after")
    def _check_window(self) -> ExtractiveQaConfig:
        room = self.max_length - self.max_question_length - SPECIAL_TOKENS
        if room <= 0:
            raise ValueError(
                f"task.max_length ({self.max_length}) leaves no room for the context after a question of "
                f"task.max_question_length ({self.max_question_length}) tokens"
            )
        if self.doc_stride >= room:
            raise ValueError(
                f"task.doc_stride ({self.doc_stride}) must be below the context tokens of a window "
                f"(task.max_length - task.max_question_length - {SPECIAL_TOKENS} = {room})"
            )
        return self


class ExtractiveQaData(DataConfig):
    format: Literal["auto", "squad", "jsonl"] = Field(  # type: ignore[assignment]
        "auto",
        description="squad: SQuAD v1.1/v2.0 JSON (CMRC 2018 has the same layout); jsonl: one question a line "
        "(question, context, answers: [{text, answer_start}], optional id, title); auto: from the content.",
    )
    answer_offsets: Literal["check", "repair"] = Field(
        "check",
        description="check: an answer whose text is not in its context at answer_start is an error (naming the "
        "file and question id); repair: it moves to the occurrence of its text nearest answer_start, and one "
        "whose text is nowhere in the context is kept for scoring only (CMRC 2018's dev file has 200 of those).",
    )
