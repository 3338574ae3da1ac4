"""Tokenise a split once, keep the ids, and count what truncation cut.

Texts are tokenised without padding; batches are padded later to their own longest member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging


@dataclass
class EncodedDataset(torch.utils.data.Dataset):
    """Token ids of every example (unpadded) plus its target, indexable by example position."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: list[Any] | None = None
    num_truncated: int = 0
    examples: list[Any] = field(default_factory=list)  # the examples encoded, for decoding predictions
    lengths: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.lengths = [len(ids) for ids in self.input_ids]

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"input_ids": self.input_ids[index], "index": index}
        if self.token_type_ids is not None:
            item["token_type_ids"] = self.token_type_ids[index]
        if self.labels is not None:
            item["labels"] = self.labels[index]
        return item


def encode_texts(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    pairs: Sequence[str | None] | None = None,
    *,
    max_length: int,
    labels: list[Any] | None = None,
) -> EncodedDataset:
    """Tokenise in one batched call of the fast tokenizer.

    The first pass does not truncate, so the lengths tell exactly which texts exceed
    ``max_length``; only those few are encoded a second time with truncation. That is cheaper than
    encoding everything twice and lets the report say how many texts were cut.
    """
    texts = list(texts)
    use_pairs = pairs is not None and any(p is not None for p in pairs)
    pair_list = [p or "" for p in pairs] if pairs is not None and use_pairs else None
    wants_types = "token_type_ids" in tokenizer.model_input_names
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # silence "sequence longer than the model maximum": we truncate below
    try:
        enc = tokenizer(texts, pair_list, truncation=False, return_token_type_ids=wants_types)
        input_ids = enc["input_ids"]
        token_types = enc.get("token_type_ids") if wants_types else None
        long_rows = [i for i, ids in enumerate(input_ids) if len(ids) > max_length]
        if long_rows:
            cut = tokenizer(
                [texts[i] for i in long_rows],
                [pair_list[i] for i in long_rows] if pair_list else None,
                truncation=True,
                max_length=max_length,
                return_token_type_ids=wants_types,
            )
            for j, i in enumerate(long_rows):
                input_ids[i] = cut["input_ids"][j]
                if token_types is not None:
                    token_types[i] = cut["token_type_ids"][j]
    finally:
        hf_logging.set_verbosity(verbosity)
    return EncodedDataset(
        list(input_ids), list(token_types) if token_types is not None else None, labels, len(long_rows)
    )
