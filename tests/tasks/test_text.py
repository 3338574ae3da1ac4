"""What the text tasks share (tasks/text.py)."""

from __future__ import annotations

from types import SimpleNamespace

from tunelab.tasks.text import _format_for


def test_later_files_are_read_in_the_training_format_only_when_they_look_like_the_training_file():
    train = SimpleNamespace(path="/data/sts-train.csv")
    assert _format_for("sts-test.csv", "tsv", train) == "tsv"  # STS-B: tabs in a .csv file
    assert _format_for("more.jsonl", "tsv", train) == "auto"  # another kind of file: from its extension
    assert _format_for("TEST.CSV", "tsv", train) == "tsv"
    assert _format_for("test.csv", "auto", train) == "auto"
    assert _format_for("test.csv", "tsv", None) == "auto"
