"""Span-aware augmentation of tagged sentences (tokens with IOB2 tags), after Dai & Adel 2020
("An Analysis of Simple Data Augmentation for Named Entity Recognition"):

- ``mention_replace``: entity mentions replaced by another mention of the same type seen in
  the training set; the new mention is tagged ``B-TYPE I-TYPE ...`` whatever its length;
- ``token_replace`` (label-wise token replacement): tokens replaced by another training token
  that has the same tag, so the tag sequence stays as it was;
- the text ops (EDA, synonyms, typos, casing, punctuation) on the ``O`` tokens only: entity
  tokens are never changed, moved or deleted and nothing is inserted inside an entity.

Every op changes ``max(1, round(p * n))`` of its candidates (mentions, tokens, O words). A
corpus of one Chinese character per token (Resume, MSRA) is edited word by word: each run of
``O`` characters is cut into words by jieba first, and the result is split into characters again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from tunelab.augment.augmenter import SPAN_OPS, Augmenter
from tunelab.augment.text import count_for, has_cjk

Tagged = tuple[list[str], list[str]]  # tokens, IOB2 tags


def mentions(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(type, start, end)`` of every entity of valid IOB2 tags."""
    found: list[tuple[str, int, int]] = []
    for i, tag in enumerate(tags):
        if tag.startswith("B-"):
            found.append((tag[2:], i, i + 1))
        elif tag.startswith("I-") and found and found[-1][2] == i and found[-1][0] == tag[2:]:
            found[-1] = (found[-1][0], found[-1][1], i + 1)
    return found


def valid_iob2(tags: Sequence[str]) -> bool:
    """Every tag is O, B-X or I-X, and every I-X continues an X entity."""
    previous = "O"
    for tag in tags:
        if tag != "O" and tag[:2] not in ("B-", "I-"):
            return False
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


class Pools:
    """What the span ops draw from: the distinct mentions per entity type and the distinct tokens
    per tag of the training sentences, in first-seen order (reproducible)."""

    def __init__(self, sentences: Sequence[Tagged]) -> None:
        by_type: dict[str, dict[tuple[str, ...], None]] = {}
        by_tag: dict[str, dict[str, None]] = {}
        for tokens, tags in sentences:
            for type_, start, end in mentions(tags):
                by_type.setdefault(type_, {})[tuple(tokens[start:end])] = None
            for token, tag in zip(tokens, tags):
                by_tag.setdefault(tag, {})[token] = None
        self.mentions = {t: list(m) for t, m in by_type.items()}
        self.tokens = {t: list(m) for t, m in by_tag.items()}


def mention_replace(tokens: Sequence[str], tags: Sequence[str], pools: Pools, p: float, rng: random.Random) -> Tagged:
    """A share ``p`` of the mentions (at least one) replaced by other mentions of their type."""
    found = [m for m in mentions(tags) if len(pools.mentions.get(m[0], ())) > 1]
    chosen = sorted(rng.sample(found, min(count_for(p, len(found)), len(found))), key=lambda m: m[1])
    out_tokens, out_tags = list(tokens), list(tags)
    for type_, start, end in reversed(chosen):  # from the right: earlier offsets stay valid
        current = tuple(tokens[start:end])
        new = rng.choice([m for m in pools.mentions[type_] if m != current])
        out_tokens[start:end] = list(new)
        out_tags[start:end] = [f"B-{type_}"] + [f"I-{type_}"] * (len(new) - 1)
    return out_tokens, out_tags


def token_replace(tokens: Sequence[str], tags: Sequence[str], pools: Pools, p: float, rng: random.Random) -> Tagged:
    """A share ``p`` of the tokens (at least one) replaced by other training tokens with their tag."""
    options = [i for i, tag in enumerate(tags) if len(pools.tokens.get(tag, ())) > 1]
    chosen = rng.sample(options, min(count_for(p, len(options)), len(options)))
    out = list(tokens)
    for i in sorted(chosen):
        out[i] = rng.choice([t for t in pools.tokens[tags[i]] if t != tokens[i]])
    return out, list(tags)


def _char_corpus(tokens: Sequence[str]) -> bool:
    return bool(tokens) and all(len(t) == 1 for t in tokens) and any(has_cjk(t) for t in tokens)


def text_op_on_outside(
    op: str, tokens: Sequence[str], tags: Sequence[str], augmenter: Augmenter, rng: random.Random
) -> Tagged:
    """A text op on the O tokens of a tagged sentence; entities stay exactly as they were."""
    units, unit_tags = list(tokens), list(tags)
    chars = augmenter.language == "zh" and _char_corpus(tokens)
    if chars:  # runs of O characters become jieba words, entities stay characters
        from tunelab.augment.chinese import segment

        units, unit_tags = [], []
        i = 0
        while i < len(tokens):
            if tags[i] != "O":
                units.append(tokens[i])
                unit_tags.append(tags[i])
                i += 1
                continue
            j = i
            while j < len(tokens) and tags[j] == "O":
                j += 1
            words = [w for w in segment("".join(tokens[i:j])) if w]
            units.extend(words)
            unit_tags.extend(["O"] * len(words))
            i = j
    locked = [tag != "O" for tag in unit_tags]
    glued = [tag.startswith("I-") for tag in unit_tags]
    edit = augmenter.edit_tokens(op, units, rng, locked=locked, glued=glued)
    out_tokens: list[str] = []
    out_tags: list[str] = []
    for token, source in edit:
        if not token:
            continue
        tag = unit_tags[source] if source is not None and locked[source] else "O"
        pieces = list(token) if chars else [token]
        out_tokens.extend(pieces)
        out_tags.extend([tag] * len(pieces))  # an entity unit is one character: one tag
    return out_tokens, out_tags


def augment_tagged(sentences: Sequence[Tagged], augmenter: Augmenter) -> list[tuple[int, str, Tagged]]:
    """``(sentence index, op, (tokens, tags))`` of every new sentence: each op and copy of each
    sentence, minus those equal to the sentence or to an earlier copy, or left without tokens."""
    pools = Pools(sentences) if augmenter.span_ops else None
    out: list[tuple[int, str, Tagged]] = []
    for index, (tokens, tags) in enumerate(sentences):
        if not tokens:
            continue
        seen = {tuple(tokens)}
        for op, rng in augmenter.draws(index):
            if op in SPAN_OPS:
                assert pools is not None
                replace = mention_replace if op == "mention_replace" else token_replace
                new = replace(tokens, tags, pools, augmenter.p, rng)
            else:
                new = text_op_on_outside(op, tokens, tags, augmenter, rng)
            key = tuple(new[0])
            if not new[0] or key in seen:
                continue
            seen.add(key)
            out.append((index, op, new))
    return out
