"""Relation extraction end to end on a tiny random BERT: train on toy SemEval-format files whose
relation depends on the direction (a person e1 and a place e2, or the reverse), then the report
with the official score, predict (inline markers and offsets), reload, evaluate, the CLI, ONNX
export parity and the HTTP service; and a typed-marker run on JSONL."""

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
from helpers import PEOPLE, PLACES, tiny_overrides
from tunelab.artifact import read_meta
from tunelab.cli.app import app
from tunelab.config import load_config
from tunelab.errors import InputError
from tunelab.export import export_onnx
from tunelab.serve.app import create_app, load_predictor
from tunelab.serve.settings import ServeSettings
from tunelab.workflow.evaluate import evaluate_artifact
from tunelab.workflow.train import train

pytestmark = pytest.mark.train

QUIET = Console(quiet=True)
FILL = ["the", "my", "is", "was", "please", "help", "with", "today", "again", "not", "a", "i"]
FORWARD, BACKWARD = "Entity-Origin(e1,e2)", "Entity-Origin(e2,e1)"


def toy(i: int, rng: random.Random) -> tuple[str, str]:
    """A marked sentence and its label: person e1 + place e2 is one direction, the reverse the
    other, two persons or two places are Other."""
    a_person = rng.random() < 0.5
    b_person = rng.random() < 0.5 if i % 3 == 0 else not a_person
    a, b = rng.choice(PEOPLE if a_person else PLACES), rng.choice(PEOPLE if b_person else PLACES)
    label = "Other" if a_person == b_person else FORWARD if a_person else BACKWARD
    w = rng.sample(FILL, 3)
    return f"{w[0]} <e1>{a}</e1> {w[1]} <e2>{b}</e2> {w[2]}", label


