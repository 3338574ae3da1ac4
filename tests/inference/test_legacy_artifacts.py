"""Artifacts written by format 1 (wave 1) still load and predict exactly what they predicted then.

The fixtures were written by scripts/make_legacy_fixtures.py with the format-1 release and are kept
without weights; `legacy_artifacts` (conftest) adds deterministic weights built in code, and
expected.json holds what the format-1 release predicted with them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tunelab.artifact import FORMAT_VERSION, read_meta
from tunelab.inference.predictor import load

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_v1"
EXPECTED = json.loads((LEGACY / "expected.json").read_text(encoding="utf-8"))


def _same(a, b, path="") -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=2e-6), f"{path}: {a} != {b}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_format_1_artifact_predicts_as_when_written(name, legacy_artifacts):
    case = EXPECTED[name]
    predictor = load(legacy_artifacts / name)
    records = predictor.predict_scores(case["texts"], case.get("text_pairs"), top_k=2)
    _same(records, case["records"])


def test_format_1_metadata_is_upgraded_on_read():
    raw = json.loads((LEGACY / "pair_classification" / "tunelab.json").read_text(encoding="utf-8"))
    assert raw["format_version"] == 1 and "columns" in raw["data"]
    meta = read_meta(LEGACY / "pair_classification")
    assert meta.format_version == FORMAT_VERSION == 2
    assert meta.data.reading["columns"]["text_pair"] == "text_pair"
    assert meta.task.state["pairs"] is True  # format 1 did not say so: its columns do
    ner = read_meta(LEGACY / "ner")
    assert ner.data.reading["tag_scheme"] == "iob2" and "label_separator" not in ner.data_config


def test_legacy_pair_model_refuses_single_texts(legacy_artifacts):
    from tunelab.errors import InputError

    predictor = load(legacy_artifacts / "pair_classification")
    with pytest.raises(InputError, match="text pairs"):
        predictor.predict(["only one text"])
    single = load(legacy_artifacts / "classification")
    with pytest.raises(InputError, match="single texts"):
        single.predict(["a"], ["b"])
