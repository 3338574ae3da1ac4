"""Window outputs back to words.

A sentence longer than the model's limit is cut into overlapping windows of whole words
(:mod:`tunelab.tasks.token_classification.align`); each word is predicted from the window where it
has the most context on both sides (:func:`word_outputs`). With the offsets alignment a word can
have no sub-word of its own, inside a piece that began in an earlier word; it continues that
word's tag (:func:`covering_words`, :func:`continued_tag`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.tasks.token_classification.align import NerEncoded


def continued_tag(tag: str) -> str:
    """The tag of a word inside a piece that began in a word tagged ``tag``."""
    return "O" if tag == "O" else "I-" + tag[2:]


def word_outputs(encoded: NerEncoded, outputs: Sequence[Any]) -> list[list[Any | None]]:
    """For each sequence, each word's output row (the first sub-word's), taken from the window
    where the word is farthest from a window edge; None for a word that produced no sub-word."""
    result: list[list[Any | None]] = [[None] * len(seq.words) for seq in encoded.sequences]
    margin: list[list[int]] = [[-1] * len(seq.words) for seq in encoded.sequences]
    for item, (s, words) in enumerate(zip(encoded.item_sequence, encoded.item_word_ids)):
        present = [w for w in words if w is not None]
        if not present:
            continue
        lo, hi = present[0], present[-1]
        previous = None
        for position, w in enumerate(words):
            if w is not None and w != previous:
                m = min(w - lo, hi - w)
                if m > margin[s][w]:
                    margin[s][w] = m
                    result[s][w] = outputs[item][position]
            previous = w
    return result


def covering_words(encoded: NerEncoded) -> list[list[int | None]]:
    """For each sequence, for each word that has no sub-word of its own in any window because a
    piece that starts in an earlier word covers it ("国" inside the piece "中国" when 中 and 国
    are words): the nearest earlier word with a sub-word of its own, whose tag it continues.
    None for every other word (always, for the word-list alignment)."""
    result: list[list[int | None]] = [[None] * len(seq.words) for seq in encoded.sequences]
    if not encoded.item_last_word_ids:
        return result
    own: list[set[int]] = [set() for _ in encoded.sequences]
    for s, firsts in zip(encoded.item_sequence, encoded.item_word_ids):
        own[s].update(w for w in firsts if w is not None)
    for s, firsts, lasts in zip(encoded.item_sequence, encoded.item_word_ids, encoded.item_last_word_ids):
        for first, last in zip(firsts, lasts):
            if first is None or last is None:
                continue
            for w in range(first + 1, last + 1):
                if w not in own[s] and result[s][w] is None:
                    result[s][w] = max(v for v in range(first, w) if v in own[s])
    return result
