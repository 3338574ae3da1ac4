"""Tag schemes: parsing, detection, validation, repair and conversion to and from IOB2."""

from __future__ import annotations

import random

import pytest

from tunelab.tasks.token_classification.example import (
    NerExample,
    Span,
    char_tags_to_spans,
    drop_overlaps,
    spans_to_char_tags,
)
from tunelab.tasks.token_classification.tags import (
    SCHEMES,
    TagError,
    detect_scheme,
    entities_from_iob2,
    from_iob2,
    normalise_scheme,
    parse_tag,
    to_iob2,
    to_iob2_with_repairs,
    validate_tags,
)

# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag, expected",
    [
        ("O", ("O", None)),
        ("o", ("O", None)),
        ("B-PER", ("B", "PER")),
        ("b-per", ("B", "per")),  # prefix normalised, type kept as written
        ("I-creative-work", ("I", "creative-work")),  # split on the first "-" only
        ("m-ORG", ("M", "ORG")),
        ("U-X", ("U", "X")),
    ],
)
def test_ner_parse_tag(tag, expected):
    assert parse_tag(tag) == expected


@pytest.mark.parametrize(
    "tag, fragment",
    [
        ("PER", "not a bare type"),
        ("B_PER", "separator is '-'"),
        ("X-PER", "unknown prefix 'X-'"),
        ("BI-PER", "unknown prefix 'BI-'"),
        ("B-", "empty"),
        ("B", "has no entity type"),
        ("O-PER", "'O' takes no entity type"),
        ("B-NEW YORK", "whitespace"),
        ("", "not a bare type"),
    ],
)
def test_ner_parse_tag_rejects_malformed_tags(tag, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        parse_tag(tag)


def test_ner_types_are_case_sensitive_and_prefixes_are_not():
    assert to_iob2(["b-PER", "i-PER", "O"], "iob2") == ["B-PER", "I-PER", "O"]
    with pytest.raises(TagError) as info:
        to_iob2(["B-PER", "I-per"], "iob2")  # "per" is another type than "PER"
    assert info.value.index == 1 and "another type" in str(info.value)


def test_ner_normalise_scheme():
    assert normalise_scheme("IOB2") == "iob2"
    assert normalise_scheme("bio") == "iob2"
    assert normalise_scheme("IOBES") == "bioes"
    with pytest.raises(ValueError, match="unknown tag scheme 'bieo'"):
        normalise_scheme("bieo")


# --- detection -------------------------------------------------------------------------------

SAMPLES = {
    "io": [["I-PER", "I-PER", "O", "I-LOC"], ["O", "I-ORG"]],
    "iob1": [["I-PER", "I-PER", "B-PER", "O"], ["I-LOC", "O", "I-ORG", "I-ORG"]],
    "iob2": [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "B-ORG"]],
    "bioes": [["B-PER", "I-PER", "E-PER", "O", "S-LOC"]],
    "bilou": [["B-PER", "L-PER", "O", "U-LOC"]],
    "bmes": [["B-NAME", "M-NAME", "E-NAME", "O", "S-RACE"]],
}


@pytest.mark.parametrize("scheme", list(SAMPLES))
def test_ner_detect_scheme_of_each_sample(scheme):
    assert detect_scheme(SAMPLES[scheme]) == scheme
    for sentence in SAMPLES[scheme]:
        validate_tags(sentence, scheme)


def test_ner_detect_scheme_edge_cases():
    assert detect_scheme([["O", "O"], []]) == "iob2"  # nothing to convert
    assert detect_scheme(iter([["B-X", "E-X"], ["S-Y"]])) == "bioes"  # reads the same in BMES
    # IOB2 with one error still reads as IOB2 (the error is then reported), not IOB1.
    assert detect_scheme([["B-X", "O", "B-Y"], ["O", "I-X"], ["B-Z"]]) == "iob2"
    # IOB1 with one stray B- after O still reads as IOB1.
    assert detect_scheme([["I-X", "O", "I-Y"], ["B-X"], ["I-Z", "I-Z"]]) == "iob1"


def test_ner_detect_scheme_points_at_bad_tag_and_mixed_schemes():
    with pytest.raises(TagError) as info:
        detect_scheme([["O"], ["B-X", "PER"]])
    assert (info.value.sequence, info.value.index, info.value.tag) == (1, 1, "PER")
    with pytest.raises(TagError, match="mix schemes") as info:
        detect_scheme([["B-X", "M-X", "E-X"], ["B-X", "M-X", "E-X"], ["O", "B-Y", "I-Y"]])
    assert (info.value.sequence, info.value.index, info.value.tag) == (2, 2, "I-Y")  # the rarer kind
    with pytest.raises(TagError, match="mix schemes"):
        detect_scheme([["U-X"], ["B-Y", "E-Y"]])


