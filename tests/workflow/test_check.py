"""`tunelab check`: the data checks on tiny files with known problems, their JSON numbers and exit codes.

No model is trained: the tokenizer is the tiny BERT's (tests/fixtures/vocab_en), built in code."""

import json
import math

import pytest
from rich.console import Console

from helpers import write_conll, write_csv, write_jsonl
from tunelab.cli.app import main
from tunelab.config import load_config
from tunelab.workflow.check import check_data, normalise

QUIET = Console(file=open("/dev/null", "w"))
LONG = "word " * 200  # 200 tokens of the tiny vocabulary, 202 with [CLS] and [SEP]

# Line numbers are the file's (the header is line 1).
TRAIN = [
    ("the invoice is wrong", "billing"),  # 2
    ("The  invoice is WRONG", "billing"),  # 3: line 2 after normalising case and spaces
    ("the invoice is wrong", "billing"),  # 4: exact copy of line 2
    ("where is my parcel", "shipping"),  # 5
    ("where is my parcel", "account"),  # 6: exact copy of line 5 with another label
    ("reset my password", "account"),  # 7
    ("rare thing happened", "rare"),  # 8: the only example of its label
    (LONG.strip(), "shipping"),  # 9: longer than max_length
    ("login fails", "account"),  # 10
    ("courier late", "shipping"),  # 11
    ("refund please", "billing"),  # 12
]
DEV = [
    ("reset my password", "account"),  # 2: train line 7, same label
    ("courier is late again", "shipping"),  # 3
    ("RESET my password", "billing"),  # 4: train line 7 normalised, another label; dev line 2 normalised
    ("invoice missing", "billing"),  # 5
]


