"""`tunelab predict` with text pairs, on real (tiny) format-1 artifacts: no training needed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from helpers import write_csv
from tunelab.cli.app import app
from tunelab.errors import DataError, InputError

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_v1"
PAIRS, SINGLE = str(LEGACY / "pair_classification"), str(LEGACY / "classification")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_inline_pairs():
    result = invoke("predict", PAIRS, "my invoice", "where is my parcel", "--pair", "invoice", "-p", "parcel", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    pairs = [(r["text"], r["text_pair"]) for r in records]
    assert pairs == [("my invoice", "invoice"), ("where is my parcel", "parcel")]


def test_pair_model_without_pairs_and_single_model_with_pairs_are_refused():
    missing = invoke("predict", PAIRS, "my invoice")
    assert isinstance(missing.exception, InputError) and "trained on text pairs" in str(missing.exception)
    short = invoke("predict", PAIRS, "a", "b", "--pair", "a")
    assert isinstance(short.exception, InputError) and "2 texts but 1 text_pairs" in str(short.exception)
    extra = invoke("predict", SINGLE, "my invoice", "--pair", "invoice")
    assert isinstance(extra.exception, InputError) and "single texts" in str(extra.exception)


def test_pair_column_of_a_file(tmp_path):
    rows = [("my invoice", "invoice"), ("where is my parcel", "parcel")]
    source = write_csv(tmp_path / "in.csv", rows, header=("question", "context"))
    out = tmp_path / "out.csv"
    result = invoke(
        "predict",
        PAIRS,
        "-i",
        str(source),
        "--text-column",
        "question",
        "--text-pair-column",
        "context",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("text,text_pair,label,score") and len(lines) == 3
    no_pairs = write_csv(tmp_path / "single.csv", [("my invoice",)], header=("text",))
    refused = invoke("predict", PAIRS, "-i", str(no_pairs))
    assert isinstance(refused.exception, DataError) and "no text-pair column" in str(refused.exception)
