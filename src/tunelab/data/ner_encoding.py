"""Words, sub-words and windows for token classification.

Every example becomes a sequence of *words* with character offsets into a text:
- token-based examples (CoNLL, JSONL tokens): the given tokens, joined by single spaces;
- text-based examples (span JSON, raw strings): CJK characters one by one, runs of letters and
  digits, single punctuation marks; for gold data, words are also cut at every entity boundary,
  so an entity that starts inside a Latin/digit run ("iPhone12" with "iPhone" tagged) still maps
  back to its exact characters.
The fast tokenizer splits words into sub-words (``is_split_into_words`` + ``word_ids``); a word's
first sub-word carries its label, the others are ignored (-100) unless all are labelled. A
sentence longer than the model's limit is cut into overlapping windows of whole words; each word
is later predicted from the window where it has the most context on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from transformers import PreTrainedTokenizerBase

from tunelab.data.batching import IGNORE_INDEX
from tunelab.data.encoding import EncodedDataset
from tunelab.data.ner_example import NerExample, spans_to_char_tags

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af\U00020000-\U0002ffff"
# one CJK character | a run of word characters that are not CJK | one other visible character
WORD_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")


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


def to_words(example: NerExample) -> WordSequence:
    if example.text is None:
        offsets, position = [], 0
        for token in example.tokens:
            offsets.append((position, position + len(token)))
            position += len(token) + 1
        tags = list(example.tags) if example.tags is not None else None
        return WordSequence(" ".join(example.tokens), list(example.tokens), offsets, tags, tokens_given=True)
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


@dataclass
class NerEncoded(EncodedDataset):
    """Encoded windows plus what is needed to map predictions back to words and characters."""

    sequences: list[WordSequence] = field(default_factory=list)
    item_sequence: list[int] = field(default_factory=list)  # window -> sequence
    item_word_ids: list[list[int | None]] = field(default_factory=list)  # window sub-word -> word (global index)
    num_windowed: int = 0


def _windows(counts: list[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Word ranges [start, end) whose sub-word counts fit ``budget``, consecutive ones sharing
    about ``overlap`` sub-words. A single word longer than the budget gets a window of its own."""
    windows, start, n = [], 0, len(counts)
    while start < n:
        end, used = start, 0
        while end < n and (used + counts[end] <= budget or end == start):
            used += counts[end]
            end += 1
        windows.append((start, end))
        if end >= n:
            break
        back, shared = end, 0
        while back - 1 > start and shared + counts[back - 1] <= overlap:
            back -= 1
            shared += counts[back]
        start = back
    return windows


def encode_words(
    tokenizer: PreTrainedTokenizerBase,
    sequences: list[WordSequence],
    tag2id: dict[str, int] | None,
    *,
    max_length: int,
    overlap: int,
    label_all_subwords: bool = False,
) -> NerEncoded:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("token classification needs a fast tokenizer (tokenizer.json) for word alignment")
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    budget = max(1, max_length - specials)
    word_lists = [seq.words for seq in sequences]
    wants_types = "token_type_ids" in tokenizer.model_input_names
    # One batched pass over every sentence; only sentences longer than the limit are tokenised
    # again, window by window.
    whole = tokenizer(word_lists, is_split_into_words=True, return_token_type_ids=wants_types) if sequences else None
    input_ids, token_types, labels, item_seq, item_words = [], [], [], [], []
    windowed = truncated = 0

    def add(s: int, ids: list[int], types: list[int] | None, words: list[int | None]) -> None:
        input_ids.append(ids)
        if wants_types:
            token_types.append(types if types is not None else [0] * len(ids))
        item_seq.append(s)
        item_words.append(words)
        if tag2id is not None and sequences[s].tags is not None:
            labels.append(_subword_labels(words, sequences[s].tags, tag2id, label_all_subwords))

    for s, seq in enumerate(sequences):
        word_ids = whole.word_ids(s)
        if len(word_ids) <= max_length:
            add(s, whole["input_ids"][s], whole["token_type_ids"][s] if wants_types else None, word_ids)
            continue
        counts = [0] * len(seq.words)
        for w in word_ids:
            if w is not None:
                counts[w] += 1
        windowed += 1
        for start, end in _windows(counts, budget, overlap):
            enc = tokenizer(seq.words[start:end], is_split_into_words=True, truncation=True, max_length=max_length,
                            return_token_type_ids=wants_types)
            truncated += len(enc["input_ids"]) < sum(counts[start:end]) + specials
            add(s, enc["input_ids"], enc.get("token_type_ids"), [None if w is None else w + start for w in enc.word_ids()])
    encoded = NerEncoded(
        input_ids,
        token_types if wants_types else None,
        labels if tag2id is not None and sequences and all(q.tags is not None for q in sequences) else None,
        num_truncated=truncated,
        sequences=sequences,
        item_sequence=item_seq,
        item_word_ids=item_words,
        num_windowed=windowed,
    )
    return encoded


def _subword_labels(words: list[int | None], tags: list[str], tag2id: dict[str, int], label_all: bool) -> list[int]:
    out, previous = [], None
    for w in words:
        if w is None:
            out.append(IGNORE_INDEX)
        elif w != previous:
            out.append(tag2id[tags[w]])
        elif label_all:
            tag = tags[w]
            out.append(tag2id["I-" + tag[2:]] if tag.startswith("B-") else tag2id[tag])
        else:
            out.append(IGNORE_INDEX)
        previous = w
    return out


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