def write_config(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def classification(tmp_path, tiny_model_dir):
    write_csv(tmp_path / "train.csv", TRAIN)
    write_csv(tmp_path / "dev.csv", DEV)
    return write_config(
        tmp_path,
        f"task:\n  name: text_classification\nmodel:\n  name: {tiny_model_dir}\n  max_length: 32\n"
        "data:\n  train: train.csv\n  dev: dev.csv\n",
    )


def run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr("sys.argv", ["tunelab", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")  # one warning a line
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr()


def test_normalise_folds_case_spaces_and_width():
    assert normalise("  The\tInvoice  is\nWRONG ") == "the invoice is wrong"
    assert normalise("ＡＢＣ ｄｅｆ") == "abc def"  # full-width letters


def test_classification_report_numbers(classification):
    report = check_data(load_config(classification), min_examples=2, max_imbalance=3.0, console=QUIET)
    assert report["task"] == "text_classification"
    assert report["splits"] == {
        "train": {"count": 11, "source": "file", "file": str(classification.parent / "train.csv")},
        "dev": {"count": 4, "source": "file", "file": str(classification.parent / "dev.csv")},
        "test": {"count": 0, "source": "none", "file": None},
    }

    train_dups = report["duplicates"]["train"]
    assert (train_dups["exact"], train_dups["exact_groups"]) == (2, 2)
    assert (train_dups["normalised"], train_dups["normalised_groups"]) == (3, 2)
    assert [(g["lines"], g["exact"]) for g in train_dups["examples"]] == [([2, 3, 4], False), ([5, 6], True)]
    dev_dups = report["duplicates"]["dev"]
    assert (dev_dups["exact"], dev_dups["normalised"], dev_dups["examples"][0]["lines"]) == (0, 1, [2, 4])

    assert report["overlap"] == {
        "train/dev": {
            "examples": 2,
            "exact": 1,
            "texts": 1,
            "lines": [2, 4],
            "shared": [{"text": "reset my password", "train_lines": [7], "dev_lines": [2, 4]}],
        }
    }

    classes = report["classes"]
    assert classes["counts"] == {
        "train": {"account": 3, "billing": 4, "rare": 1, "shipping": 3},
        "dev": {"account": 1, "billing": 2, "rare": 0, "shipping": 1},
    }
    assert classes["too_few"] == {
        "train": [{"class": "rare", "count": 1}],
        "dev": [{"class": "account", "count": 1}, {"class": "rare", "count": 0}, {"class": "shipping", "count": 1}],
    }
    assert classes["imbalance"]["train"] == {
        "largest": "billing",
        "largest_count": 4,
        "smallest": "rare",
        "smallest_count": 1,
        "ratio": 4.0,
    }
    assert classes["unseen_in_train"] == {"dev": []}

    noise = report["label_noise"]
    assert (noise["texts"], noise["examples"], noise["within_split"], noise["across_splits"]) == (2, 5, 1, 1)
    assert noise["groups"][0]["labels"] == {"shipping": 1, "account": 1}
    assert noise["groups"][1]["occurrences"] == [
        {"split": "train", "line": 7, "label": "account"},
        {"split": "dev", "line": 2, "label": "account"},
        {"split": "dev", "line": 4, "label": "billing"},
    ]

    lengths = report["lengths"]
    assert lengths["checked"] and lengths["max_length"] == 32 and lengths["truncates"]
    assert lengths["splits"]["train"] == {
        "texts": 11,
        "count": 1,
        "share": round(1 / 11, 4),
        "longest": {"tokens": 202, "line": 9},
        "lines": [9],
    }
    assert lengths["splits"]["dev"]["count"] == 0

    assert report["task_facts"] == {"labels": 4, "multi_label": False, "pairs": False}
    warnings = report["warnings"]
    assert len(warnings) == 8, warnings
    expected = [
        "has 3 duplicate texts (2 exact, 1 differing only in case or spacing), e.g. lines 3, 4, 6",
        "has 1 duplicate text (0 exact, 1 differing only in case or spacing), e.g. lines 4",
        "2 dev examples (1 text) also in train, e.g. dev lines 2, 4",
        "train: 1 label with fewer than 2 examples: rare (1)",
        "dev: 3 labels with fewer than 2 examples: account (1), rare (0), shipping (1)",
        "train's labels are imbalanced: billing 4 vs rare 1 (ratio 4 > 3): set task.class_weights: balanced",
        "2 texts with different labels (1 within a split, 1 across splits)",
        "train: 1 of 11 texts (9.1%) are longer than 32 tokens and will be truncated (longest 202 tokens, line 9)",
    ]
    for warning, text in zip(warnings, expected):
        assert text in warning


def test_thresholds_change_what_is_reported(classification):
    report = check_data(load_config(classification), min_examples=1, max_imbalance=4.0)
    assert report["classes"]["too_few"] == {"train": [], "dev": [{"class": "rare", "count": 0}]}
    assert not any("imbalanced" in w for w in report["warnings"])


def test_json_is_written_and_never_overwritten(monkeypatch, capsys, classification, tmp_path):
    out = tmp_path / "reports" / "check.json"
    code, streams = run_main(monkeypatch, capsys, "check", classification, "--json", out)
    assert code == 0, streams.err
    written = json.loads(out.read_text())
    assert written["duplicates"]["train"]["normalised"] == 3 and len(written["warnings"]) == 7
    assert sorted(p.name for p in out.parent.iterdir()) == ["check.json"]  # no temporary file left
    assert "7 warnings" in streams.out and "7. train: 1 of 11 texts" in streams.out

    out.write_text("keep me")
    code, streams = run_main(monkeypatch, capsys, "check", classification, "--json", out)
    assert code == 2 and "already exists" in streams.err and "--overwrite" in streams.err
    assert out.read_text() == "keep me"
    code, streams = run_main(monkeypatch, capsys, "check", classification, "--json", out, "--overwrite")
    assert code == 0 and json.loads(out.read_text())["task"] == "text_classification"

    train = tmp_path / "train.csv"
    before = train.read_bytes()
    code, streams = run_main(monkeypatch, capsys, "check", classification, "--json", train, "--overwrite")
    assert code == 2 and "is an input" in streams.err and train.read_bytes() == before


def test_exit_codes(monkeypatch, capsys, classification, tmp_path):
    code, streams = run_main(monkeypatch, capsys, "check", classification)
    assert code == 0 and "what to do" in streams.out
    code, streams = run_main(monkeypatch, capsys, "check", classification, "--strict")
    assert code == 1

    clean = [(f"text number {w}", label) for w in ("one", "two", "three", "four") for label in ("a", "b")]
    clean = [(f"{text} {label}", label) for text, label in clean]
    write_csv(tmp_path / "clean.csv", clean)
    args = ["--set", f"data.train={tmp_path / 'clean.csv'}", "--set", "data.dev=null", "--set", "data.split.dev=0"]
    code, streams = run_main(monkeypatch, capsys, "check", classification, *args, "--strict", "--min-examples", "1")
    assert code == 0, streams.out
    assert "no problems found" in streams.out

    write_csv(tmp_path / "bad_dev.csv", [("reset my password", "account"), ("what is this", "unknown")])
    code, streams = run_main(monkeypatch, capsys, "check", classification, "--set", f"data.dev={tmp_path}/bad_dev.csv")
    assert code == 2
    assert "bad_dev.csv:3" in streams.err and "unknown" in streams.err and "Traceback" not in streams.err

    code, streams = run_main(monkeypatch, capsys, "check", classification, "--set", "data.lable_column=x")
    assert code == 2 and "data.lable_column" in streams.err


def test_carved_dev_points_into_train(tmp_path, tiny_model_dir):
    rows = [(f"sentence {i} about {label}", label) for i in range(10) for label in ("a", "b")]
    rows.append(rows[0])  # one exact duplicate, line 22
    write_csv(tmp_path / "train.csv", rows)
    config = write_config(
        tmp_path, f"model:\n  name: {tiny_model_dir}\ndata:\n  train: train.csv\n  split:\n    dev: 0.25\n"
    )
    report = check_data(load_config(config))
    splits = report["splits"]
    assert splits["dev"] == {"count": 6, "source": "split", "file": str(tmp_path / "train.csv")}
    assert splits["train"]["count"] + splits["dev"]["count"] == 21
    dup = report["duplicates"]
    moved = report["overlap"].get("train/dev", {"examples": 0})["examples"]
    # the copy is either within one split or leaks across train and dev
    assert dup["train"]["exact"] + dup.get("dev", {"exact": 0})["exact"] + moved == 1


def test_tokenizer_that_does_not_load_skips_the_length_check(tmp_path):
    write_csv(tmp_path / "train.csv", [(f"text {i}", "ab"[i % 2]) for i in range(20)])
    config = write_config(tmp_path, f"model:\n  name: {tmp_path / 'no-model'}\ndata:\n  train: train.csv\n")
    report = check_data(load_config(config), min_examples=1)
    assert report["lengths"]["checked"] is False and "no-model" in report["lengths"]["reason"]
    assert any("length check skipped" in note for note in report["notes"])
    assert report["warnings"] == []


def test_regression_targets_and_out_of_range_dev(tmp_path, tiny_model_dir):
    write_jsonl(tmp_path / "train.jsonl", [{"text": f"pair {i}", "label": v} for i, v in enumerate([1, 2, 3, 4])])
    write_jsonl(
        tmp_path / "dev.jsonl",
        [{"text": "dev a", "label": 2.5}, {"text": "dev b", "label": 6}, {"text": "c", "label": 0}],
    )
    config = write_config(
        tmp_path,
        f"task:\n  name: text_regression\n  min_value: 0\n  max_value: 5\nmodel:\n  name: {tiny_model_dir}\n"
        "data:\n  train: train.jsonl\n  dev: dev.jsonl\n",
    )
    report = check_data(load_config(config), console=QUIET)
    facts = report["task_facts"]
    train = facts["targets"]["train"]
    assert (train["count"], train["min"], train["max"], train["mean"]) == (4, 1.0, 4.0, 2.5)
    assert math.isclose(train["std"], math.sqrt(1.25))
    dev = facts["targets"]["dev"]
    assert (dev["count"], dev["min"], dev["max"]) == (3, 0.0, 6.0)
    assert facts["outside_train_range"] == {"dev": {"count": 2, "lines": [2, 3]}}
    assert facts["outside_configured_range"] == {
        "train": {"count": 0, "lines": []},
        "dev": {"count": 1, "lines": [2]},
    }
    assert report["classes"] is None
    warnings = report["warnings"]
    assert len(warnings) == 2, warnings
    assert "dev has 2 targets outside train's range [1, 4] (lines 2, 3)" in warnings[0]
    assert "dev has 1 targets outside task.min_value/max_value [0, 5] (lines 2)" in warnings[1]


def test_regression_duplicate_pairs_with_different_targets(tmp_path, tiny_model_dir):
    rows = [("a man plays", "someone plays", "4.0"), ("a man plays", "someone plays", "1.0"), ("x", "y", "2")]
    rows += [(f"other {i}", f"pair {i}", str(i)) for i in range(3)]
    write_csv(tmp_path / "train.csv", rows, header=("sentence1", "sentence2", "label"))
    config = write_config(
        tmp_path,
        f"task:\n  name: text_regression\nmodel:\n  name: {tiny_model_dir}\ndata:\n  train: train.csv\n"
        "  text_column: sentence1\n  text_pair_column: sentence2\n  split:\n    dev: 0\n",
    )
    report = check_data(load_config(config))
    assert report["duplicates"]["train"]["exact"] == 1
    noise = report["label_noise"]
    assert noise["texts"] == 1 and noise["groups"][0]["labels"] == {"4.0": 1, "1.0": 1}


def ner_sentence(text, tags):
    return list(zip(text.split(), tags.split()))


def test_ner_entity_counts_and_windows(tmp_path, tiny_model_dir):
    train = [
        ner_sentence("john met mary in paris", "B-PER O B-PER O B-LOC"),  # line 1
        ner_sentence("john met mary in paris", "B-PER O B-PER O B-LOC"),  # line 7: exact copy
        ner_sentence("John met Mary in Paris", "B-PER O O O B-LOC"),  # line 13: the same words, other tags
        ner_sentence("susan saw the eiffel tower", "B-PER O O B-MISC I-MISC"),  # line 19
        ner_sentence("i visited london", "O O B-LOC"),  # line 25
        ner_sentence(LONG.strip(), " ".join(["O"] * 200)),  # line 29: longer than max_length, no entities
    ]
    dev = [ner_sentence("mary in rome", "B-PER O B-LOC"), ner_sentence("i visited london", "O O B-LOC")]
    write_conll(tmp_path / "train.conll", train)
    write_conll(tmp_path / "dev.conll", dev)
    config = write_config(
        tmp_path,
        f"task:\n  name: token_classification\nmodel:\n  name: {tiny_model_dir}\n  max_length: 32\n"
        "data:\n  train: train.conll\n  dev: dev.conll\n",
    )
    report = check_data(load_config(config), min_examples=2, console=QUIET)
    classes = report["classes"]
    assert classes["noun"] == "entity type" and classes["unit"] == "entities"
    assert classes["counts"] == {
        "train": {"LOC": 4, "MISC": 1, "PER": 6},
        "dev": {"LOC": 2, "MISC": 0, "PER": 1},
    }
    assert classes["too_few"]["train"] == [{"class": "MISC", "count": 1}]
    assert classes["imbalance"]["train"]["ratio"] == 6.0
    assert (report["duplicates"]["train"]["exact"], report["duplicates"]["train"]["normalised"]) == (1, 2)
    assert report["overlap"]["train/dev"]["examples"] == 1 and report["overlap"]["train/dev"]["lines"] == [5]
    noise = report["label_noise"]
    assert noise["texts"] == 1 and [o["line"] for o in noise["groups"][0]["occurrences"]] == [1, 7, 13]
    facts = report["task_facts"]
    assert (facts["format"], facts["tag_scheme"], facts["repairs"]) == ("conll", "iob2", 0)
    assert facts["splits"]["train"] == {"sentences": 6, "entities": 11, "without_entities": 1}
    assert facts["splits"]["dev"] == {"sentences": 2, "entities": 3, "without_entities": 0}
    # a long sentence is split into windows, not cut: counted, but no warning
    lengths = report["lengths"]
    assert lengths["truncates"] is False
    assert lengths["splits"]["train"]["count"] == 1 and lengths["splits"]["train"]["longest"]["line"] == 29
    assert not any("truncated" in w for w in report["warnings"])
    assert any("windows" in note for note in report["notes"])


def test_ner_repairs_are_reported(tmp_path, tiny_model_dir):
    train = [ner_sentence("john met mary", "I-PER O B-PER"), ner_sentence("in paris", "O B-LOC")]
    write_conll(tmp_path / "train.conll", train)
    config = write_config(
        tmp_path,
        f"task:\n  name: token_classification\nmodel:\n  name: {tiny_model_dir}\n"
        "data:\n  train: train.conll\n  tag_scheme: iob2\n  split:\n    dev: 0\n",
    )
    with pytest.raises(Exception, match="repair_tags"):
        check_data(load_config(config))  # as training: an invalid sequence is an error unless repaired
    report = check_data(load_config(config, ["data.repair_tags=true"]), min_examples=1)
    assert report["task_facts"]["repairs"] == 1
    assert report["warnings"] == [
        "1 invalid tags or overlapping spans were repaired while reading (data.repair_tags): check the tag "
        "sequences in the files"
    ]
