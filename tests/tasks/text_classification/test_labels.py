"""Label set detection and the unseen-label check."""

from __future__ import annotations

import pytest

from tunelab.data import Example
from tunelab.errors import DataError
from tunelab.tasks.text_classification.labels import check_known_labels, detect_labels


def ex(label, line=0, source="train.csv"):
    return Example("t", label=label, source=source, line=line)


def test_integer_labels_sort_numerically():
    examples = [ex(label) for label in ["10", "2", "-1", "2", "0", "+3"]]
    assert detect_labels(examples) == ["-1", "0", "2", "+3", "10"]


def test_equal_integers_with_different_spelling_have_a_fixed_order():
    assert detect_labels([ex("01"), ex("1")]) == detect_labels([ex("1"), ex("01")]) == ["01", "1"]


@pytest.mark.parametrize("labels", [["10", "2", "b"], ["1.5", "10", "2"], ["1_0", "2"], [" 3", "20"]])
def test_any_non_integer_label_means_string_order(labels):
    assert detect_labels([ex(label) for label in labels]) == sorted(labels)


def test_string_labels_sort_as_strings():
    examples = [ex(label) for label in ["refund", "Card", "atm", "refund"]]
    assert detect_labels(examples) == ["Card", "atm", "refund"]


def test_multi_label_union_and_unlabelled_examples():
    examples = [ex(("b", "c")), ex(()), ex(("a",)), ex(None), ex(("c", "d"))]
    assert detect_labels(examples) == ["a", "b", "c", "d"]
    assert detect_labels([ex(None)]) == []


def test_known_labels_pass():
    check_known_labels([ex("a"), ex(("a", "b")), ex(None), ex(())], ["a", "b"], "dev")


def test_unseen_label_names_file_line_field_and_known_labels():
    examples = [ex("a", 2, "dev.csv"), ex("foo", 7, "dev.csv"), ex("bar", 9, "dev.csv")]
    with pytest.raises(DataError) as info:
        check_known_labels(examples, ["a", "b", "c"], "dev", field="category")
    error = info.value
    assert (error.path, error.line, error.field) == ("dev.csv", 7, "category")
    assert error.message == ("label 'foo' in dev never appears in train (known: a, b, c); other unseen labels: bar")


def test_unseen_label_inside_a_multi_label_tuple():
    with pytest.raises(DataError) as info:
        check_known_labels([ex(("a", "zz"), 3, "test.jsonl")], ["a"], "test")
    assert str(info.value) == "test.jsonl:3: field 'label': label 'zz' in test never appears in train (known: a)"


def test_long_known_list_is_truncated():
    known = [f"intent_{i:02d}" for i in range(77)]
    with pytest.raises(DataError) as info:
        check_known_labels([ex("nope", 1)], known, "dev")
    message = info.value.message
    assert "intent_09, ... and 67 more)" in message
    assert "intent_10" not in message
