"""Column detection and validation of explicit column names."""

from __future__ import annotations

import pytest

from tunelab.data.columns import Columns, resolve_columns
from tunelab.errors import DataError


def resolve(available, **kwargs):
    return resolve_columns(available, path="d/train.csv", **kwargs)


@pytest.mark.parametrize(
    "available, expected",
    [
        (["text", "category"], Columns("text", None, "category")),
        (["Sentence", "Label"], Columns("Sentence", None, "Label")),
        ([" Utterance ", "intent"], Columns(" Utterance ", None, "intent")),
        # First candidate in candidate order wins, not first column in the file.
        (["review", "text", "sentiment", "label"], Columns("text", None, "label")),
        (["id", "document", "topic"], Columns("document", None, "topic")),
        (["question", "sentence", "label"], Columns("sentence", None, "label")),
    ],
)
def test_detects_text_and_label(available, expected):
    assert resolve(available) == expected


@pytest.mark.parametrize(
    "available, expected",
    [
        (["sentence1", "sentence2", "label"], Columns("sentence1", "sentence2", "label")),
        (["text_a", "text_b", "label"], Columns("text_a", "text_b", "label")),
        (["Premise", "Hypothesis", "label"], Columns("Premise", "Hypothesis", "label")),
        (["text", "text_pair", "labels"], Columns("text", "text_pair", "labels")),
        # A pair column is only taken as the partner of its own text column.
        (["text", "sentence2", "hypothesis", "label"], Columns("text", None, "label")),
        (["sentence1", "text_b", "label"], Columns("sentence1", None, "label")),
    ],
)
def test_detects_pair_only_with_its_obvious_partner(available, expected):
    assert resolve(available) == expected


def test_explicit_names_win_over_detection():
    cols = resolve(["text", "body", "label", "gold"], text_column="body", label_column="gold")
    assert cols == Columns("body", None, "gold")


def test_explicit_text_column_turns_off_pair_detection():
    available = ["sentence1", "sentence2", "label"]
    assert resolve(available, text_column="sentence1") == Columns("sentence1", None, "label")
    assert resolve(available, text_column="sentence1", text_pair_column="sentence2").text_pair == "sentence2"


def test_detection_skips_a_column_already_used():
    # "text" is the label here, so text detection moves on to the next candidate.
    assert resolve(["text", "content"], label_column="text") == Columns("content", None, "text")


@pytest.mark.parametrize("key", ["text_column", "text_pair_column", "label_column"])
def test_missing_explicit_column_names_file_header_line_field_and_columns(key):
    with pytest.raises(DataError) as info:
        resolve(["text", "label"], **{key: "body"})
    error = info.value
    assert (error.path, error.line, error.field) == ("d/train.csv", 1, "body")
    assert str(error) == "d/train.csv:1: field 'body': column not found (available columns: text, label)"


def test_missing_explicit_column_suggests_a_case_variant():
    with pytest.raises(DataError, match=r"did you mean 'Label'\?"):
        resolve(["text", "Label"], label_column="label")


def test_missing_column_uses_the_header_line():
    with pytest.raises(DataError) as info:
        resolve(["text"], header_line=4, label_column="y")
    assert info.value.line == 4


def test_undetectable_text_column_lists_columns_and_config_key():
    with pytest.raises(DataError) as info:
        resolve(["I am still waiting on my card?", "card_arrival"])
    message = str(info.value)
    assert message.startswith("d/train.csv:1: cannot find the text column among the columns: ")
    assert "I am still waiting on my card?, card_arrival" in message
    assert "the first row is the header" in message
    assert "Set data.text_column" in message


def test_undetectable_label_column_lists_columns_and_config_key():
    with pytest.raises(DataError) as info:
        resolve(["text", "gold"])
    message = str(info.value)
    assert "cannot find the label column among the columns: text, gold" in message
    assert "Set data.label_column" in message


def test_labels_optional_for_prediction_input():
    assert resolve(["text"], require_labels=False) == Columns("text", None, None)
    # A configured label column that this file lacks is fine too when labels are not required.
    assert resolve(["text"], label_column="category", require_labels=False).label is None
    assert resolve(["text", "category"], label_column="category", require_labels=False).label == "category"


def test_same_column_twice_is_an_error():
    with pytest.raises(DataError, match="the same column is used twice"):
        resolve(["text", "label"], text_column="text", label_column="text")
