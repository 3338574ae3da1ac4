"""Character noise on single tokens: typos, casing, punctuation. Each function returns a token
that differs from the one given (or the same token when nothing applies) and draws only from
the ``random.Random`` it is given.

Written here rather than taken from nlpaug (``KeyboardAug``, ``RandomCharAug``): nlpaug imports
pandas, gdown and BeautifulSoup at import time and draws from the global ``random`` state; these
few functions need neither, and keep a token's count (a tagged NER token stays one token).
"""

from __future__ import annotations

import random

from tunelab.augment import chinese
from tunelab.augment.text import has_cjk, is_punctuation, is_word

_ROWS = ("1234567890-", "qwertyuiop[", "asdfghjkl;'", "zxcvbnm,./")


def _keyboard() -> dict[str, str]:
    """QWERTY neighbours of each letter and digit: the keys around it, same row and the rows above and below."""
    position = {ch: (r, c) for r, row in enumerate(_ROWS) for c, ch in enumerate(row)}
    neighbours: dict[str, str] = {}
    for ch, (r, c) in position.items():
        if not ch.isalnum():
            continue
        near = [
            _ROWS[rr][cc]
            for rr in (r - 1, r, r + 1)
            for cc in (c - 1, c, c + 1)
            if 0 <= rr < len(_ROWS) and 0 <= cc < len(_ROWS[rr]) and (rr, cc) != (r, c)
        ]
        neighbours[ch] = "".join(n for n in near if n.isalnum())
    return neighbours


KEYBOARD = _keyboard()
PUNCTUATION_EN = ".,!?;:"
TYPO_KINDS = ("substitute", "delete", "duplicate", "transpose")


def typo(token: str, rng: random.Random) -> str:
    """One typing slip in ``token``: a letter replaced by a neighbouring key (by a homophone for a
    Chinese character), deleted (never the only one), doubled, or swapped with the next one."""
    if not token:
        return token
    kinds = []
    subs = [i for i, ch in enumerate(token) if ch.lower() in KEYBOARD or (has_cjk(ch) and chinese.homophones(ch))]
    if subs:
        kinds.append("substitute")
    if len(token) > 1:
        kinds.append("delete")
    kinds.append("duplicate")
    swaps = [i for i in range(len(token) - 1) if token[i] != token[i + 1]]
    if swaps:
        kinds.append("transpose")
    kind = rng.choice(kinds)
    if kind == "substitute":
        i = rng.choice(subs)
        ch = token[i]
        if has_cjk(ch):
            new = rng.choice(chinese.homophones(ch))
        else:
            new = rng.choice(KEYBOARD[ch.lower()])
            new = new.upper() if ch.isupper() else new
        return token[:i] + new + token[i + 1 :]
    if kind == "delete":
        i = rng.randrange(len(token))
        return token[:i] + token[i + 1 :]
    if kind == "duplicate":
        i = rng.randrange(len(token))
        return token[: i + 1] + token[i] + token[i + 1 :]
    i = rng.choice(swaps)
    return token[:i] + token[i + 1] + token[i] + token[i + 2 :]


def recase(token: str, rng: random.Random) -> str:
    """``token`` in another casing: lower, upper, capitalised or random per letter."""
    variants = {token.lower(), token.upper(), token[:1].upper() + token[1:].lower()}
    mixed = "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in token)
    variants.add(mixed)
    variants.discard(token)
    return rng.choice(sorted(variants)) if variants else token


def can_recase(token: str) -> bool:
    return any(ch.isalpha() and ch.lower() != ch.upper() for ch in token)


def repunctuate(token: str, rng: random.Random, language: str, *, keep_nonempty: bool = False) -> str:
    """A punctuation slip: a punctuation token dropped (``""``, unless ``keep_nonempty``) or
    changed to another mark; a word given a mark after it, or losing the marks it ends with."""
    marks = chinese.PUNCTUATION if language == "zh" else PUNCTUATION_EN
    if is_punctuation(token):
        others = [m for m in marks if m != token]
        if keep_nonempty or rng.random() < 0.5:
            return rng.choice(others)
        return ""
    stripped = token.rstrip(marks + PUNCTUATION_EN + chinese.PUNCTUATION)
    if stripped != token and stripped and rng.random() < 0.5:
        return stripped
    return token + rng.choice(marks)


def applies(op: str, token: str) -> bool:
    """Can char op ``op`` change this token?"""
    if op == "case":
        return can_recase(token)
    if op == "punctuation":
        return is_word(token) or is_punctuation(token)
    return is_word(token)
