"""Sub-words and windows for token classification.

The words of a :class:`~tunelab.tasks.token_classification.words.WordSequence` become sub-words in
one of two ways, chosen from the tokenizer's model (:func:`uses_word_lists`):
- WordPiece (BERT and its kin): the words are tokenised as a pre-split list
  (``is_split_into_words`` + ``word_ids``);
- any other model (byte-level BPE: GPT-2, RoBERTa, Qwen2, Llama 3; SentencePiece-style BPE or
  Unigram: Gemma, Llama 2, XLM-R): the *text* is tokenised, as in pretraining, and each token
  belongs to the first word its character offsets overlap (tokens of whitespace only and special
  tokens to none). CJK / full-width characters and non-ASCII punctuation are tokenised one by one
  so that every word boundary is a token boundary (see :func:`_tokenise_spans`); a word that
  still has no token of its own, inside a piece that began in an earlier word, continues that
  word's tag (:func:`~tunelab.tasks.token_classification.decode.covering_words`).
A word's first sub-word carries its label, the others are ignored (-100) unless all are labelled.
A sentence longer than the model's limit is cut into overlapping windows of whole words, by one
loop for both ways (:func:`_walk`); each word is later predicted from the window where it has the
most context on both sides (:mod:`tunelab.tasks.token_classification.decode`).
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenizers import models as tokenizer_models
from transformers import PreTrainedTokenizerBase

from tunelab.data.batching import IGNORE_INDEX
from tunelab.data.encoding import EncodedDataset
from tunelab.tasks.token_classification.decode import continued_tag, covering_words
from tunelab.tasks.token_classification.words import RUN_CHAR, WordSequence, is_wide

# offsets alignment: tokenise every CJK / full-width character and non-ASCII punctuation mark on its
# own (see _tokenise_spans)
SPLIT_WIDE = True


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
    """Each sequence as one window, or as overlapping windows of whole words when it is longer
    than ``max_length`` (:func:`_walk`), aligned through word lists or character offsets
    (:func:`uses_word_lists`); labels only when ``tag2id`` is given and every sequence is tagged."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("token classification needs a fast tokenizer (tokenizer.json) for word alignment")
    wants_types = "token_type_ids" in tokenizer.model_input_names
    kind: _WordLists | _Offsets
    if uses_word_lists(tokenizer):
        kind = _WordLists(tokenizer, sequences, wants_types)
    else:
        kind = _Offsets(tokenizer, sequences, wants_types, split_wide)
    return _walk(
        kind,
        sequences,
        tag2id,
        specials=tokenizer.num_special_tokens_to_add(pair=False),
        max_length=max_length,
        overlap=overlap,
        label_all_subwords=label_all_subwords,
        wants_types=wants_types,
    )


# One window's tokenisation: input ids, token type ids (None where the tokenizer has none), and for
# each sub-word the first and the last word (global indices) it belongs to; the lasts are None for
# the word-list alignment, where a sub-word never leaves its word.
_Window = tuple[list[int], list[int] | None, list[int | None], list[int | None] | None]


