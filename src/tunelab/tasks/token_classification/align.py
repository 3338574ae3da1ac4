"""Words, sub-words and windows for token classification.

Every example becomes a sequence of *words* with character offsets into a text:
- token-based examples (CoNLL, JSONL tokens): the given tokens, joined by single spaces, or by
  nothing where a CJK or full-width character is on either side (a one-character-per-line
  Chinese corpus reads "中国国籍", as its text did);
- text-based examples (span JSON, raw strings): CJK characters one by one, runs of letters and
  digits, single punctuation marks; for gold data, words are also cut at every entity boundary,
  so an entity that starts inside a Latin/digit run ("iPhone12" with "iPhone" tagged) still maps
  back to its exact characters.
Words become sub-words in one of two ways, chosen from the tokenizer's model:
- WordPiece (BERT and its kin): the words are tokenised as a pre-split list
  (``is_split_into_words`` + ``word_ids``);
- any other model (byte-level BPE: GPT-2, RoBERTa, Qwen2, Llama 3; SentencePiece-style BPE or
  Unigram: Gemma, Llama 2, XLM-R): the *text* is tokenised, as in pretraining, and each token
  belongs to the first word its character offsets overlap (tokens of whitespace only and special
  tokens to none). CJK / full-width characters and non-ASCII punctuation are tokenised one by one
  so that every word boundary is a token boundary (see :func:`_tokenise_spans`); a word that
  still has no token of its own, inside a piece that began in an earlier word, continues that
  word's tag (:func:`covering_words`).
A word's first sub-word carries its label, the others are ignored (-100) unless all are labelled.
A sentence longer than the model's limit is cut into overlapping windows of whole words; each word
is later predicted from the window where it has the most context on both sides.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, Sequence

from tokenizers import models as tokenizer_models
from transformers import PreTrainedTokenizerBase

from tunelab.data.batching import IGNORE_INDEX
from tunelab.data.encoding import EncodedDataset
from tunelab.tasks.token_classification.example import NerExample, spans_to_char_tags

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af\U00020000-\U0002ffff"
# one CJK character | a run of word characters that are not CJK | one other visible character
WORD_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")
# offsets alignment: tokenise every CJK / full-width character and non-ASCII punctuation mark on its
# own (see _tokenise_spans)
SPLIT_WIDE = True
_RUN_CHAR = re.compile(rf"[^\W{_CJK}]")  # a character of a letter/digit run (see WORD_RE)


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
        if (i and token and tokens[i - 1] and not char_corpus
                and not (is_wide(tokens[i - 1][-1]) or is_wide(token[0]))):
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


@dataclass
class NerEncoded(EncodedDataset):
    """Encoded windows plus what is needed to map predictions back to words and characters."""

    sequences: list[WordSequence] = field(default_factory=list)
    item_sequence: list[int] = field(default_factory=list)  # window -> sequence
    item_word_ids: list[list[int | None]] = field(default_factory=list)  # window sub-word -> word (global index)
    # window sub-word -> the last word its characters overlap (offsets alignment only; empty for
    # the word-list alignment, where a sub-word never leaves its word)
    item_last_word_ids: list[list[int | None]] = field(default_factory=list)
    num_windowed: int = 0
    # gold words whose tag the alignment cannot give back: an entity boundary inside a piece that
    # covers several words (offsets alignment only; 0 with the default segmentation, see _tokenise_spans)
    num_boundaries_in_pieces: int = 0


def _window_end(counts: list[int], start: int, budget: int) -> int:
    """The end of the longest word range from ``start`` whose sub-word counts fit ``budget`` (at
    least one word)."""
    end, used, n = start, 0, len(counts)
    while end < n and (used + counts[end] <= budget or end == start):
        used += counts[end]
        end += 1
    return end


def _window_back(counts: list[int], start: int, end: int, overlap: int) -> int:
    """Where the window after [start, end) starts: about ``overlap`` sub-words back, after ``start``."""
    back, shared = end, 0
    while back - 1 > start and shared + counts[back - 1] <= overlap:
        back -= 1
        shared += counts[back]
    return back


def _windows(counts: list[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Word ranges [start, end) whose sub-word counts fit ``budget``, consecutive ones sharing
    about ``overlap`` sub-words. A single word longer than the budget gets a window of its own."""
    windows, start, n = [], 0, len(counts)
    while start < n:
        end = _window_end(counts, start, budget)
        windows.append((start, end))
        if end >= n:
            break
        start = _window_back(counts, start, end, overlap)
    return windows