# --- round trip ------------------------------------------------------------------------------


def random_iob2(rng: random.Random, length: int) -> list[str]:
    tags, i = [], 0
    while i < length:
        if rng.random() < 0.4:
            tags.append("O")
            i += 1
            continue
        size = min(rng.randint(1, 4), length - i)
        type_ = rng.choice(["PER", "LOC", "creative-work"])
        tags += [f"B-{type_}"] + [f"I-{type_}"] * (size - 1)
        i += size
    return tags


@pytest.mark.parametrize("scheme", [s for s in SCHEMES if s != "io"])
def test_ner_roundtrip_through_every_scheme_is_identity(scheme):
    rng = random.Random(7)
    for _ in range(300):
        iob2 = random_iob2(rng, rng.randint(0, 12))
        written = from_iob2(iob2, scheme)
        validate_tags(written, scheme)
        assert to_iob2(written, scheme) == iob2
        assert entities_from_iob2(to_iob2(written, scheme)) == entities_from_iob2(iob2)


def test_ner_roundtrip_through_io_when_no_same_type_entities_touch():
    iob2 = ["B-PER", "I-PER", "B-LOC", "O", "B-PER"]
    assert from_iob2(iob2, "io") == ["I-PER", "I-PER", "I-LOC", "O", "I-PER"]
    assert to_iob2(from_iob2(iob2, "io"), "io") == iob2
    with pytest.raises(ValueError, match="token 2: IO cannot separate two adjacent 'PER'"):
        from_iob2(["B-PER", "I-PER", "B-PER"], "io")


def test_ner_from_iob2_writes_each_scheme():
    iob2 = ["B-X", "I-X", "I-X", "B-X", "O", "B-Y"]
    assert from_iob2(iob2, "iob1") == ["I-X", "I-X", "I-X", "B-X", "O", "I-Y"]
    assert from_iob2(iob2, "bioes") == ["B-X", "I-X", "E-X", "S-X", "O", "S-Y"]
    assert from_iob2(iob2, "bilou") == ["B-X", "I-X", "L-X", "U-X", "O", "U-Y"]
    assert from_iob2(iob2, "bmes") == ["B-X", "M-X", "E-X", "S-X", "O", "S-Y"]
    assert entities_from_iob2(iob2) == [("X", 0, 3), ("X", 3, 4), ("Y", 5, 6)]


# --- invalid sequences and repair ------------------------------------------------------------

INVALID = [
    # scheme, tags, index of the bad tag, message fragment, repaired IOB2
    ("iob2", ["O", "I-X", "I-X"], 1, "previous tag is 'O'", ["O", "B-X", "I-X"]),
    ("iob2", ["I-X"], 0, "first tag of the sentence", ["B-X"]),
    ("iob2", ["B-X", "I-Y"], 1, "previous tag 'B-X' is of another type", ["B-X", "B-Y"]),
    ("iob2", ["B-X", "S-X"], 1, "prefix 'S-' is not used in IOB2", ["B-X", "B-X"]),
    ("bioes", ["O", "E-X"], 1, "'E-X' ends an entity", ["O", "B-X"]),
    ("bioes", ["B-X", "O"], 0, "a one-token entity is 'S-X'", ["B-X", "O"]),
    ("bioes", ["B-X", "I-X", "O"], 1, "it should be 'E-X'", ["B-X", "I-X", "O"]),
    ("bioes", ["S-X", "I-X", "E-X"], 1, "already ended that entity", ["B-X", "B-X", "I-X"]),
    ("bioes", ["B-X", "I-X"], 1, "it should be 'E-X'", ["B-X", "I-X"]),
    ("bilou", ["B-X", "E-X"], 1, "prefix 'E-' is not used in BILOU", ["B-X", "I-X"]),
    ("bmes", ["M-ORG", "E-ORG"], 0, "first tag of the sentence", ["B-ORG", "I-ORG"]),
    ("bmes", ["B-ORG", "M-ORG", "B-X", "E-X"], 1, "should be 'E-ORG'", ["B-ORG", "I-ORG", "B-X", "I-X"]),
]


@pytest.mark.parametrize("scheme, tags, index, fragment, repaired", INVALID)
def test_ner_invalid_sequence_errors_at_the_bad_tag_and_repair_fixes_it(scheme, tags, index, fragment, repaired):
    with pytest.raises(TagError) as info:
        validate_tags(tags, scheme)
    assert info.value.index == index
    assert info.value.tag == tags[index]
    assert fragment in str(info.value)
    with pytest.raises(TagError):
        to_iob2(tags, scheme)
    assert to_iob2(tags, scheme, repair=True) == repaired
    fixed, problems = to_iob2_with_repairs(tags, scheme)
    assert fixed == repaired and problems and problems[0][0] == index
    validate_tags(fixed, "iob2")


