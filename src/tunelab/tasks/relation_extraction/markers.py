"""Entity markers as special tokens, and encoding a relation example around them.

The markers (``<e1>`` ... ``</e1>``, ``<e2>`` ... ``</e2>``, typed ``<e1:PER>`` ... ``</e1:PER>`` when the
entities have types) are inserted into the text and added to the tokenizer as special tokens, so
each is one token the model learns. The relation is read from the hidden states of the two start
markers ("entity start", Baldini Soares et al. 2019; typed markers: Zhou & Chen 2021), or from the
first token (``cls``; the last token on a tokenizer without a [CLS], i.e. a decoder, whose last
position is the only one that sees the whole text). A text longer than the model's limit loses the
tokens farthest from the entities, never a marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.relation_extraction.example import Entity, RelationExample

POSITIONS = "entity_positions"


def marker_pair(which: str, type_: str | None) -> tuple[str, str]:
    """(start, end) marker strings of argument ``which`` ("e1" or "e2")."""
    return (f"<{which}>", f"</{which}>") if type_ is None else (f"<{which}:{type_}>", f"</{which}:{type_}>")


def marker_tokens(types: Sequence[str] | None) -> list[str]:
    """Every marker the model knows, in a fixed order (the order they are added to the vocabulary):
    the untyped ones, then per type the typed ones."""
    tokens = [t for which in ("e1", "e2") for t in marker_pair(which, None)]
    for type_ in types or ():
        tokens += [t for which in ("e1", "e2") for t in marker_pair(which, type_)]
    return tokens


def insert_markers(
    text: str, head: Entity, tail: Entity, head_markers: tuple[str, str], tail_markers: tuple[str, str]
) -> str:
    """The text with the markers around both spans. At one position, end markers come before start
    markers; an outer span opens before and closes after an inner one (nested and identical spans
    stay well formed; e1 is the outer one of two identical spans)."""
    inserts: list[tuple[int, int, int, str]] = []  # (position, kind: 0 end / 1 start, tie, marker)
    for rank, (span, (start_marker, end_marker)) in enumerate(((head, head_markers), (tail, tail_markers))):
        # starts: the longer span (outer) first, e1 before e2; ends: the later-starting (inner) first
        inserts.append((span.start, 1, -(span.end - span.start) * 2 + rank, start_marker))
        inserts.append((span.end, 0, -span.start * 2 - rank, end_marker))
    inserts.sort()
    parts, last = [], 0
    for position, _, _, marker in inserts:
        parts.append(text[last:position])
        parts.append(marker)
        last = position
    parts.append(text[last:])
    return "".join(parts)


def add_markers(tokenizer: PreTrainedTokenizerBase, tokens: Sequence[str]) -> int:
    """Add the markers the tokenizer lacks as special tokens (never split, never lower-cased), in
    order; returns how many were added. The same tokenizer and tokens always give the same ids."""
    from tokenizers import AddedToken

    vocab = tokenizer.get_vocab()
    missing = [t for t in tokens if t not in vocab]
    if missing:
        tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in missing], special_tokens=True)
    return len(missing)


def init_marker_embeddings(
    model: Any, tokenizer: PreTrainedTokenizerBase, base: PreTrainedTokenizerBase, tokens: Sequence[str]
) -> None:
    """Give the model rows for the markers and start each at the mean embedding of the marker's
    text as the base tokenizer splits it ("<", "e", "##1", ">"): distinct markers start apart, and an
    artifact whose method stores only the trained weights rebuilds the same rows."""
    embeddings = model.get_input_embeddings()
    size = max(len(tokenizer), embeddings.weight.shape[0])
    if size > embeddings.weight.shape[0]:
        model.resize_token_embeddings(size, mean_resizing=False)
        embeddings = model.get_input_embeddings()
    with torch.no_grad():
        for token in tokens:
            new_id = tokenizer.convert_tokens_to_ids(token)
            pieces = [i for i in base(token, add_special_tokens=False)["input_ids"] if i < embeddings.weight.shape[0]]
            if pieces:
                embeddings.weight[new_id] = embeddings.weight[pieces].mean(dim=0)


@dataclass
class RelationEncoded(EncodedDataset):
    """Token ids (markers inserted, cut around the entities) and the positions the head reads."""

    entity_positions: list[list[int]] = field(default_factory=list)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        item[POSITIONS] = self.entity_positions[index]
        return item


def _frame(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """How many special tokens the tokenizer puts before and after a text ([CLS] ... [SEP]: 1, 1;
    Gemma's <bos> ...: 1, 0)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for k in range(len(full) - len(plain) + 1):
        if full[k : k + len(plain)] == plain:
            return k, len(full) - k - len(plain)
    return 0, 0


def keep_around(body_length: int, markers: Sequence[int], budget: int, spans: Sequence[tuple[int, int]]) -> list[int]:
    """Which of ``body_length`` token positions to keep when only ``budget`` fit: the markers, then
    the entities' own tokens, then context nearest the entities; kept in text order."""
    if body_length <= budget:
        return list(range(body_length))
    if budget < len(markers):
        raise ConfigError(
            f"model.max_length leaves room for {budget} text tokens, fewer than the {len(markers)} entity markers"
        )
    index = np.arange(body_length)
    distance = np.min(np.abs(index[:, None] - np.asarray(markers)[None, :]), axis=1).astype(np.float64)
    for start, end in spans:  # inside an entity: ahead of any context
        inside = (index > start) & (index < end)
        distance[inside] = (index[inside] - start) / (body_length + 1.0)
    distance[list(markers)] = -1.0
    order = np.lexsort((index, distance))
    return sorted(order[:budget].tolist())


def encode_relations(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[RelationExample],
    *,
    max_length: int,
    typed: bool,
    representation: str,
    label2id: dict[str, int] | None,
) -> RelationEncoded:
    """Marked texts tokenised in one call; each cut around its entities when too long."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "longer than the model maximum": cut below
    try:
        marked = []
        for ex in examples:
            head = marker_pair("e1", ex.head.type if typed else None)
            tail = marker_pair("e2", ex.tail.type if typed else None)
            marked.append((insert_markers(ex.text, ex.head, ex.tail, head, tail), head, tail))
        ids_all = (
            tokenizer([m for m, _, _ in marked], add_special_tokens=True, truncation=False)["input_ids"]
            if marked
            else []
        )
        prefix, suffix = _frame(tokenizer)
    finally:
        hf_logging.set_verbosity(verbosity)
    wants_types = "token_type_ids" in tokenizer.model_input_names
    use_cls = tokenizer.cls_token_id is not None
    budget = max_length - prefix - suffix
    input_ids, positions, cut = [], [], 0
    for ex, ids, (_, head, tail) in zip(examples, ids_all, marked):
        body = ids[prefix : len(ids) - suffix]
        marker_ids = [tokenizer.convert_tokens_to_ids(m) for m in (*head, *tail)]
        found = [[i for i, t in enumerate(body) if t == m] for m in marker_ids]
        if any(len(f) != 1 for f in found):
            raise DataError(
                "the text itself contains an entity marker string (such as <e1>) or a marker is not a single token; "
                "remove marker strings from the text",
                ex.source or None,
                ex.line or None,
                "text",
            )
        hs, he, ts, te = (f[0] for f in found)
        keep = keep_around(len(body), (hs, he, ts, te), budget, ((hs, he), (ts, te)))
        if len(keep) < len(body):
            cut += 1
            body = [body[i] for i in keep]
            where = {old: new for new, old in enumerate(keep)}
            hs, ts = where[hs], where[ts]
        full = ids[:prefix] + body + ids[len(ids) - suffix :]
        input_ids.append(full)
        if representation == "cls":
            positions.append([0 if use_cls else len(full) - 1])
        else:
            positions.append([prefix + hs, prefix + ts])
    labelled = bool(examples) and label2id is not None and all(ex.label is not None for ex in examples)
    labels = [label2id[ex.label] for ex in examples] if labelled and label2id is not None else None  # type: ignore[index]
    types = [[0] * len(ids) for ids in input_ids] if wants_types else None
    encoded = RelationEncoded(input_ids, types, labels, cut, list(examples), entity_positions=positions)
    return encoded
