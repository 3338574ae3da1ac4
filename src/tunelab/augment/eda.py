"""EDA (Wei & Zou 2019, "EDA: Easy Data Augmentation Techniques for Boosting Performance on Text
Classification Tasks"): synonym replacement, random insertion, random swap, random deletion.

The ops work on a token list and return an *edit*: the new tokens, each with the index of the
token it came from (None for an inserted one), so a caller can carry along what belongs to each
token (its whitespace, its NER tag). Tokens marked ``locked`` are never replaced, moved or
deleted (punctuation, entity tokens); no token is inserted before a ``glued`` one (the inside of
an entity). Only words (tokens with a letter or digit) are edited.

Each op changes ``n`` words, ``n = max(1, round(p * words))`` as in EDA's ``alpha * l``; random
deletion deletes ``n`` words too (EDA deletes each with probability ``p``: a fixed count never
leaves a copy unchanged, which would only duplicate the original), and always leaves a word.
Written here rather than taken from nlpaug or textattack: their EDA needs NLTK's WordNet and
tagger data, which only ``nltk.download()`` fetches (see :mod:`tunelab.augment.wordnet`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from tunelab.augment.text import count_for, is_word

Edit = list[tuple[str, int | None]]
Synonyms = Callable[[str], list[str]]
EDA_OPS = ("synonym", "insert", "swap", "delete")


def unchanged(tokens: Sequence[str]) -> Edit:
    return [(token, i) for i, token in enumerate(tokens)]


def _flags(flags: Sequence[bool] | None, n: int) -> Sequence[bool]:
    return flags if flags is not None else [False] * n


def editable(tokens: Sequence[str], locked: Sequence[bool] | None = None) -> list[int]:
    """Indices of the words an op may change."""
    lock = _flags(locked, len(tokens))
    return [i for i, token in enumerate(tokens) if not lock[i] and is_word(token)]


def synonym_replace(
    tokens: Sequence[str], n: int, rng: random.Random, synonyms: Synonyms, locked: Sequence[bool] | None = None
) -> Edit:
    """Up to ``n`` words that have synonyms, each replaced by one of them (a synonym of several
    words becomes several tokens)."""
    options = [(i, found) for i in editable(tokens, locked) if (found := synonyms(tokens[i]))]
    rng.shuffle(options)
    chosen = dict(options[:n])
    edit: Edit = []
    for i, token in enumerate(tokens):
        if i in chosen:
            parts = rng.choice(chosen[i]).split() or [token]
            edit.append((parts[0], i))
            edit.extend((part, None) for part in parts[1:])
        else:
            edit.append((token, i))
    return edit


def random_insert(
    tokens: Sequence[str],
    n: int,
    rng: random.Random,
    synonyms: Synonyms,
    locked: Sequence[bool] | None = None,
    glued: Sequence[bool] | None = None,
) -> Edit:
    """``n`` times: a synonym of a random word of the text inserted at a random place (never
    inside an entity)."""
    sources = [tokens[i] for i in editable(tokens, locked) if synonyms(tokens[i])]
    edit = unchanged(tokens)
    if not sources:
        return edit
    glue = list(_flags(glued, len(tokens)))
    for _ in range(n):
        parts = rng.choice(synonyms(rng.choice(sources))).split()
        places = [k for k in range(len(edit) + 1) if k == len(edit) or not glue[k]]
        k = rng.choice(places)
        edit[k:k] = [(part, None) for part in parts]
        glue[k:k] = [False] * len(parts)
    return edit


def random_swap(tokens: Sequence[str], n: int, rng: random.Random, locked: Sequence[bool] | None = None) -> Edit:
    """``n`` times: two different words swap places."""
    edit = unchanged(tokens)
    words = editable(tokens, locked)
    distinct = {tokens[i] for i in words}
    if len(distinct) < 2:
        return edit
    for _ in range(n):
        for _attempt in range(10):  # two equal words swapped change nothing: draw again
            i, j = rng.sample(words, 2)
            if edit[i][0] != edit[j][0]:
                edit[i], edit[j] = edit[j], edit[i]
                break
    return edit


def random_delete(tokens: Sequence[str], n: int, rng: random.Random, locked: Sequence[bool] | None = None) -> Edit:
    """``n`` words deleted, never every word of the text."""
    words = editable(tokens, locked)
    chosen = set(words)
    others = any(is_word(t) for i, t in enumerate(tokens) if i not in chosen)
    limit = len(words) if others else len(words) - 1
    gone = set(rng.sample(words, min(n, max(0, limit))))
    return [(token, i) for i, token in enumerate(tokens) if i not in gone]


def word_op(
    op: str,
    tokens: Sequence[str],
    p: float,
    rng: random.Random,
    synonyms: Synonyms,
    locked: Sequence[bool] | None = None,
    glued: Sequence[bool] | None = None,
) -> Edit:
    """One of the EDA ops by name (``synonym``, ``insert``, ``swap``, ``delete``) or ``eda``: one
    of the four drawn at random (then the others in random order while nothing changed)."""
    n = count_for(p, len(editable(tokens, locked)))
    if op == "eda":
        order = list(EDA_OPS)
        rng.shuffle(order)
        for name in order:
            edit = word_op(name, tokens, p, rng, synonyms, locked, glued)
            if [t for t, _ in edit] != list(tokens):
                return edit
        return unchanged(tokens)
    if op == "synonym":
        return synonym_replace(tokens, n, rng, synonyms, locked)
    if op == "insert":
        return random_insert(tokens, n, rng, synonyms, locked, glued)
    if op == "swap":
        return random_swap(tokens, n, rng, locked)
    if op == "delete":
        return random_delete(tokens, n, rng, locked)
    raise ValueError(f"not an EDA op: {op}")