def test_ner_unreadable_tags_error_even_with_repair():
    for tags in (["B-X", "X-PER"], ["PER"], ["B-X", "B_PER"]):
        with pytest.raises(TagError) as info:
            to_iob2(tags, "iob2", repair=True)
        assert info.value.index == len(tags) - 1


def test_ner_non_strict_reads_foreign_prefixes_but_still_checks_transitions():
    assert to_iob2(["S-X", "B-Y", "E-Y"], "iob2", strict=False) == ["B-X", "B-Y", "I-Y"]
    with pytest.raises(TagError, match="previous tag is 'O'"):
        to_iob2(["O", "I-X"], "iob2", strict=False)
    _, problems = to_iob2_with_repairs(["S-X"], "iob2", strict=False)
    assert problems == []


def test_ner_io_and_iob1_have_no_invalid_transitions():
    assert to_iob2(["O", "I-X", "I-Y", "I-Y"], "io") == ["O", "B-X", "B-Y", "I-Y"]
    assert to_iob2(["I-X", "B-X", "I-X", "I-Y"], "iob1") == ["B-X", "B-X", "I-X", "B-Y"]


def test_ner_entities_from_iob2_is_strict_unless_repair():
    with pytest.raises(TagError):
        entities_from_iob2(["O", "I-X"])
    assert entities_from_iob2(["O", "I-X"], repair=True) == [("X", 1, 2)]


def test_ner_repair_matches_seqeval_lenient_mode():
    sequence_labeling = pytest.importorskip("seqeval.metrics.sequence_labeling")
    rng = random.Random(3)
    pool = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y", "E-Y", "S-Y"]
    for _ in range(2000):
        tags = [rng.choice(pool) for _ in range(rng.randint(0, 9))]
        ours = entities_from_iob2(to_iob2(tags, "bioes", repair=True))
        theirs = [(type_, start, end + 1) for type_, start, end in sequence_labeling.get_entities(tags)]
        assert ours == theirs, tags


# --- character spans -------------------------------------------------------------------------


def test_ner_spans_to_char_tags_and_back():
    text = "Ann lives in New York."
    spans = [Span(13, 21, "LOC"), Span(0, 3, "PER")]
    tags = spans_to_char_tags(text, spans)
    assert tags[:4] == ["B-PER", "I-PER", "I-PER", "O"]
    assert tags[13:22] == ["B-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC", "O"]
    assert tags[16] == "I-LOC"  # the space inside "New York"
    assert char_tags_to_spans(text, tags) == sorted(spans, key=lambda s: s.start)


def test_ner_spans_to_char_tags_rejects_overlaps_and_bad_offsets():
    with pytest.raises(ValueError, match="spans overlap: 'A' \\[0, 4\\) 'abcd' and 'B' \\[2, 5\\)"):
        spans_to_char_tags("abcdef", [Span(2, 5, "B"), Span(0, 4, "A")])
    with pytest.raises(ValueError, match="outside the text"):
        spans_to_char_tags("abc", [Span(1, 4, "A")])
    with pytest.raises(ValueError, match="empty"):
        spans_to_char_tags("abc", [Span(1, 1, "A")])
    with pytest.raises(ValueError, match="3 characters but 2 tags"):
        char_tags_to_spans("abc", ["O", "O"])


def test_ner_drop_overlaps_keeps_the_earlier_longer_span():
    spans = [Span(3, 5, "B"), Span(0, 10, "A"), Span(12, 14, "C"), Span(0, 2, "D")]
    kept, dropped = drop_overlaps(spans)
    assert kept == (Span(0, 10, "A"), Span(12, 14, "C"))
    assert [other for _, other in dropped] == [Span(0, 2, "D"), Span(3, 5, "B")]


def test_ner_example_checks_its_own_consistency():
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        NerExample(("a", "b"), ("O",))
    with pytest.raises(ValueError, match="outside the text"):
        NerExample((), None, text="abc", spans=(Span(0, 9, "X"),))
    example = NerExample((), None, text="Rome", spans=(Span(0, 4, "LOC"),))
    assert example.is_text_based and example.char_tags() == ["B-LOC", "I-LOC", "I-LOC", "I-LOC"]
    assert example.entities() == [("LOC", 0, 4)]
    assert NerExample(("in", "Rome"), ("O", "B-LOC")).entities() == [("LOC", 1, 2)]
