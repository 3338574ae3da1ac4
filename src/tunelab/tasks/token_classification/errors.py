"""The worst errors of an NER split: the sentences with the most entity errors (``Task.worst_errors``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tunelab.data.encoding import EncodedDataset
from tunelab.tasks.base import error_row
from tunelab.tasks.token_classification.align import NerEncoded
from tunelab.tasks.token_classification.tags import entities_from_iob2


class SentenceErrors:
    """Keeps every window's (tag, probability) rows, as the scorer does (the windows of a sentence
    are merged at the end), then counts per sentence the gold entities not predicted exactly
    (missed) and the predicted entities not in the gold (spurious)."""

    description = (
        "the sentences with the most entity errors (missed: gold entities not predicted exactly, "
        "spurious: predicted entities not in the gold)"
    )

    def __init__(self, task: Any, encoded: EncodedDataset, limit: int) -> None:
        if not isinstance(encoded, NerEncoded):
            raise TypeError(f"SentenceErrors needs the task's own encoding, not {type(encoded).__name__}")
        self.task, self.encoded, self.limit = task, encoded, limit
        self.items: list[Any] = [None] * len(encoded)

    def add(self, indices: Sequence[int], items: Sequence[np.ndarray]) -> None:
        for i, item in zip(indices, items):
            self.items[i] = item

    def result(self) -> list[dict[str, Any]]:
        if not len(self.encoded) or any(item is None for item in self.items):
            return []
        predicted, _ = self.task._word_tags(self.encoded, self.items)
        found = []
        for k, (seq, tags) in enumerate(zip(self.encoded.sequences, predicted)):
            if seq.tags is None:
                continue
            gold = set(entities_from_iob2(seq.tags))
            pred = set(entities_from_iob2(tags))
            missed, spurious = sorted(gold - pred, key=_order), sorted(pred - gold, key=_order)
            if not missed and not spurious:
                continue
            row = error_row(
                self.encoded.examples[k],
                text=seq.text,
                errors=len(missed) + len(spurious),
                missed=_shown(seq, missed),
                spurious=_shown(seq, spurious),
            )
            found.append((len(missed) + len(spurious), -k, row))
        found.sort(key=lambda e: e[:2], reverse=True)
        return [row for _, _, row in found[: self.limit]]


def _order(entity: tuple[str, int, int]) -> tuple[int, int, str]:
    return entity[1], entity[2], entity[0]


def _shown(seq: Any, entities: Sequence[tuple[str, int, int]]) -> str:
    """ "john smith (PER); paris (LOC)": each entity's text as it stands in the sentence."""
    return "; ".join(f"{seq.text[seq.offsets[a][0] : seq.offsets[b - 1][1]]} ({t})" for t, a, b in entities)
