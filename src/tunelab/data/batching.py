"""Length-bucketed batches and dynamic padding.

Random batches of short texts carry about a third padding even when padded per batch; sorting
texts by length inside large random chunks cuts that to a few percent while keeping batches
shuffled (measured on SST-2-like data: ~1.4x faster training for the same accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

IGNORE_INDEX = -100


class LengthBucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields lists of indices. Deterministic for a given (seed, epoch)."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        bucket: bool = True,
        seed: int = 0,
        chunk_batches: int = 50,
        drop_last: bool = False,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = bucket
        self.seed = seed
        self.chunk_batches = chunk_batches
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            # Evaluation: longest first so a memory problem shows on the first batch.
            order = np.argsort(-self.lengths, kind="stable") if self.bucket else np.arange(n)
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        if self.bucket:
            chunk = self.batch_size * self.chunk_batches
            parts = [order[i : i + chunk] for i in range(0, n, chunk)]
            order = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in parts])
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.bucket:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


class PaddingCollator:
    """Pads a list of encoded items to the longest one in the batch (right padding).

    Token ids, attention mask and segment ids are padded here; the targets (``labels``) are
    collated by the task's ``targets(values, width)``, which alone knows their shape. Any other
    key an item carries (a task's extra model inputs) is collated by ``extra[key]``."""

    def __init__(
        self,
        pad_token_id: int,
        *,
        targets: Callable[[list[Any], int], torch.Tensor] | None = None,
        extra: dict[str, Callable[[list[Any], int], torch.Tensor]] | None = None,
    ) -> None:
        self.pad_token_id = pad_token_id
        self.targets = targets or (lambda values, width: torch.tensor(values))
        self.extra = dict(extra or {})

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(item["input_ids"]) for item in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(items), width), dtype=torch.long)
        has_types = "token_type_ids" in items[0]
        types = torch.zeros((len(items), width), dtype=torch.long) if has_types else None
        for row, item in enumerate(items):
            ids = item["input_ids"]
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[row, : len(ids)] = 1
            if types is not None:
                types[row, : len(ids)] = torch.tensor(item["token_type_ids"], dtype=torch.long)
        batch = {"input_ids": input_ids, "attention_mask": attention}
        if types is not None:
            batch["token_type_ids"] = types
        batch["index"] = torch.tensor([item["index"] for item in items], dtype=torch.long)
        if "labels" in items[0]:
            batch["labels"] = self.targets([item["labels"] for item in items], width)
        for key, collate in self.extra.items():
            if key in items[0]:
                batch[key] = collate([item[key] for item in items], width)
        return batch


def pad_sequences(values: list[list[int]], width: int, pad: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-token targets padded to ``width`` (padding ignored by the loss: PyTorch's ignore_index)."""
    out = torch.full((len(values), width), pad, dtype=torch.long)
    for row, value in enumerate(values):
        out[row, : len(value)] = torch.tensor(value, dtype=torch.long)
    return out
