"""The top-level ``augment:`` section: data augmentation of the training split (see
docs/augmentation.md). Pydantic only: the ops themselves live in :mod:`tunelab.augment`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tunelab.config_base import Section

# The names of tunelab.augment.AUGMENT_OPS, kept here so reading a config imports nothing else.
AUGMENT_OP_NAMES = (
    "eda",
    "synonym",
    "swap",
    "delete",
    "insert",
    "typos",
    "case",
    "punctuation",
    "mention_replace",
    "token_replace",
)


class AugmentConfig(Section):
    """Augmented copies of the training examples, added to the originals (dev and test are never
    augmented); drawn from ``training.seed``."""

    ops: list[str] = Field(
        default_factory=list,
        description="Ops, each making its own copies: eda (one of synonym/insert/swap/delete per copy), synonym "
        "(WordNet / Cilin), swap, delete, insert, typos, case, punctuation; token classification also "
        "mention_replace (same-type entity from train) and token_replace (a train token with the same tag). "
        "[] (default): no augmentation. A comma-separated string works too.",
    )
    copies: int = Field(1, ge=1, le=100, description="Augmented copies per training example and op.")
    p: float = Field(0.1, gt=0.0, le=1.0, description="Share of the words (mentions, tokens) each copy changes.")
    language: Literal["auto", "en", "zh"] = Field(
        "auto", description="Words, synonyms and noise of this language; auto: zh when the texts are mostly Chinese."
    )

    @field_validator("ops", mode="before")
    @classmethod
    def _op_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):  # `--set augment.ops=eda,typos`
            value = [part for part in value.replace(",", " ").split() if part]
        if isinstance(value, (list, tuple)):
            names = list(dict.fromkeys(str(op).strip().lower() for op in value if str(op).strip()))
            unknown = [op for op in names if op not in AUGMENT_OP_NAMES]
            if unknown:
                raise ValueError(f"unknown op {', '.join(unknown)}; known: {', '.join(AUGMENT_OP_NAMES)}")
            return names
        return value
