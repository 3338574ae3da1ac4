"""tunelab.json: one typed model, written and read in one place, versioned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunelab.artifact import FORMAT_VERSION, META_FILE, ArtifactError, ArtifactMeta, read_meta, write_meta

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy_v1"


def test_round_trip_keeps_unknown_keys(tmp_path):
    meta = read_meta(LEGACY / "classification")
    raw = meta.to_json()
    raw["from_a_newer_minor_release"] = {"x": 1}
    (tmp_path / META_FILE).write_text(json.dumps(raw), encoding="utf-8")
    again = read_meta(tmp_path)
    assert again.model_extra["from_a_newer_minor_release"] == {"x": 1}
    write_meta(again, tmp_path / "copy")
    assert json.loads((tmp_path / "copy" / META_FILE).read_text())["from_a_newer_minor_release"] == {"x": 1}
    assert again.format_version == FORMAT_VERSION and again.task.name == "text_classification"
    assert again["training"]["steps"] == meta.training["steps"]  # read access by key, as for the old dict


def test_typed_parts_are_validated(tmp_path):
    raw = read_meta(LEGACY / "ner").to_json()
    raw["model"]["max_length"] = "long"
    (tmp_path / META_FILE).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"model\.max_length"):
        read_meta(tmp_path)
    assert ArtifactMeta.model_validate(read_meta(LEGACY / "ner").to_json()).model.max_length == 128


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not readable JSON"),
        ("[1, 2]", "does not hold a JSON object"),
        (json.dumps({"format_version": 99}), "newer tunelab"),
    ],
)
def test_damaged_or_newer_files_are_clear_errors(tmp_path, content, message):
    (tmp_path / META_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ArtifactError, match=message):
        read_meta(tmp_path)


def test_format_1_is_upgraded_and_written_back_as_format_2(tmp_path):
    shutil.copytree(LEGACY / "ner", tmp_path / "ner")
    meta = read_meta(tmp_path / "ner")
    write_meta(meta, tmp_path / "ner")
    raw = json.loads((tmp_path / "ner" / META_FILE).read_text())
    assert raw["format_version"] == 2 and "format" not in raw["data"] and raw["data"]["reading"]["tag_scheme"] == "iob2"
    assert set(raw["config"]["data"]) <= {
        "train",
        "dev",
        "test",
        "format",
        "encoding",
        "split",
        "token_column",
        "tag_column",
        "tag_scheme",
        "repair_tags",
    }
