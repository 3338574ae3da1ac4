"""Token classification's config sections: ``task`` and its own data keys (CoNLL columns, tag scheme)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunelab.config import DataConfig, TaskSection


class TokenClassificationConfig(TaskSection):
    name: Literal["token_classification"] = "token_classification"
    entity_types: list[str] | None = Field(None, description="Explicit entity types; detected from train when absent.")
    label_all_subwords: bool = Field(False, description="Train on every sub-word, not only a word's first.")
    window_overlap: int = Field(32, ge=0, description="Sub-words shared by consecutive windows of a long sentence.")
    class_weights: Literal["balanced"] | dict[str, float] | None = None


class TokenClassificationData(DataConfig):
    format: Literal["auto", "conll", "jsonl", "cluener"] = Field(  # type: ignore[assignment]
        "auto",
        description="conll: token and tag columns, a blank line between sentences; jsonl: tokens/tags or "
        "text/entities per line; cluener: CLUENER's span JSON; auto: from the content.",
    )
    token_column: int = Field(0, description="Column of the token in CoNLL files.")
    tag_column: int = Field(-1, description="Column of the tag in CoNLL files (-1: last).")
    tag_scheme: Literal["auto", "io", "iob1", "iob2", "bioes", "bilou", "bmes"] = Field(
        "auto", description="Tag scheme of the files; detected when auto."
    )
    repair_tags: bool = Field(False, description="Repair invalid tag sequences instead of failing.")