def uses_word_lists(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True for WordPiece tokenizers (BERT and its kin), which are aligned through pre-split word
    lists; every other model (byte-level BPE, SentencePiece BPE or Unigram) is aligned through the
    character offsets of the tokenised text (see :func:`encode_words`)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is None or isinstance(backend.model, tokenizer_models.WordPiece)


def encode_words(
    tokenizer: PreTrainedTokenizerBase,
    sequences: list[WordSequence],
    tag2id: dict[str, int] | None,
    *,
    max_length: int,
    overlap: int,
    label_all_subwords: bool = False,
    split_wide: bool = SPLIT_WIDE,
) -> NerEncoded:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("token classification needs a fast tokenizer (tokenizer.json) for word alignment")
    if not uses_word_lists(tokenizer):
        return _encode_by_offsets(tokenizer, sequences, tag2id, max_length=max_length, overlap=overlap,
                                  label_all_subwords=label_all_subwords, split_wide=split_wide)
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
    return _encoded(input_ids, token_types if wants_types else None, labels, tag2id, sequences, item_seq, item_words,
                    num_truncated=truncated, num_windowed=windowed)


def _encoded(input_ids, token_types, labels, tag2id, sequences, item_seq, item_words, **counts: Any) -> NerEncoded:
    """The encoded windows; targets only when a tag map was given and every sequence is tagged."""
    labelled = tag2id is not None and bool(sequences) and all(q.tags is not None for q in sequences)
    return NerEncoded(input_ids, token_types, labels if labelled else None, sequences=sequences,
                      item_sequence=item_seq, item_word_ids=item_words, **counts)


def _own_segment(char: str) -> bool:
    """A character tokenised on its own (offsets alignment): CJK and full-width characters, and
    non-ASCII punctuation and symbols (“ ” … · — ℃, which Chinese text sets without spaces and
    decoder vocabularies merge, e.g. Gemma's piece "”“")."""
    return is_wide(char) or (char > "\x7f" and unicodedata.category(char)[0] in "PS")


def _run_cuts(seq: WordSequence) -> list[int]:
    """Offsets where two words touch inside a run of letters or digits: only gold entity
    boundaries cut such runs (see :func:`to_words`), so only training data has them."""
    text, offsets = seq.text, seq.offsets
    return [end for (_, end), (start, _) in zip(offsets, offsets[1:])
            if end == start and _RUN_CHAR.match(text, end - 1) and _RUN_CHAR.match(text, end)]


def _segments(text: str, lo: int, hi: int, cuts: Sequence[int] = ()) -> list[tuple[int, int]]:
    """``text[lo:hi]`` cut around every character that is tokenised on its own (the whitespace
    before one goes with it, so " 中" can still be the piece "▁中") and at ``cuts``; the rest
    stays whole, with its spaces."""
    points = {c for c in cuts if lo < c < hi}
    for i in range(lo, hi):
        if _own_segment(text[i]):
            start = i
            while start > lo and text[start - 1].isspace() and not _own_segment(text[start - 1]):
                start -= 1
            points.update((start, i + 1))
    bounds = [lo, *sorted(p for p in points if lo < p < hi), hi]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if a < b]


_Tokenised = tuple[list[int], list[int] | None, list[tuple[int, int] | None]]


