"""Relation extraction's config sections: ``task`` and its data keys."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunelab.config import DataConfig, TaskSection


class RelationExtractionConfig(TaskSection):
    name: Literal["relation_extraction"] = "relation_extraction"
    representation: Literal["entity_start", "cls"] = Field(
        "entity_start",
        description="entity_start: the hidden states of the two start markers, concatenated (Baldini Soares et "
        "al. 2019); cls: the first token ([CLS]; the last token on a decoder).",
    )
    typed_markers: bool | None = Field(
        None,
        description="Typed markers (<e1:PER> ... </e1:PER>) when every training entity has a type; null: typed "
        "exactly when they all do; false: untyped markers.",
    )
    no_relation: str | None = Field(
        "auto",
        description="The label meaning 'no relation', left out of micro/macro F1; auto: Other, NA, no_relation "
        "or unknown when train has one; null: every label is a relation.",
    )
    scorer: Literal["auto", "semeval2010_task8", "standard"] = Field(
        "auto",
        description="semeval2010_task8 adds the official SemEval-2010 Task 8 score (metrics.official_f1); auto: "
        "when the labels are SemEval's.",
    )


class RelationExtractionData(DataConfig):
    format: Literal["auto", "semeval", "tsv", "jsonl"] = Field(  # type: ignore[assignment]
        "auto",
        description="semeval: SemEval-2010 Task 8 blocks (<e1>..</e1> <e2>..</e2> inline, then the label); tsv: "
        "head<TAB>tail<TAB>relation<TAB>sentence (FinRE, SanWen); jsonl: text, head {start, end[, type]}, "
        "tail {...}, relation; auto: from the content.",
    )
