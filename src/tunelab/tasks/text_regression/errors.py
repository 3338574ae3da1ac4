"""The worst errors of a text regression split: the largest residuals (``Task.worst_errors``)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from tunelab.data.encoding import EncodedDataset
from tunelab.tasks.base import error_row


class LargestResiduals:
    """The ``limit`` examples whose prediction is farthest from the gold number, kept batch by batch."""

    description = "the largest residuals (residual = predicted - gold)"

    def __init__(self, gold: Sequence[float], encoded: EncodedDataset, limit: int) -> None:
        self.gold, self.encoded, self.limit = gold, encoded, limit
        self.heap: list[tuple[float, int, dict[str, Any]]] = []

    def add(self, indices: Sequence[int], items: Sequence[float]) -> None:
        for i, predicted in zip(indices, items):
            residual = float(predicted) - float(self.gold[i])
            if residual == 0:
                continue
            row = error_row(
                self.encoded.examples[i],
                gold=round(float(self.gold[i]), 4),
                predicted=round(float(predicted), 4),
                residual=round(residual, 4),
            )
            entry = (abs(residual), -i, row)
            if len(self.heap) < self.limit:
                heapq.heappush(self.heap, entry)
            elif entry[:2] > self.heap[0][:2]:
                heapq.heapreplace(self.heap, entry)

    def result(self) -> list[dict[str, Any]]:
        return [row for _, _, row in sorted(self.heap, key=lambda e: e[:2], reverse=True)]