def write_semeval(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    blocks = []
    for i in range(n):
        sentence, label = toy(i, rng)
        blocks.append(f'{i + 1}\t"{sentence}"\r\n{label}\r\nComment:\r\n\r\n')
    path.write_bytes("".join(blocks).encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def rel(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("relations")
    data = {"train": write_semeval(root / "TRAIN.TXT", 240, 1), "dev": write_semeval(root / "DEV.TXT", 60, 2)}
    overrides = tiny_overrides(
        tiny_model_dir, data, **{"task.name": "relation_extraction", "training.epochs": 6, "output.plots": True}
    )
    result = train(load_config(None, overrides), output_dir=root / "model", console=QUIET)
    return {
        "root": root,
        "data": data,
        "out": result.output_dir,
        "report": result.report,
        "predictor": tunelab.load(result.output_dir),
    }


def test_learns_and_reports_the_official_score(rel):
    out, metrics = rel["out"], rel["report"]["metrics"]
    assert metrics["official_f1"] > 0.8, metrics  # the direction is learnt: chance is far lower
    assert metrics["num_examples"] == 60 and metrics["no_relation"] == "Other"
    assert set(metrics["official_per_relation"]) == {"Entity-Origin"}
    saved = json.loads((out / "report.json").read_text())
    assert saved["metrics"]["official_f1"] == metrics["official_f1"]
    for name in ("confusion_matrix.png", "per_label_f1.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    meta = read_meta(out)
    assert meta.task.name == "relation_extraction" and meta.labels == [FORWARD, BACKWARD, "Other"]
    assert meta.task.state["semeval"] is True and meta.task.state["markers"][:2] == ["<e1>", "</e1>"]
    assert meta.training["best_dev_metric"]["name"] == "official_f1"
    assert meta.model.architecture == "TunelabForPositionClassification"
    worst = saved["worst_errors"]["rows"]
    assert worst and all("<e1>" in row["text"] and "<e2>" in row["text"] for row in worst)


def test_predict_direction_inline_and_offsets(rel):
    predictor = rel["predictor"]
    forward, backward, offsets = predictor.predict(
        [
            "my <e1>john</e1> is <e2>paris</e2> today",
            "my <e1>paris</e1> is <e2>john</e2> today",
            '{"text": "my mary is rome", "head": {"start": 3, "end": 7}, "tail": {"start": 11, "end": 15}}',
        ]
    )
    assert (forward, backward, offsets) == (FORWARD, BACKWARD, FORWARD)
    # the same text with head and tail swapped by offsets: the other direction
    swapped = predictor.predict(
        [{"text": "john in paris", "head": {"start": 8, "end": 13}, "tail": {"start": 0, "end": 4}}]
    )
    assert swapped == [BACKWARD]
    record = predictor.predict_scores(["my <e1>john</e1> is <e2>paris</e2>"], top_k=2)[0]
    assert record["text"] == "my john is paris" and record["relation"] == FORWARD
    assert record["head"] == {"start": 3, "end": 7, "text": "john"} and record["tail"]["text"] == "paris"
    assert [t["label"] for t in record["top"]][0] == FORWARD and len(record["top"]) == 2
    with pytest.raises(InputError, match="no <e2>"):
        predictor.predict(["<e1>john</e1> alone"])


def test_reload_and_evaluate_give_the_reports_metrics(rel, tmp_path):
    again = tunelab.load(rel["out"])
    texts = ["the <e1>rome</e1> was <e2>laura</e2>", "<e1>david</e1> not <e2>tokyo</e2>"]
    assert again.predict_scores(texts) == rel["predictor"].predict_scores(texts)
    result = evaluate_artifact(rel["out"], rel["data"]["dev"], json_out=tmp_path / "e.json")
    assert result["metrics"]["official_f1"] == rel["report"]["metrics"]["official_f1"]
    assert result["metrics"]["confusion_matrix"] == rel["report"]["metrics"]["confusion_matrix"]


def test_cli_predict_and_evaluate(rel, tmp_path):
    runner = CliRunner()
    out = str(rel["out"])
    result = runner.invoke(app, ["predict", out, "my <e1>john</e1> is <e2>paris</e2>", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["relation"] == FORWARD and record["head"]["text"] == "john"
    table = runner.invoke(app, ["predict", out, "my <e1>john</e1> is <e2>paris</e2>"])
    assert table.exit_code == 0 and "relation" in table.output and "john [3, 7)" in table.output
    # a SemEval file without keys (the official TEST_FILE.TXT layout) as prediction input
    unlabelled = tmp_path / "TEST_FILE.TXT"
    unlabelled.write_text('8001\t"my <e1>john</e1> is <e2>paris</e2>"\n8002\t"my <e1>rome</e1> is <e2>mary</e2>"\n')
    result = runner.invoke(app, ["predict", out, "-i", str(unlabelled), "-o", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [(r["id"], r["relation"]) for r in rows] == [("8001", FORWARD), ("8002", BACKWARD)]
    scores = tmp_path / "scores.json"
    result = runner.invoke(app, ["evaluate", out, str(rel["data"]["dev"]), "--json", str(scores)])
    assert result.exit_code == 0, result.output
    assert "official score" in result.output
    assert json.loads(scores.read_text())["metrics"]["official_f1"] == rel["report"]["metrics"]["official_f1"]


def test_onnx_export_parity(rel, monkeypatch):
    monkeypatch.setattr(onnx_export, "BATCH1_CALLS", 3)
    monkeypatch.setattr(onnx_export, "BATCH32_CALLS", 1)
    report = export_onnx(rel["out"], rel["root"] / "onnx")
    assert report["gate"]["passed"] and report["metric"]["name"] == "official_f1"
    assert report["agreement"] == 1.0 and report["compared"] == 60 and report["agreement_unit"] == "relations"
    assert report["max_abs_output_diff"] < 1e-4 and report["data"]["same_as_training_dev"] is True
    exported = tunelab.load(rel["root"] / "onnx")
    assert exported.backend.name == "onnx"
    texts = [
        "my <e1>john</e1> is <e2>paris</e2>",
        '{"text": "rome and mary", "head": {"start": 0, "end": 4}, "tail": {"start": 9, "end": 13}}',
    ]
    a, b = exported.predict_scores(texts), rel["predictor"].predict_scores(texts)
    assert [r["relation"] for r in a] == [r["relation"] for r in b]
    assert [r["score"] for r in a] == pytest.approx([r["score"] for r in b], abs=1e-4)


@contextlib.contextmanager
def serving(artifact, predictor):
    app_ = create_app(ServeSettings(artifact=artifact), loader=lambda settings: predictor)
    with TestClient(app_) as client:
        deadline = time.monotonic() + 20
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.01)
        yield client


def test_serve_marked_and_offset_texts(rel):
    predictor = load_predictor(ServeSettings(artifact=rel["out"]))  # warms up on a marked text
    texts = [
        "my <e1>john</e1> is <e2>paris</e2>",
        '{"text": "paris and john", "head": {"start": 0, "end": 5}, "tail": {"start": 10, "end": 14}}',
    ]
    with serving(rel["out"], predictor) as client:
        response = client.post("/v1/predict", json={"texts": texts, "top_k": 2})
        bad = client.post("/v1/predict", json={"texts": ["no markers here"]})
        info = client.get("/v1/model").json()
        schema = client.get("/openapi.json").json()
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["relation"] for p in predictions] == [FORWARD, BACKWARD]
    assert predictions[1]["head"] == {"start": 0, "end": 5, "text": "paris"}
    assert bad.status_code == 422
    assert info["task"] == "relation_extraction" and info["official_scorer"] == "semeval2010_task8"
    assert "RelationPrediction" in schema["components"]["schemas"]


def test_typed_markers_on_jsonl(tiny_model_dir, tmp_path):
    rng = random.Random(3)

    def rows(n):
        out = []
        for i in range(n):
            sentence, label = toy(i, rng)
            from tunelab.tasks.relation_extraction.inline import parse_marked

            text, head, tail = parse_marked(sentence)

            def kind(e, text=text):
                return "PER" if text[e.start : e.end] in PEOPLE else "LOC"

            out.append(
                {
                    "text": text,
                    "head": {"start": head.start, "end": head.end, "type": kind(head)},
                    "tail": {"start": tail.start, "end": tail.end, "type": kind(tail)},
                    "relation": {"Other": "none", FORWARD: "from", BACKWARD: "origin_of"}[label],
                }
            )
        return out

    data = {}
    for name, n in (("train", 120), ("dev", 30)):
        data[name] = tmp_path / f"{name}.jsonl"
        data[name].write_text("".join(json.dumps(r) + "\n" for r in rows(n)))
    overrides = tiny_overrides(
        tiny_model_dir,
        data,
        **{"task.name": "relation_extraction", "task.no_relation": "none", "training.epochs": 2},
    )
    result = train(load_config(None, overrides), output_dir=tmp_path / "model", console=QUIET)
    metrics = result.report["metrics"]
    assert "official_f1" not in metrics and metrics["no_relation"] == "none" and 0.0 <= metrics["micro_f1"] <= 1.0
    meta = read_meta(result.output_dir)
    assert meta.task.state["typed_markers"] is True and meta.task.state["entity_types"] == ["LOC", "PER"]
    predictor = tunelab.load(result.output_dir)
    assert predictor.predict(["<e1:PER>john</e1> in <e2:LOC>paris</e2>"])[0] in ("none", "from", "origin_of")
    with pytest.raises(InputError, match="typed markers"):
        predictor.predict(["<e1>john</e1> in <e2>paris</e2>"])
