"""Text regression end to end on a tiny random BERT: train on a toy pair-scoring set in STS-B's
layout (no header, extra trailing columns on some rows), then report, predict, evaluate, the CLI,
ONNX export and the HTTP service."""

from __future__ import annotations

import contextlib
import json
import random
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

import tunelab
import tunelab.export.onnx as onnx_export
from helpers import tiny_overrides
from tunelab.artifact import read_meta
from tunelab.cli.app import app
from tunelab.config import load_config
from tunelab.errors import InputError
from tunelab.export import export_onnx
from tunelab.serve.app import create_app
from tunelab.serve.settings import ServeSettings
from tunelab.workflow.evaluate import evaluate_artifact
from tunelab.workflow.train import train

pytestmark = pytest.mark.train

QUIET = Console(quiet=True)
# The score of a pair is how many cue words its two texts hold together (0-5): learnable by a tiny
# model in a few epochs, and spread over STS-B's 0-5 range.
CUES = ["red", "blue", "green", "happy", "music", "fire"]
OTHER = [
    "dog",
    "cat",
    "bird",
    "house",
    "car",
    "tree",
    "river",
    "book",
    "road",
    "city",
    "water",
    "game",
    "door",
    "chair",
    "table",
    "phone",
    "apple",
    "bread",
    "stone",
]