class _WordLists:
    """WordPiece: the words are tokenised as a pre-split list (``is_split_into_words`` +
    ``word_ids``). Every word is tokenised on its own, so a window's sub-words are exactly its
    words' share of the whole sentence's: a window whose counts fit the budget fits the limit."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, sequences: list[WordSequence], wants_types: bool):
        self.tokenizer, self.sequences, self.wants_types = tokenizer, sequences, wants_types

    def whole(self) -> list[_Window]:
        """Every sentence, tokenised in one batched call."""
        if not self.sequences:
            return []
        enc = self.tokenizer(
            [seq.words for seq in self.sequences], is_split_into_words=True, return_token_type_ids=self.wants_types
        )
        return [
            (enc["input_ids"][s], enc["token_type_ids"][s] if self.wants_types else None, enc.word_ids(s), None)
            for s in range(len(self.sequences))
        ]

    def window(self, s: int, start: int, end: int, max_length: int | None = None) -> _Window:
        """Words [start, end) of sentence ``s``, cut to ``max_length`` sub-words if given."""
        limit: dict[str, Any] = {} if max_length is None else dict(truncation=True, max_length=max_length)
        enc = self.tokenizer(
            self.sequences[s].words[start:end],
            is_split_into_words=True,
            return_token_type_ids=self.wants_types,
            **limit,
        )
        words = [None if w is None else w + start for w in enc.word_ids()]
        return enc["input_ids"], enc["token_type_ids"] if self.wants_types else None, words, None


class _Offsets:
    """Any tokenizer that is not WordPiece: the text is tokenised as the model saw text in
    pretraining, and each token belongs to the first word its characters overlap. A word inside
    a piece that started in an earlier word has no token of its own and takes the tag of the word
    before it (:func:`covering_words`); a window of a long sentence is the text from the end of
    the word before its first word (so a leading "▁"/"Ġ" piece stays as it is) to the end of its
    last word, whose own tokenisation can differ at its edges from its share of the sentence's."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, sequences: list[WordSequence], wants_types: bool, split_wide: bool
    ):
        self.tokenizer, self.sequences = tokenizer, sequences
        self.options = dict(split_wide=split_wide, wants_types=wants_types)
        self.run_cuts: list[Sequence[int]] = [_run_cuts(seq) if split_wide else [] for seq in sequences]
        self.starts = [[a for a, _ in seq.offsets] for seq in sequences]
        self.ends = [[b for _, b in seq.offsets] for seq in sequences]

    def whole(self) -> list[_Window]:
        """Every sentence, tokenised in one batched call."""
        pieces = [(seq.text, 0, len(seq.text), self.run_cuts[s]) for s, seq in enumerate(self.sequences)]
        tokenised = _tokenise_spans(self.tokenizer, pieces, **self.options)
        return [self._aligned(s, t, 0, len(seq.words)) for s, (seq, t) in enumerate(zip(self.sequences, tokenised))]

    def window(self, s: int, start: int, end: int, max_length: int | None = None) -> _Window:
        """Words [start, end) of sentence ``s``, cut to ``max_length`` tokens if given."""
        ends = self.ends[s]
        piece = (self.sequences[s].text, ends[start - 1] if start else 0, ends[end - 1], self.run_cuts[s])
        tokenised = _tokenise_spans(self.tokenizer, [piece], **self.options, max_length=max_length)[0]
        return self._aligned(s, tokenised, start, end)

    def _aligned(self, s: int, tokenised: _Tokenised, lo: int, hi: int) -> _Window:
        ids, types, spans = tokenised
        firsts, lasts = _align(spans, self.starts[s], self.ends[s], lo, hi)
        return ids, types, firsts, lasts