def _tokenise_spans(
    tokenizer: PreTrainedTokenizerBase, pieces: list[tuple[str, int, int, Sequence[int]]], *, split_wide: bool,
    wants_types: bool, max_length: int | None = None,
) -> list[_Tokenised]:
    """Tokenise ``text[lo:hi]`` for each ``(text, lo, hi, cuts)``: input ids, token type ids, and
    each token's character span in ``text`` (None for special tokens).

    With ``split_wide``, a text that holds CJK / full-width characters, non-ASCII punctuation or
    ``cuts`` is tokenised as segments (:func:`_segments`, passed with ``is_split_into_words``,
    which for tokenizers that add no prefix space, such as Gemma, Qwen2 and Llama 3, only stops
    merges across segments and adds nothing between them), so no piece covers two such
    characters; any other text, English included, is tokenised whole, exactly as in
    pretraining. Tokenizers that prefix every pre-split word (Metaspace "always", RoBERTa with
    ``add_prefix_space``) see "▁中" for each character instead: offsets stay exact.

    Why: decoder vocabularies merge Chinese into multi-character pieces (Gemma: "中国", "境外"),
    and a character inside a piece cannot start or end an entity. Measured with the Gemma 3
    tokenizer and perfect outputs (scripts/check_alignment_roundtrip.py --tokenizer --compare),
    tokenising whole texts loses 0.35% of the gold entities of Resume train (47 of 13,440),
    5.2% of MSRA (4,236 of 80,901) and 6.9% of CLUENER train (1,664 of 23,969): "国" of
    "中国国籍" starts an entity while the piece "中国" is O, "”“" between two quoted titles is
    one piece. Splitting only at gold boundaries would train on tokenisations that prediction
    never sees (it does not know the boundaries), so the rule has to hold for any text: each
    such character is its own segment. Every gold entity of the four corpora then round-trips,
    English text keeps its own tokenisation (WNUT-17: identical tokens), and Chinese costs about
    a third more tokens (Gemma: 26.4 -> 36.2 per Resume sentence, 32.1 -> 44.0 MSRA, 28.2 ->
    37.3 CLUENER) on single-character pieces that are all in the vocabulary. The only
    gold-dependent cuts are ``cuts`` inside letter/digit runs, which exist in gold data only (63
    CLUENER train entities such as "CPL" of "CPL2010", "GSL" of "GSLA"; without these cuts 9 are
    lost); prediction tokenises such a run whole, as the word-list alignment does.
    """
    kwargs: dict[str, Any] = dict(return_offsets_mapping=True, return_special_tokens_mask=True,
                                  return_token_type_ids=wants_types)
    if max_length is not None:
        kwargs.update(truncation=True, max_length=max_length)
    whole_ix, split_ix, split_segments = [], [], []
    for i, (text, lo, hi, cuts) in enumerate(pieces):
        segments = _segments(text, lo, hi, cuts) if split_wide else []
        if len(segments) > 1:
            split_ix.append(i)
            split_segments.append(segments)
        else:
            whole_ix.append(i)
    out: list[_Tokenised | None] = [None] * len(pieces)
    if whole_ix:
        enc = tokenizer([pieces[i][0][pieces[i][1]:pieces[i][2]] for i in whole_ix], **kwargs)
        for k, i in enumerate(whole_ix):
            lo = pieces[i][1]
            spans = [None if special else (lo + a, lo + b)
                     for (a, b), special in zip(enc["offset_mapping"][k], enc["special_tokens_mask"][k])]
            out[i] = (enc["input_ids"][k], enc["token_type_ids"][k] if wants_types else None, spans)
    if split_ix:
        texts = [[pieces[i][0][a:b] for a, b in segments] for i, segments in zip(split_ix, split_segments)]
        enc = tokenizer(texts, is_split_into_words=True, **kwargs)
        for k, (i, segments) in enumerate(zip(split_ix, split_segments)):
            spans = []
            for (a, b), j, special in zip(enc["offset_mapping"][k], enc.word_ids(k), enc["special_tokens_mask"][k]):
                # offsets of pre-split input are relative to the segment
                spans.append(None if special or j is None else (segments[j][0] + a, segments[j][0] + b))
            out[i] = (enc["input_ids"][k], enc["token_type_ids"][k] if wants_types else None, spans)
    return out  # type: ignore[return-value]


def _align(spans: list[tuple[int, int] | None], starts: list[int], ends: list[int], lo: int, hi: int
           ) -> tuple[list[int | None], list[int | None]]:
    """For each token, the first and the last of the words ``lo..hi-1`` its characters overlap
    (None, None for special tokens and tokens that cover only whitespace)."""
    firsts: list[int | None] = []
    lasts: list[int | None] = []
    for span in spans:
        first = last = None
        if span is not None and span[0] < span[1]:
            a, b = span
            i = bisect_right(ends, a, lo, hi)  # the first word that ends after the token starts
            if i < hi and starts[i] < b:
                first, last = i, bisect_left(starts, b, lo, hi) - 1
        firsts.append(first)
        lasts.append(last)
    return firsts, lasts


