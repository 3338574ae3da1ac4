"""Words of a text for the augmentation ops: tokens with the whitespace before each, so a text
whose words are edited in place reads exactly as before everywhere else; language detection.

English (and any space-separated language) is cut by a regular expression into words (letters
and digits, with inner apostrophes and hyphens: "don't", "e-mail") and single other characters
(punctuation, symbols). Chinese is cut into words by jieba (:mod:`tunelab.augment.chinese`),
since Chinese writes no spaces between words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LANGUAGES = ("en", "zh")

WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*|\S")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")


@dataclass
class Words:
    """``tokens`` of a text and ``gaps``: the whitespace before each token, then the text's
    trailing whitespace (``len(gaps) == len(tokens) + 1``). ``"".join`` of them interleaved is
    the text."""

    tokens: list[str]
    gaps: list[str]

    def text(self) -> str:
        return "".join(g + t for g, t in zip(self.gaps, self.tokens)) + self.gaps[-1]


def split_text(text: str, language: str) -> Words:
    """The tokens and gaps of ``text`` (see :class:`Words`)."""
    if language == "zh":
        from tunelab.augment.chinese import segment

        pieces = segment(text)
    else:
        pieces = [m.group() for m in re.finditer(r"\s+|" + WORD_RE.pattern, text)]
    tokens: list[str] = []
    gaps: list[str] = []
    pending = ""
    for piece in pieces:
        if piece.isspace():
            pending += piece
        else:
            tokens.append(piece)
            gaps.append(pending)
            pending = ""
    gaps.append(pending)
    return Words(tokens, gaps)


def join_edit(words: Words, edit: Sequence[tuple[str, int | None]], language: str) -> str:
    """The text of an edited token list: each output token ``(token, source index or None)``
    keeps the whitespace its source token had; an inserted one (None), or the first token moved
    elsewhere, gets a space in English and nothing in Chinese (but a space between two Latin or
    digit tokens). Empty tokens (deleted characters) vanish; the text keeps its leading and
    trailing whitespace."""
    parts: list[str] = []
    previous = ""
    for token, source in edit:
        if not token:
            continue
        if not parts:
            gap = words.gaps[0]
        elif source:  # an original token (not the first): its own whitespace
            gap = words.gaps[source]
        elif language == "zh":
            gap = " " if _latin_end(previous) and _latin_start(token) else ""
        else:
            gap = " "
        parts.append(gap + token)
        previous = token
    return "".join(parts) + words.gaps[-1]


def _latin_end(token: str) -> bool:
    return token[-1].isascii() and token[-1].isalnum()


def _latin_start(token: str) -> bool:
    return token[0].isascii() and token[0].isalnum()


def is_word(token: str) -> bool:
    """A token with a letter or digit in it (not punctuation, not a symbol)."""
    return any(ch.isalnum() for ch in token)


def is_punctuation(token: str) -> bool:
    return bool(token) and not is_word(token) and not token.isspace()


def has_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text))


def detect_language(texts: Iterable[str], limit: int = 2000) -> str:
    """``zh`` when Chinese characters make up more than a third of the letters of (the first
    ``limit``) texts, else ``en``."""
    cjk = latin = 0
    for i, text in enumerate(texts):
        if i >= limit:
            break
        cjk += len(_CJK_RE.findall(text))
        latin += len(_LATIN_RE.findall(text))
    return "zh" if cjk and cjk * 3 > cjk + latin else "en"


def count_for(p: float, words: int) -> int:
    """How many words an op changes: a share ``p`` of them, at least one (none of none)."""
    return 0 if words <= 0 else max(1, round(p * words))