def make_pairs(n: int, seed: int) -> list[tuple[str, str, float]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = i % 6
        words = rng.sample(CUES, k) + rng.sample(OTHER, 8 - k)
        rng.shuffle(words)
        rows.append((" ".join(words[:4]), " ".join(words[4:]), float(k)))
    return rows


def write_stsb(path: Path, rows) -> Path:
    """STS-B's distributed layout: genre, source, year, id, score, sentence1, sentence2, and on some
    rows two extra source columns."""
    lines = []
    for i, (a, b, score) in enumerate(rows):
        fields = ["main-toy", "TOY", "2024", f"{i:04d}", f"{score:.3f}", a, b]
        if i % 7 == 3:
            fields += ["Europe Media Monitor", "Europe Media Monitor"]
        lines.append("\t".join(fields))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reg(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("regression")
    data = {
        "train": write_stsb(root / "sts-train.csv", make_pairs(150, 1)),
        "dev": write_stsb(root / "sts-dev.csv", make_pairs(40, 2)),
    }
    overrides = tiny_overrides(
        tiny_model_dir,
        data,
        **{
            "task.name": "text_regression",
            "task.min_value": 0,
            "task.max_value": 5,
            "training.epochs": 5,
            "training.metric": "spearman",
            "output.plots": True,
            "data.format": "tsv",
            "data.header": "no",
            "data.label_column": '"4"',
            "data.text_column": '"5"',
            "data.text_pair_column": '"6"',
        },
    )
    result = train(load_config(None, overrides), output_dir=root / "model", console=QUIET)
    return {
        "root": root,
        "data": data,
        "out": result.output_dir,
        "report": result.report,
        "meta": result.meta,
        "predictor": tunelab.load(result.output_dir),
    }


def test_learns_and_reports(reg):
    out, report = reg["out"], reg["report"]
    metrics = report["metrics"]
    assert metrics["spearman"] > 0.5, metrics  # chance is 0
    assert metrics["num_examples"] == 40 and report["labels"] == []
    saved = json.loads((out / "report.json").read_text())
    assert saved["metrics"]["spearman"] == metrics["spearman"]
    assert len(saved["metrics"]["points"]["gold"]) == 40
    assert (out / "scatter.png").read_bytes()[:4] == b"\x89PNG"
    meta = read_meta(out)
    assert meta.task.name == "text_regression" and meta.labels == []
    assert meta.task.state["mean"] == pytest.approx(2.5, abs=0.1) and meta.task.state["pairs"] is True
    assert meta.data.reading == {
        "columns": {"text": "5", "text_pair": "6", "label": "4"},
        "format": "tsv",
        "header": False,
    }
    assert meta.data.counts == {"train": 150, "dev": 40, "test": 0}
    assert meta.training["best_dev_metric"]["name"] == "spearman"
    assert "loss" in meta.training["history"][-1]["metrics"]
    assert "a number per text pair" in (out / "README.md").read_text()


def test_predict_numbers_and_pair_checks(reg):
    predictor = reg["predictor"]
    scores = predictor.predict(["a b c"], text_pairs=["a b d"])
    assert len(scores) == 1 and type(scores[0]) is float and 0.0 <= scores[0] <= 5.0
    high, low = predictor.predict(
        ["red blue green happy", "dog cat bird house"], text_pairs=["music fire red blue", "car tree river book"]
    )
    assert high > low
    with pytest.raises(InputError, match="text pairs"):
        predictor.predict(["a b c"])
    records = predictor.predict_scores(["a b c"], text_pairs=["a b d"])
    assert records == [{"text": "a b c", "text_pair": "a b d", "score": pytest.approx(scores[0])}]


def test_evaluate_gives_the_reports_metrics(reg, tmp_path):
    result = evaluate_artifact(reg["out"], reg["data"]["dev"], json_out=tmp_path / "e.json")
    assert result["metrics"] == reg["report"]["metrics"]
    assert json.loads((tmp_path / "e.json").read_text())["metrics"]["spearman"] == reg["report"]["metrics"]["spearman"]


def test_cli_predict_evaluate(reg, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(reg["out"]), "a b", "--pair", "a c", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert set(record) == {"text", "text_pair", "score"} and 0.0 <= record["score"] <= 5.0
    table = runner.invoke(app, ["predict", str(reg["out"]), "a b", "--pair", "a c"])
    assert table.exit_code == 0 and "score" in table.output
    single = runner.invoke(app, ["predict", str(reg["out"]), "a b"])
    assert isinstance(single.exception, InputError)  # `tunelab` (main) turns it into exit code 2
    dev = str(reg["data"]["dev"])
    result = runner.invoke(app, ["predict", str(reg["out"]), "-i", dev, "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "text,text_pair,score" and len(lines) == 41
    result = runner.invoke(app, ["evaluate", str(reg["out"]), dev, "--json", str(tmp_path / "e.json")])
    assert result.exit_code == 0, result.output
    assert "Spearman correlation" in result.output
    assert json.loads((tmp_path / "e.json").read_text())["metrics"]["spearman"] == reg["report"]["metrics"]["spearman"]


def test_onnx_export_parity(reg, monkeypatch):
    monkeypatch.setattr(onnx_export, "BATCH1_CALLS", 3)
    monkeypatch.setattr(onnx_export, "BATCH32_CALLS", 1)
    report = export_onnx(reg["out"], reg["root"] / "onnx")
    assert report["gate"]["passed"] and report["metric"]["name"] == "spearman"
    assert report["agreement"] == 1.0 and report["compared"] == 40 and report["agreement_unit"] == "texts"
    assert report["data"]["same_as_training_dev"] is True
    assert report["max_abs_output_diff"] < 1e-4
    exported = tunelab.load(reg["root"] / "onnx")
    assert exported.backend.name == "onnx"
    texts, pairs = ["red blue a", "dog cat", "fire music green"], ["happy b", "tree road", "blue red happy"]
    assert exported.predict(texts, text_pairs=pairs) == pytest.approx(
        reg["predictor"].predict(texts, text_pairs=pairs), abs=1e-4
    )


@contextlib.contextmanager
def serving(artifact, predictor):
    app_ = create_app(ServeSettings(artifact=artifact), loader=lambda settings: predictor)
    with TestClient(app_) as client:
        deadline = time.monotonic() + 20
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.01)
        yield client


def test_serve_pairs_and_refuses_single_texts(reg):
    predictor = reg["predictor"]
    texts, pairs = ["red blue green", "dog cat"], ["happy fire", "tree road"]
    with serving(reg["out"], predictor) as client:
        response = client.post("/v1/predict", json={"texts": texts, "text_pairs": pairs})
        single = client.post("/v1/predict", json={"texts": ["red blue"]})
        info = client.get("/v1/model").json()
        schema = client.get("/openapi.json").json()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"]["task"] == "text_regression"
    expected = predictor.predict(texts, text_pairs=pairs)
    assert [p["score"] for p in body["predictions"]] == pytest.approx(expected, abs=1e-5)
    assert [(p["text"], p["text_pair"]) for p in body["predictions"]] == list(zip(texts, pairs))
    assert single.status_code == 422 and single.json()["error"]["code"] == "pairs_required"
    assert (
        info["pairs"] is True
        and info["labels"] == []
        and info["metrics"]["spearman"] == pytest.approx(reg["report"]["metrics"]["spearman"])
    )
    content = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert content["examples"]["pairs"]["value"]["text_pairs"]
    assert "RegressionPrediction" in schema["components"]["schemas"]
