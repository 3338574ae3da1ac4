"""read_examples (values -> Examples) and load_splits (files + config -> train/dev/test)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tunelab.data import Example, LoadedFile, read_examples
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.text_classification.config import TextClassificationData as DataConfig
from tunelab.tasks.text_classification.data import load_splits
from tunelab.tasks.text_classification.labels import detect_labels

REPO = Path(__file__).resolve().parents[2]
BANKING = REPO / "data" / "banking77"


def write(tmp_path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def error_of(path, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        read_examples(path, **kwargs)
    return info.value


# --- read_examples ----------------------------------------------------------------------------


def test_csv_to_examples(tmp_path):
    path = write(tmp_path, "t.csv", 'text,category\n  hi there ,greet \n"two\nlines",other\n')
    loaded = read_examples(path)
    assert loaded == LoadedFile(
        path=path,
        format="csv",
        text_column="text",
        text_pair_column=None,
        label_column="category",
        examples=[
            Example("  hi there ", label="greet", source=str(path), line=2),  # text as written, label stripped
            Example("two\nlines", label="other", source=str(path), line=3),
        ],
        header=True,
    )


def test_tsv_pairs(tmp_path):
    path = write(tmp_path, "nli.tsv", "sentence1\tsentence2\tlabel\nA man.\tA person.\tentailment\n")
    loaded = read_examples(path)
    assert (loaded.format, loaded.text_pair_column) == ("tsv", "sentence2")
    assert loaded.examples[0] == Example("A man.", "A person.", "entailment", str(path), 2)


def test_explicit_format_overrides_extension(tmp_path):
    path = write(tmp_path, "train.txt", '{"text": "a", "label": "x"}\n')
    assert read_examples(path, format="jsonl").examples[0].label == "x"
    with pytest.raises(DataError, match="unknown format 'xml'"):
        read_examples(path, format="xml")


def test_missing_file_is_reported_before_its_extension(tmp_path):
    path = tmp_path / "train.cvs"
    assert str(error_of(path)) == f"{path}: file not found"


def test_multi_label_needs_a_separator(tmp_path):
    path = write(tmp_path, "t.csv", "text,labels\na,b\n")
    with pytest.raises(ConfigError, match="data.label_separator must not be empty"):
        read_examples(path, multi_label=True, label_separator="")


def test_jsonl_scalar_conversion(tmp_path):
    path = write(
        tmp_path,
        "t.jsonl",
        '{"text": "a", "label": 3}\n{"text": 42, "label": true}\n{"text": 1.5, "label": " pos "}\n',
    )
    examples = read_examples(path).examples
    assert [(e.text, e.label, e.line) for e in examples] == [("a", "3", 1), ("42", "true", 2), ("1.5", "pos", 3)]
    assert detect_labels(examples) == ["3", "pos", "true"]


@pytest.mark.parametrize(
    "row, message",
    [
        ('{"text": "", "label": "a"}', "empty text"),
        ('{"text": " \\t ", "label": "a"}', "empty text"),
        ('{"text": null, "label": "a"}', "empty text"),
        ('{"text": false, "label": "a"}', "expected text, found a boolean"),
        ('{"text": ["a"], "label": "a"}', "expected text, found an array"),
        ('{"label": "a"}', "missing field"),
    ],
)
def test_bad_text_names_line_and_field(tmp_path, row, message):
    path = write(tmp_path, "t.jsonl", '{"text": "ok", "label": "a"}\n\n' + row + "\n")
    error = error_of(path)
    assert (error.line, error.field, error.message) == (3, "text", message)


def test_empty_pair_text_is_an_error(tmp_path):
    path = write(tmp_path, "t.csv", "text_a,text_b,label\nx,y,a\nx, ,a\n")
    assert str(error_of(path)) == f"{path}:3: field 'text_b': empty text"


@pytest.mark.parametrize(
    "row, message",
    [
        ('{"text": "t", "label": ""}', "empty label"),
        ('{"text": "t", "label": "  "}', "empty label"),
        ('{"text": "t", "label": null}', "empty label"),
        ('{"text": "t"}', "missing field"),
        ('{"text": "t", "label": ["a", "b"]}', "expected one label, found an array; set task.multi_label: true"),
        ('{"text": "t", "label": {"a": 1}}', "expected a label, found an object"),
    ],
)
def test_bad_single_label(tmp_path, row, message):
    path = write(tmp_path, "t.jsonl", '{"text": "t", "label": "a"}\n' + row + "\n")
    error = error_of(path)
    assert (error.line, error.field) == (2, "label")
    assert error.message.startswith(message)


def test_empty_csv_label(tmp_path):
    path = write(tmp_path, "t.csv", "text,label\nhello,\n")
    assert str(error_of(path)) == f"{path}:2: field 'label': empty label"


def test_multi_label_from_separated_strings(tmp_path):
    path = write(tmp_path, "t.csv", 'text,labels\na,"b| a |b"\nb,\nc,x||\n')
    labels = [e.label for e in read_examples(path, multi_label=True).examples]
    assert labels == [("a", "b"), (), ("x",)]
    labels = [e.label for e in read_examples(path, multi_label=True, label_separator=",").examples]
    assert labels == [("b| a |b",), (), ("x||",)]


def test_multi_label_from_json(tmp_path):
    path = write(
        tmp_path,
        "t.jsonl",
        '{"text": "a", "labels": ["z", "a", "z", 7]}\n{"text": "b", "labels": []}\n'
        '{"text": "c", "labels": "p|q"}\n{"text": "d", "labels": 5}\n',
    )
    labels = [e.label for e in read_examples(path, multi_label=True).examples]
    assert labels == [("7", "a", "z"), (), ("p", "q"), ("5",)]


@pytest.mark.parametrize(
    "row, message",
    [
        ('{"text": "t"}', "missing field"),
        ('{"text": "t", "labels": null}', "label is null; write [] for an example without labels"),
        ('{"text": "t", "labels": [["a"]]}', "expected a label, found an array"),
    ],
)
def test_bad_multi_label(tmp_path, row, message):
    path = write(tmp_path, "t.jsonl", '{"text": "t", "labels": []}\n' + row + "\n")
    error = error_of(path, multi_label=True)
    assert (error.line, error.field, error.message) == (2, "labels", message)


def test_unlabelled_input_for_prediction(tmp_path):
    path = write(tmp_path, "p.jsonl", '{"text": "a"}\n{"text": "b", "label": ""}\n')
    loaded = read_examples(path, require_labels=False)
    assert loaded.label_column is None
    assert [e.label for e in loaded.examples] == [None, None]
    # With a label column present, missing or empty values are None and the rest are kept.
    path = write(tmp_path, "q.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n{"text": "c", "label": ""}\n')
    loaded = read_examples(path, require_labels=False)
    assert (loaded.label_column, [e.label for e in loaded.examples]) == ("label", ["x", None, None])


def test_latin1_file_with_configured_encoding(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("text,label\ncafé,a\n".encode("latin-1"))
    assert error_of(path).line == 2
    assert read_examples(path, encoding="latin-1").examples[0].text == "café"


# --- load_splits ------------------------------------------------------------------------------


def labelled_csv(tmp_path, name: str, counts: dict[str, int], header: str = "text,label") -> Path:
    rows = [f"{label} example {i},{label}" for label, n in counts.items() for i in range(n)]
    return write(tmp_path, name, header + "\n" + "\n".join(rows) + "\n")


def test_train_is_required():
    with pytest.raises(DataError) as info:
        load_splits(DataConfig(), multi_label=False)
    assert "set data.train" in str(info.value) and "--set data.train=PATH" in str(info.value)


def test_dev_carved_from_train_by_default(tmp_path):
    train = labelled_csv(tmp_path, "train.csv", {"a": 30, "b": 15})
    splits = load_splits(DataConfig(train=train), multi_label=False)
    assert (splits.dev_source, splits.test_source) == ("split", "none")
    assert Counter(e.label for e in splits.dev) == {"a": 3, "b": 2}
    assert (len(splits.train), splits.test) == (40, [])
    assert splits.files == {"train": str(train)}
    assert (splits.text_column, splits.text_pair_column, splits.label_column) == ("text", None, "label")
    assert not {e.line for e in splits.train} & {e.line for e in splits.dev}
    again = load_splits(DataConfig(train=train), multi_label=False)
    assert [e.line for e in again.dev] == [e.line for e in splits.dev]


def test_dev_and_test_carved_with_configured_seed(tmp_path):
    train = labelled_csv(tmp_path, "train.csv", {"a": 40, "b": 20})
    config = DataConfig.model_validate({"train": train, "split": {"dev": 0.25, "test": 0.1, "seed": 7}})
    splits = load_splits(config, multi_label=False)
    assert (splits.dev_source, splits.test_source) == ("split", "split")
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (39, 15, 6)
    config.split.seed = 8
    other = load_splits(config, multi_label=False)
    assert [e.line for e in other.dev] != [e.line for e in splits.dev]


def test_no_dev_file_and_no_dev_share(tmp_path):
    train = labelled_csv(tmp_path, "train.csv", {"a": 5})
    config = DataConfig.model_validate({"train": train, "split": {"dev": 0.0}})
    splits = load_splits(config, multi_label=False)
    assert (len(splits.train), splits.dev, splits.dev_source) == (5, [], "none")


def test_files_are_read_with_train_columns(tmp_path):
    train = write(tmp_path, "train.csv", "id,body,gold\n1,hello,a\n2,bye,b\n")
    dev = write(tmp_path, "dev.jsonl", '{"body": "hi", "gold": "a", "text": "ignored", "label": "zzz"}\n')
    test = write(tmp_path, "test.tsv", "gold\tbody\nb\tcya\n")
    config = DataConfig(train=train, dev=dev, test=test, text_column="body", label_column="gold")
    splits = load_splits(config, multi_label=False)
    assert (splits.dev_source, splits.test_source) == ("file", "file")
    assert splits.files == {"train": str(train), "dev": str(dev), "test": str(test)}
    assert [(e.text, e.label) for e in splits.train + splits.dev + splits.test] == [
        ("hello", "a"), ("bye", "b"), ("hi", "a"), ("cya", "b")
    ]  # fmt: skip


def test_dev_file_missing_the_train_column(tmp_path):
    train = labelled_csv(tmp_path, "train.csv", {"a": 3}, header="sentence,label")
    dev = write(tmp_path, "dev.csv", "text,label\nx,a\n")
    with pytest.raises(DataError) as info:
        load_splits(DataConfig(train=train, dev=dev), multi_label=False)
    assert str(info.value) == f"{dev}:1: field 'sentence': column not found (available columns: text, label)"


def test_unseen_dev_label_is_reported_at_its_line(tmp_path):
    train = labelled_csv(tmp_path, "train.csv", {"a": 3, "b": 3}, header="text,intent")
    dev = write(tmp_path, "dev.csv", "text,intent\nx,a\ny,c\n")
    with pytest.raises(DataError) as info:
        load_splits(DataConfig(train=train, dev=dev), multi_label=False)
    assert str(info.value) == f"{dev}:3: field 'intent': label 'c' in dev never appears in train (known: a, b)"


def test_carved_multi_label_dev_with_a_label_missing_from_train(tmp_path):
    # Stratified by first label only, so the single "z" example can land in dev.
    rows = "\n".join(["text,labels", "t0,a|z"] + [f"t{i},a" for i in range(1, 10)])
    train = write(tmp_path, "train.csv", rows + "\n")
    config = DataConfig.model_validate({"train": train, "split": {"dev": 0.5, "seed": 0}})
    outcomes = set()
    for seed in range(6):
        config.split.seed = seed
        try:
            splits = load_splits(config, multi_label=True)
            outcomes.add("ok")
            assert "z" in detect_labels(splits.train)
        except DataError as error:
            outcomes.add("error")
            assert "label 'z' in dev (carved from train by data.split.dev) never appears in train" in str(error)
            assert (error.path, error.line) == (str(train), 2)
    assert outcomes == {"ok", "error"}


def test_carving_that_yields_nothing_is_an_error(tmp_path):
    train = labelled_csv(tmp_path, "train.csv", {"a": 1, "b": 1, "c": 1})
    with pytest.raises(DataError, match=r"data\.split\.dev=0\.1 carved no dev examples from 3 training examples"):
        load_splits(DataConfig(train=train), multi_label=False)


def test_carved_shares_must_leave_something_to_train_on(tmp_path):
    train = labelled_csv(tmp_path, "train.csv", {"a": 10})
    config = DataConfig.model_validate({"train": train, "split": {"dev": 0.6, "test": 0.5}})
    with pytest.raises(ConfigError, match=r"data\.split\.dev \+ data\.split\.test must be below 1"):
        load_splits(config, multi_label=False)
    # With a dev file only the test share is carved, so the same shares are fine.
    config.dev = labelled_csv(tmp_path, "dev.csv", {"a": 2})
    assert load_splits(config, multi_label=False).test_source == "split"


# --- shipped BANKING77 ------------------------------------------------------------------------


def test_shipped_banking77_splits():
    splits = load_splits(DataConfig(train=BANKING / "train.csv", dev=BANKING / "dev.csv"), multi_label=False)
    assert (len(splits.train), len(splits.dev)) == (8998, 1005)
    assert (splits.text_column, splits.label_column) == ("text", "category")
    assert len(detect_labels(splits.train)) == len(detect_labels(splits.dev)) == 77
    dev_counts = Counter(e.label for e in splits.dev)
    train_counts = Counter(e.label for e in splits.train)
    for label, n in dev_counts.items():
        total = n + train_counts[label]
        assert n == int(total * 0.1 + 0.5)  # half up; no class size here is within float error of .5
