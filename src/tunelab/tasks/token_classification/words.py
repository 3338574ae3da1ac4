"""Words with character offsets: what every token-classification example looks like to the model.

Every example becomes a sequence of *words* with character offsets into a text:
- token-based examples (CoNLL, JSONL tokens): the given tokens, joined by single spaces, or by
  nothing where a CJK or full-width character is on either side (a one-character-per-line
  Chinese corpus reads "中国国籍", as its text did);
- text-based examples (span JSON, raw strings): CJK characters one by one, runs of letters and
  digits, single punctuation marks; for gold data, words are also cut at every entity boundary,
  so an entity that starts inside a Latin/digit run ("iPhone12" with "iPhone" tagged) still maps
  back to its exact characters.
The words become sub-words and windows in :mod:`tunelab.tasks.token_classification.align`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from tunelab.tasks.token_classification.example import NerExample, spans_to_char_tags

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af\U00020000-\U0002ffff"
# one CJK character | a run of word characters that are not CJK | one other visible character
WORD_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")
RUN_CHAR = re.compile(rf"[^\W{_CJK}]")  # a character of a letter/digit run (see WORD_RE)


@dataclass
class WordSequence:
    """What one example looks like to the model: words, their character spans, their IOB2 tags."""

    text: str
    words: list[str]
    offsets: list[tuple[int, int]]
    tags: list[str] | None = None
    tokens_given: bool = False  # pre-tokenised input: report token indices too


def split_words(text: str, boundaries: Sequence[int] = ()) -> list[tuple[int, int]]:
    """Character spans of the words of ``text``, also cut at each offset in ``boundaries``."""
    cuts = sorted(set(boundaries))
    spans: list[tuple[int, int]] = []
    for match in WORD_RE.finditer(text):
        start, end = match.span()
        for cut in cuts:
            if start < cut < end:
                spans.append((start, cut))
                start = cut
        spans.append((start, end))
    return spans


def is_wide(char: str) -> bool:
    """A CJK or full-width character (East Asian width W or F): written without spaces around it."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def join_tokens(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The text of pre-tokenised input and each token's character span in it: tokens are joined
    by a space, except where the character on either side of the join is CJK or full-width
    (a Chinese character corpus reads "中国国籍", not "中 国 国 籍"). A sentence given one character
    per token that contains CJK is a character corpus (Resume, MSRA): its digits and Latin letters
    are joined too, so "2007年" reads as written, not "2 0 0 7年"."""
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    position = 0
    char_corpus = all(len(t) == 1 for t in tokens) and any(is_wide(t) for t in tokens)
    for i, token in enumerate(tokens):
        if i and token and tokens[i - 1] and not char_corpus and not (is_wide(tokens[i - 1][-1]) or is_wide(token[0])):
            parts.append(" ")
            position += 1
        parts.append(token)
        offsets.append((position, position + len(token)))
        position += len(token)
    return "".join(parts), offsets


def to_words(example: NerExample) -> WordSequence:
    if example.text is None:
        text, offsets = join_tokens(example.tokens)
        tags = list(example.tags) if example.tags is not None else None
        return WordSequence(text, list(example.tokens), offsets, tags, tokens_given=True)
    text = example.text
    spans = example.spans
    cuts = [p for s in spans or () for p in (s.start, s.end)]
    offsets = split_words(text, cuts)
    tags = None
    if spans is not None:
        char_tags = spans_to_char_tags(text, spans)
        # a word is tagged like its first character (an entity never starts inside a word: see cuts)
        tags = [char_tags[start] for start, _ in offsets]
    return WordSequence(text, [text[s:e] for s, e in offsets], offsets, tags)
