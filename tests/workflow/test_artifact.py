"""A trained artifact: its files, and reloading through tunelab.load, tunelab evaluate and plain
transformers giving the training-time numbers."""

import json
import os

import numpy as np
import pytest
import torch
from rich.console import Console
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import tunelab
from helpers import tiny_overrides
from tunelab.artifact import ArtifactError, read_meta
from tunelab.config import load_config
from tunelab.data import read_examples
from tunelab.workflow.evaluate import evaluate_artifact
from tunelab.workflow.train import train


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    from helpers import make_texts, write_csv

    root = tmp_path_factory.mktemp("trained")
    data = {
        "train": write_csv(root / "train.csv", make_texts(120, seed=1)),
        "dev": write_csv(root / "dev.csv", make_texts(30, seed=2)),
        "test": write_csv(root / "test.csv", make_texts(30, seed=3)),
    }
    cfg = load_config(
        None, tiny_overrides(tiny_model_dir, data, **{"data.test": str(data["test"]), "output.plots": True})
    )
    result = train(cfg, output_dir=root / "model", console=Console(file=open("/dev/null", "w")))
    return result, data


@pytest.mark.train
def test_artifact_files(trained):
    result, _ = trained
    out = result.output_dir
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "tunelab.json",
        "report.json",
        "README.md",
        "confusion_matrix.png",
        "training_curves.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "account", "1": "billing", "2": "shipping"}
    meta = read_meta(out)
    assert meta["labels"] == ["account", "billing", "shipping"]
    assert meta["task"]["name"] == "text_classification"
    assert {"torch", "transformers", "tunelab"} <= set(meta["versions"])
    assert set(meta["data"]["fingerprint"]) == {"train", "dev", "test"}
    assert len(meta["data"]["files"]["train"]["sha256"]) == 64
    assert meta["config"]["training"]["epochs"] == 8
    assert meta["model"]["head_modules"] == ["dropout", "classifier"]
    card = (out / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "accuracy" in card


@pytest.mark.train
def test_report_json_layout(trained):
    result, data = trained
    report = json.loads((result.output_dir / "report.json").read_text())
    metrics = report["metrics"]
    for key in ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "per_label", "confusion_matrix"):
        assert key in metrics
    # recorded relative to the artifact: no absolute path of the training machine
    file = os.path.relpath(data["test"], result.output_dir)
    assert report["evaluated_on"] == {"split": "test", "file": file, "num_examples": 30}
    assert set(report["splits"]) == {"dev", "test"}
    assert sum(map(sum, metrics["confusion_matrix"])) == 30
    assert metrics["per_label"]["billing"]["support"] == 10


@pytest.mark.train
def test_load_predicts_the_report_numbers(trained):
    result, data = trained
    model = tunelab.load(result.output_dir)
    examples = read_examples(data["test"]).examples
    texts = [ex.text for ex in examples]
    predicted = model.predict(texts)
    accuracy = np.mean([p == ex.label for p, ex in zip(predicted, examples)])
    assert accuracy == pytest.approx(result.report["metrics"]["accuracy"])
    proba = model.predict_proba(texts)
    assert proba.shape == (30, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert [model.labels[i] for i in proba.argmax(axis=1)] == predicted
    assert model.predict("my invoice charge was wrong") == predicted[:0] + model.predict(
        ["my invoice charge was wrong"]
    )
    scores = model.predict_scores(texts[:2], top_k=2)
    assert len(scores[0]["top"]) == 2 and scores[0]["top"][0]["label"] == scores[0]["label"]


@pytest.mark.train
def test_evaluate_gives_the_training_time_numbers(trained, tmp_path):
    result, data = trained
    out = tmp_path / "eval.json"
    report = evaluate_artifact(result.output_dir, data["test"], json_out=out)
    assert report["metrics"] == result.report["metrics"]
    assert json.loads(out.read_text())["metrics"] == result.report["metrics"]
    dev_report = evaluate_artifact(result.output_dir, data["dev"])
    assert dev_report["metrics"] == result.report["splits"]["dev"]


@pytest.mark.train
def test_plain_transformers_agrees(trained):
    result, data = trained
    model = AutoModelForSequenceClassification.from_pretrained(result.output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(result.output_dir)
    examples = read_examples(data["test"]).examples
    with torch.inference_mode():
        correct = 0
        for ex in examples:  # one text at a time: no padding at all
            logits = model(**tokenizer(ex.text, return_tensors="pt")).logits
            correct += model.config.id2label[int(logits.argmax())] == ex.label
    assert correct / len(examples) == pytest.approx(result.report["metrics"]["accuracy"])


def test_not_an_artifact(tmp_path):
    with pytest.raises(ArtifactError, match="not a tunelab artifact"):
        tunelab.load(tmp_path)
    with pytest.raises(ArtifactError, match="not found"):
        tunelab.load(tmp_path / "missing")


@pytest.mark.train
def test_evaluate_other_column_names_and_unknown_labels(trained, tmp_path):
    from helpers import make_texts, write_csv
    from tunelab.errors import DataError

    result, _ = trained
    rows = make_texts(12, seed=9)
    renamed = write_csv(tmp_path / "renamed.csv", rows, header=("sentence", "intent"))
    report = evaluate_artifact(result.output_dir, renamed)
    assert report["metrics"]["num_examples"] == 12
    explicit = write_csv(tmp_path / "explicit.csv", [(label, t) for t, label in rows], header=("y", "body"))
    report2 = evaluate_artifact(result.output_dir, explicit, text_column="body", label_column="y")
    assert report2["metrics"] == report["metrics"]
    with pytest.raises(DataError, match="column not found"):
        evaluate_artifact(result.output_dir, explicit, text_column="nope", label_column="y")
    unknown = write_csv(tmp_path / "unknown.csv", rows + [("some text", "refunds")])
    with pytest.raises(DataError) as err:
        evaluate_artifact(result.output_dir, unknown)
    assert f"{unknown}:14" in str(err.value) and "refunds" in str(err.value)
