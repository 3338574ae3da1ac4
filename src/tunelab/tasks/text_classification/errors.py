"""The worst errors of a text classification split, kept batch by batch (``Task.worst_errors``)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np

from tunelab.data.encoding import EncodedDataset
from tunelab.tasks.base import error_row


class ConfidentErrors:
    """The wrong predictions the model was surest of: single-label, the highest probability given
    to a wrong label; multi-label, the most wrong labels, then the surest wrong decision. Only the
    ``limit`` worst so far are kept."""

    description = (
        "the wrong predictions the model was surest of (score: the probability of the predicted label, "
        "gold_score: of the gold label; multi-label: the most wrong labels first)"
    )

    def __init__(self, task: Any, encoded: EncodedDataset, limit: int) -> None:
        self.task, self.encoded, self.limit = task, encoded, limit
        self.heap: list[tuple[tuple[float, ...], int, dict[str, Any]]] = []

    def add(self, indices: Sequence[int], items: Sequence[np.ndarray]) -> None:
        if not len(items) or self.encoded.labels is None:
            return
        probs = np.stack(items)
        for i, p, decoded in zip(indices, probs, self.task.decode(probs)):
            found = self._error(i, p, decoded)
            if found is None:
                continue
            key, row = found
            entry = (key, -i, row)  # ties: the earlier example first
            if len(self.heap) < self.limit:
                heapq.heappush(self.heap, entry)
            elif entry[:2] > self.heap[0][:2]:
                heapq.heapreplace(self.heap, entry)

    def _error(self, i: int, p: np.ndarray, decoded: Any) -> tuple[tuple[float, ...], dict[str, Any]] | None:
        labels, example = self.task.labels, self.encoded.examples[i]
        gold = self.encoded.labels[i]  # type: ignore[index]
        if self.task.multi_label:
            gold_row = np.asarray(gold)
            wrong = np.flatnonzero(np.asarray(decoded) != gold_row)
            if not len(wrong):
                return None
            sure = max(float(p[j]) if decoded[j] else 1.0 - float(p[j]) for j in wrong)
            row = error_row(
                example,
                gold="|".join(labels[j] for j in np.flatnonzero(gold_row)),
                predicted="|".join(labels[j] for j in np.flatnonzero(decoded)),
                wrong_labels=len(wrong),
                score=round(sure, 4),
            )
            return (float(len(wrong)), sure), row
        predicted = int(decoded)
        if predicted == int(gold):
            return None
        row = error_row(
            example,
            gold=labels[int(gold)],
            predicted=labels[predicted],
            score=round(float(p[predicted]), 4),
            gold_score=round(float(p[int(gold)]), 4),
        )
        return (float(p[predicted]),), row

    def result(self) -> list[dict[str, Any]]:
        return [row for _, _, row in sorted(self.heap, key=lambda e: e[:2], reverse=True)]