def _walk(
    kind: _WordLists | _Offsets,
    sequences: list[WordSequence],
    tag2id: dict[str, int] | None,
    *,
    specials: int,
    max_length: int,
    overlap: int,
    label_all_subwords: bool,
    wants_types: bool,
) -> NerEncoded:
    """The one loop over the sentences, for both alignments. One batched pass tokenises every
    sentence; a sentence within ``max_length`` is one window, and only a longer one is tokenised
    again, window by window: word ranges [start, end) whose sub-word counts (from the batched
    pass) fit the budget, consecutive ones sharing about ``overlap`` sub-words. A window whose own
    tokenisation still exceeds the limit (offsets alignment: its edges tokenise differently; never
    with word lists, whose counts are exact, unless ``max_length`` leaves no room for a sub-word
    beside the special tokens) loses words at its end until it fits; a single word longer than the
    limit gets a window of its own, cut and counted in ``num_truncated``."""
    budget = max(1, max_length - specials)
    input_ids, token_types, labels, item_seq, item_words, item_lasts = [], [], [], [], [], []
    windowed = truncated = 0

    def add(s: int, window: _Window) -> None:
        ids, types, firsts, lasts = window
        input_ids.append(ids)
        if wants_types:
            token_types.append(types if types is not None else [0] * len(ids))
        item_seq.append(s)
        item_words.append(firsts)
        if lasts is not None:
            item_lasts.append(lasts)
        if tag2id is not None and (tags := sequences[s].tags) is not None:
            labels.append(_subword_labels(firsts, tags, tag2id, label_all_subwords))

    for s, (seq, whole) in enumerate(zip(sequences, kind.whole())):
        if len(whole[0]) <= max_length:
            add(s, whole)
            continue
        n = len(seq.words)
        counts = [0] * n
        for w in whole[2]:
            if w is not None:
                counts[w] += 1
        windowed += 1
        start = 0
        while start < n:
            end = _window_end(counts, start, budget)
            while True:  # a window's own tokenisation can differ at its edges: shrink it until it fits
                window = kind.window(s, start, end)
                if len(window[0]) <= max_length or end - start == 1:
                    break
                end -= 1
            if len(window[0]) > max_length:  # one word longer than the limit: cut it
                truncated += 1
                window = kind.window(s, start, end, max_length)
            add(s, window)
            if end >= n:
                break
            start = _window_back(counts, start, end, overlap)

    # targets only when a tag map was given and every sequence is tagged
    labelled = tag2id is not None and bool(sequences) and all(q.tags is not None for q in sequences)
    encoded = NerEncoded(
        input_ids,
        token_types if wants_types else None,
        labels if labelled else None,
        sequences=sequences,
        item_sequence=item_seq,
        item_word_ids=item_words,
        item_last_word_ids=item_lasts,
        num_truncated=truncated,
        num_windowed=windowed,
    )
    encoded.num_boundaries_in_pieces = sum(
        tags[w] != continued_tag(tags[cover])
        for seq, covers in zip(sequences, covering_words(encoded))
        if (tags := seq.tags) is not None
        for w, cover in enumerate(covers)
        if cover is not None
    )
    return encoded


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


# -- offsets alignment ---------------------------------------------------------------------------
def _own_segment(char: str) -> bool:
    """A character tokenised on its own (offsets alignment): CJK and full-width characters, and
    non-ASCII punctuation and symbols (“ ” … · — ℃, which Chinese text sets without spaces and
    decoder vocabularies merge, e.g. Gemma's piece "”“")."""
    return is_wide(char) or (char > "\x7f" and unicodedata.category(char)[0] in "PS")


def _run_cuts(seq: WordSequence) -> list[int]:
    """Offsets where two words touch inside a run of letters or digits: only gold entity
    boundaries cut such runs (see :func:`~tunelab.tasks.token_classification.words.to_words`),
    so only training data has them."""
    text, offsets = seq.text, seq.offsets
    return [
        end
        for (_, end), (start, _) in zip(offsets, offsets[1:])
        if end == start and RUN_CHAR.match(text, end - 1) and RUN_CHAR.match(text, end)
    ]


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
    tokenizer: PreTrainedTokenizerBase,
    pieces: list[tuple[str, int, int, Sequence[int]]],
    *,
    split_wide: bool,
    wants_types: bool,
    max_length: int | None = None,
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
    kwargs: dict[str, Any] = dict(
        return_offsets_mapping=True, return_special_tokens_mask=True, return_token_type_ids=wants_types
    )
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
        enc = tokenizer([pieces[i][0][pieces[i][1] : pieces[i][2]] for i in whole_ix], **kwargs)
        for k, i in enumerate(whole_ix):
            lo = pieces[i][1]
            spans = [
                None if special else (lo + a, lo + b)
                for (a, b), special in zip(enc["offset_mapping"][k], enc["special_tokens_mask"][k])
            ]
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


def _align(
    spans: list[tuple[int, int] | None], starts: list[int], ends: list[int], lo: int, hi: int
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
