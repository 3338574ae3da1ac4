"""Augmentation and perturbation of NER examples: both kinds of :class:`NerExample` become
tagged words (:func:`to_words`), the span-aware ops of :mod:`tunelab.augment.spans` edit them, and
the result is written back as the same kind (a token-based example gets tokens and tags, a
text-based one a text and character spans)."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

from tunelab.augment import CHAR_OPS, Augmented, Augmenter
from tunelab.augment.spans import augment_tagged, mentions
from tunelab.errors import InputError
from tunelab.tasks.token_classification.example import NerExample, Span
from tunelab.tasks.token_classification.words import join_tokens, to_words


def tagged(example: NerExample) -> tuple[list[str], list[str]]:
    """The example's words and their IOB2 tags (no tags: an empty sentence, left alone)."""
    seq = to_words(example)
    if seq.tags is None:
        return [], []
    return list(seq.words), list(seq.tags)


def rebuild(example: NerExample, tokens: Sequence[str], tags: Sequence[str]) -> NerExample:
    """``example`` with new words and tags: tokens and tags, or (text-based) the words joined as
    :func:`join_tokens` joins them and the entities as character spans of that text."""
    if example.text is None:
        return dataclasses.replace(example, tokens=tuple(tokens), tags=tuple(tags))
    text, offsets = join_tokens(tokens)
    spans = tuple(Span(offsets[start][0], offsets[end - 1][1], type_) for type_, start, end in mentions(tags))
    return dataclasses.replace(example, text=text, spans=spans)


def augment_ner(examples: Sequence[NerExample], augmenter: Augmenter) -> list[Augmented]:
    sentences = [tagged(example) for example in examples]
    return [
        Augmented(op, rebuild(examples[index], tokens, tags))
        for index, op, (tokens, tags) in augment_tagged(sentences, augmenter)
    ]


def perturb_ner(examples: Sequence[NerExample], augmenter: Augmenter) -> list[NerExample]:
    """Character noise inside the tokens (entity tokens included, the point of the exercise);
    every token keeps its tag, a text-based example its spans (moved with their words)."""
    other = [op for op in augmenter.ops if op not in CHAR_OPS]
    if other:
        raise InputError(
            f"--perturb {', '.join(other)}: token classification keeps every token and its tag, so only "
            f"{', '.join(CHAR_OPS)} apply"
        )
    out = []
    for index, example in enumerate(examples):
        rng = augmenter.rng(index, "perturb", *augmenter.ops)
        if example.text is None:
            tokens = augmenter.perturb_tokens(example.tokens, rng)
            out.append(dataclasses.replace(example, tokens=tuple(tokens)))
            continue
        seq = to_words(example)
        words = augmenter.perturb_tokens(seq.words, rng)
        out.append(_respelled(example, seq.offsets, words))
    return out


def _respelled(example: NerExample, offsets: Sequence[tuple[int, int]], words: Sequence[str]) -> NerExample:
    """A text-based example whose words at ``offsets`` read ``words`` now; what lies between the
    words stays, and each span moves with the words it covers."""
    text = example.text or ""
    parts: list[str] = []
    position = 0
    growth = [0]  # growth[k]: how much longer the text got in the first k words
    for (start, end), word in zip(offsets, words):
        parts.append(text[position:start] + word)
        position = end
        growth.append(growth[-1] + len(word) - (end - start))
    parts.append(text[position:])
    starts = [s for s, _ in offsets]
    ends = [e for _, e in offsets]

    def moved_start(pos: int) -> int:  # words ending at or before pos shift it
        return pos + growth[bisect.bisect_right(ends, pos)]

    def moved_end(pos: int) -> int:  # words starting before pos shift it
        return pos + growth[bisect.bisect_left(starts, pos)]

    spans = tuple(Span(moved_start(s.start), moved_end(s.end), s.type) for s in example.spans or ())
    return dataclasses.replace(example, text="".join(parts), spans=spans if example.spans is not None else None)
