"""No file of an artifact holds an absolute path of the machine that trained it: data files, a local
base model and the export's source are recorded relative to the artifact, so an artifact moved
together with its data and base model still loads, evaluates and exports."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from helpers import make_texts, tiny_overrides, write_csv
from tunelab.artifact import read_meta
from tunelab.config import load_config
from tunelab.inference.predictor import load
from tunelab.workflow.train import train


def absolute_paths_in(artifact: Path, roots: list[Path]) -> list[str]:
    """``file: root`` for every file of ``artifact`` (text or binary) that holds one of ``roots``."""
    found = []
    for path in sorted(p for p in artifact.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for root in roots:
            if str(root).encode() in data:
                found.append(f"{path.relative_to(artifact)}: {root}")
    return found


@pytest.mark.train
@pytest.mark.parametrize("method", ["full", "lora"])
def test_no_absolute_path_in_an_artifact_and_a_moved_one_still_works(tmp_path, tiny_model_dir, method):
    home = tmp_path / "machine-a"
    model_dir = shutil.copytree(tiny_model_dir, home / "models" / "tiny")
    data = {
        "train": write_csv(home / "data" / "train.csv", make_texts(90, seed=1)),
        "dev": write_csv(home / "data" / "dev.csv", make_texts(30, seed=2)),
    }
    overrides = tiny_overrides(model_dir, data, **{"training.epochs": 2, "method.name": method})
    out = home / "runs" / "model"
    train(load_config(None, overrides), output_dir=out, console=Console(file=io.StringIO()))
    roots = [home, tiny_model_dir, Path(__file__).resolve().parents[2], Path.home()]
    assert absolute_paths_in(out, roots) == []
    meta = read_meta(out)
    assert meta.data.files["dev"].path == "../../data/dev.csv"
    assert meta.model.source == "local" and meta.model.base == "../../models/tiny"
    expected = load(out).predict(["my invoice is wrong", "where is my parcel"])

    # the whole tree moves to another machine (another absolute path): it still loads and exports
    moved = shutil.move(home, tmp_path / "machine-b")
    artifact = Path(moved) / "runs" / "model"
    assert load(artifact).predict(["my invoice is wrong", "where is my parcel"]) == expected
    from tunelab.export.onnx import export_onnx

    report = export_onnx(artifact, Path(moved) / "runs" / "onnx")  # parity on the recorded dev file
    assert report["data"]["source"] == "dev file" and report["data"]["file"] == "../../data/dev.csv"
    assert absolute_paths_in(Path(moved) / "runs" / "onnx", [Path(moved), tmp_path]) == []
    exported = read_meta(Path(moved) / "runs" / "onnx")
    assert exported.data.files["dev"].path == "../../data/dev.csv" and exported.export["source"] == "../model"
