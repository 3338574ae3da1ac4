"""`tunelab predict` with text pairs, on real (tiny) format-1 artifacts: no training needed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from helpers import write_csv
from tunelab.cli.app import app
from tunelab.errors import DataError, InputError


@pytest.fixture
def pairs(legacy_artifacts) -> str:
    return str(legacy_artifacts / "pair_classification")


@pytest.fixture
def single(legacy_artifacts) -> str:
    return str(legacy_artifacts / "classification")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_inline_pairs(pairs):
    result = invoke("predict", pairs, "my invoice", "where is my parcel", "--pair", "invoice", "-p", "parcel", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    got = [(r["text"], r["text_pair"]) for r in records]
    assert got == [("my invoice", "invoice"), ("where is my parcel", "parcel")]


def test_pair_model_without_pairs_and_single_model_with_pairs_are_refused(pairs, single):
    missing = invoke("predict", pairs, "my invoice")
    assert isinstance(missing.exception, InputError) and "trained on text pairs" in str(missing.exception)
    short = invoke("predict", pairs, "a", "b", "--pair", "a")
    assert isinstance(short.exception, InputError) and "2 texts but 1 text_pairs" in str(short.exception)
    extra = invoke("predict", single, "my invoice", "--pair", "invoice")
    assert isinstance(extra.exception, InputError) and "single texts" in str(extra.exception)


def test_pair_column_of_a_file(pairs, tmp_path):
    rows = [("my invoice", "invoice"), ("where is my parcel", "parcel")]
    source = write_csv(tmp_path / "in.csv", rows, header=("question", "context"))
    out = tmp_path / "out.csv"
    result = invoke(
        "predict",
        pairs,
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
    refused = invoke("predict", pairs, "-i", str(no_pairs))
    assert isinstance(refused.exception, DataError) and "no text-pair column" in str(refused.exception)