def _encode_by_offsets(
    tokenizer: PreTrainedTokenizerBase,
    sequences: list[WordSequence],
    tag2id: dict[str, int] | None,
    *,
    max_length: int,
    overlap: int,
    label_all_subwords: bool,
    split_wide: bool,
) -> NerEncoded:
    """:func:`encode_words` for tokenizers that are not WordPiece: the text is tokenised as the
    model saw text in pretraining, and each token belongs to the first word its characters
    overlap. A word inside a piece that started in an earlier word has no token of its own and
    takes the tag of the word before it (:func:`covering_words`); a window of a long sentence is
    the text from the end of the word before its first word (so a leading "▁"/"Ġ" piece stays as
    it is) to the end of its last word."""
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    budget = max(1, max_length - specials)
    wants_types = "token_type_ids" in tokenizer.model_input_names
    options = dict(split_wide=split_wide, wants_types=wants_types)
    run_cuts = [_run_cuts(seq) if split_wide else [] for seq in sequences]
    whole = _tokenise_spans(tokenizer, [(seq.text, 0, len(seq.text), run_cuts[s]) for s, seq in enumerate(sequences)],
                            **options)
    input_ids, token_types, labels, item_seq, item_words, item_lasts = [], [], [], [], [], []
    windowed = truncated = 0

    def add(s: int, ids: list[int], types: list[int] | None, firsts: list[int | None], lasts: list[int | None]) -> None:
        input_ids.append(ids)
        if wants_types:
            token_types.append(types if types is not None else [0] * len(ids))
        item_seq.append(s)
        item_words.append(firsts)
        item_lasts.append(lasts)
        if tag2id is not None and sequences[s].tags is not None:
            labels.append(_subword_labels(firsts, sequences[s].tags, tag2id, label_all_subwords))

    for s, seq in enumerate(sequences):
        n = len(seq.words)
        starts, ends = [a for a, _ in seq.offsets], [b for _, b in seq.offsets]
        ids, types, spans = whole[s]
        firsts, lasts = _align(spans, starts, ends, 0, n)
        if len(ids) <= max_length:
            add(s, ids, types, firsts, lasts)
            continue
        counts = [0] * n
        for w in firsts:
            if w is not None:
                counts[w] += 1
        windowed += 1
        start = 0
        while start < n:
            end = _window_end(counts, start, budget)
            lo = ends[start - 1] if start else 0
            while True:  # a window's own tokenisation can differ at its edges: shrink it until it fits
                piece = (seq.text, lo, ends[end - 1], run_cuts[s])
                ids, types, spans = _tokenise_spans(tokenizer, [piece], **options)[0]
                if len(ids) <= max_length or end - start == 1:
                    break
                end -= 1
            if len(ids) > max_length:  # one word longer than the limit: cut it
                truncated += 1
                ids, types, spans = _tokenise_spans(tokenizer, [piece], **options, max_length=max_length)[0]
            firsts, lasts = _align(spans, starts, ends, start, end)
            add(s, ids, types, firsts, lasts)
            if end >= n:
                break
            start = _window_back(counts, start, end, overlap)
    encoded = _encoded(input_ids, token_types if wants_types else None, labels, tag2id, sequences, item_seq,
                       item_words, item_last_word_ids=item_lasts, num_truncated=truncated, num_windowed=windowed)
    encoded.num_boundaries_in_pieces = sum(
        tags[w] != continued_tag(tags[cover])
        for seq, covers in zip(sequences, covering_words(encoded)) if (tags := seq.tags) is not None
        for w, cover in enumerate(covers) if cover is not None
    )
    return encoded


def continued_tag(tag: str) -> str:
    """The tag of a word inside a piece that began in a word tagged ``tag``."""
    return "O" if tag == "O" else "I-" + tag[2:]


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
