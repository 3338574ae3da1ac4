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
        # out-of-scope detection (docs/out-of-scope.md): the id len(labels) is out-of-scope, predicted
        # or gold (whose target is -100); rows then carry the score and confidence after the probabilities
        n = len(labels)
        predicted, gold_id = int(decoded), int(gold) if int(gold) >= 0 else n
        if predicted == gold_id:
            return None
        name = getattr(self.task, "label_name", lambda j: labels[j])
        probs = p[:n]
        sure = float(probs[predicted]) if predicted < n else float(probs.max())
        row = error_row(
            example,
            gold=name(gold_id),
            predicted=name(predicted),
            score=round(sure, 4),
            gold_score=round(float(probs[gold_id]), 4) if gold_id < n else None,
        )
        return (sure,), row

    def result(self) -> list[dict[str, Any]]:
        return [row for _, _, row in sorted(self.heap, key=lambda e: e[:2], reverse=True)]
