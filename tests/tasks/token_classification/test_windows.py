"""Windows of a long mixed-script sentence for both alignments (word lists for WordPiece,
character offsets for the decoder tokenizers trained in code by tests/decoder_helpers.py): which
words each window holds and how many sub-words, pinned to the values the two separate windowing
loops gave before they became one (align._walk), plus what must hold for any window."""

import pytest
from transformers import AutoTokenizer

from decoder_helpers import build_decoder_tokenizer
from tunelab.data.batching import IGNORE_INDEX
from tunelab.tasks.token_classification.align import encode_words, uses_word_lists
from tunelab.tasks.token_classification.decode import covering_words
from tunelab.tasks.token_classification.example import NerExample, Span
from tunelab.tasks.token_classification.words import to_words

LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis"  # longer than 16 sub-words for every tokenizer
TEXT = (
    f"2019年，张伟在北京见了Barack Obama和Angela Merkel，讨论了{LONG_WORD}与iPhone12。「华为公司」总部位于深圳吗？"
    "John Smith visited London in 2009 and met the University of Cambridge."
)
ENTITIES = [
    ("张伟", "PER"),
    ("北京", "LOC"),
    ("Barack Obama", "PER"),
    ("Angela Merkel", "PER"),
    ("iPhone", "PRO"),
    ("华为公司", "ORG"),
    ("深圳", "LOC"),
    ("John Smith", "PER"),
    ("London", "LOC"),
    ("the University of Cambridge", "ORG"),
]
TAG2ID = {t: i for i, t in enumerate(sorted({"O"} | {p + t for _, t in ENTITIES for p in ("B-", "I-")}))}

# (kind, max_length, overlap) -> ([(first word, end word, sub-words) per window], num_truncated)
PINNED = {
    ("wordpiece", 16, 4): (
        [
            (0, 14, 16),
            (10, 19, 12),
            (15, 19, 6),
            (16, 19, 5),
            (17, 19, 4),
            (18, 19, 3),
            (19, 20, 16),
            (20, 34, 16),
            (30, 44, 16),
            (40, 51, 13),
        ],
        1,
    ),
    ("byte_level", 16, 4): (
        [
            (0, 11, 16),
            (9, 18, 15),
            (17, 19, 5),
            (18, 19, 2),
            (19, 20, 16),
            (20, 30, 16),
            (28, 36, 16),
            (35, 49, 16),
            (46, 51, 7),
        ],
        1,
    ),
    ("metaspace", 16, 4): (
        [
            (0, 10, 16),
            (8, 17, 16),
            (15, 19, 9),
            (17, 19, 5),
            (18, 19, 2),
            (19, 20, 16),
            (20, 32, 16),
            (28, 42, 16),
            (39, 47, 14),
            (44, 51, 11),
        ],
        1,
    ),
    ("wordpiece", 32, 8): ([(0, 19, 22), (12, 25, 32), (20, 50, 32), (42, 51, 11)], 0),
    ("byte_level", 32, 8): (
        [(0, 19, 30), (16, 19, 8), (17, 19, 5), (18, 19, 2), (19, 20, 32), (20, 39, 32), (34, 51, 22)],
        1,
    ),
    ("metaspace", 32, 8): (
        [(0, 19, 31), (15, 19, 9), (16, 19, 8), (17, 19, 5), (18, 19, 2), (19, 20, 32), (20, 43, 28), (36, 51, 24)],
        1,
    ),
}


def sequence():
    spans, position = [], 0
    for entity, type_ in ENTITIES:
        start = TEXT.index(entity, position)
        spans.append(Span(start, start + len(entity), type_))
        position = start + len(entity)
    return to_words(NerExample((), None, text=TEXT, spans=tuple(spans)))


@pytest.fixture(scope="module")
def tokenizers(tiny_model_dir, tmp_path_factory):
    decoders = {
        style: AutoTokenizer.from_pretrained(build_decoder_tokenizer(tmp_path_factory.mktemp(style), style))
        for style in ("byte_level", "metaspace")
    }
    return {"wordpiece": AutoTokenizer.from_pretrained(tiny_model_dir), **decoders}


def windows(encoded):
    spans = []
    for words in encoded.item_word_ids:
        present = [w for w in words if w is not None]
        spans.append((present[0], present[-1] + 1, len(words)))
    return spans


@pytest.mark.parametrize(("kind", "max_length", "overlap"), list(PINNED))
def test_windows_are_pinned(tokenizers, kind, max_length, overlap):
    tokenizer = tokenizers[kind]
    assert uses_word_lists(tokenizer) == (kind == "wordpiece")
    encoded = encode_words(tokenizer, [sequence()], TAG2ID, max_length=max_length, overlap=overlap)
    expected, truncated = PINNED[kind, max_length, overlap]
    assert windows(encoded) == expected
    assert (encoded.num_windowed, encoded.num_truncated, encoded.num_boundaries_in_pieces) == (1, truncated, 0)
    assert encoded.item_sequence == [0] * len(expected)
    # the offsets alignment records each sub-word's last word too; the word-list alignment does not
    assert len(encoded.item_last_word_ids) == (0 if kind == "wordpiece" else len(expected))


@pytest.mark.parametrize("kind", ["wordpiece", "byte_level", "metaspace"])
def test_every_window_fits_and_every_word_is_labelled_once_per_window(tokenizers, kind):
    seq = sequence()
    long_word = seq.words.index(LONG_WORD)
    encoded = encode_words(tokenizers[kind], [seq], TAG2ID, max_length=16, overlap=4)
    assert all(len(ids) <= 16 for ids in encoded.input_ids)
    spans = windows(encoded)
    assert (long_word, long_word + 1, 16) in spans  # a window of its own, cut at the limit
    assert all(b[0] <= a[1] for a, b in zip(spans, spans[1:]))  # consecutive windows leave no gap
    assert spans[0][0] == 0 and spans[-1][1] == len(seq.words)
    for words, labels in zip(encoded.item_word_ids, encoded.labels):
        firsts = [
            (w, label)
            for i, (w, label) in enumerate(zip(words, labels))
            if w is not None and (i == 0 or words[i - 1] != w)
        ]
        assert all(label == TAG2ID[seq.tags[w]] for w, label in firsts)
        assert sum(label != IGNORE_INDEX for label in labels) == len(firsts)
    own = {w for words in encoded.item_word_ids for w in words if w is not None}
    covered = {w for w, cover in enumerate(covering_words(encoded)[0]) if cover is not None}
    assert own | covered == set(range(len(seq.words)))
