"""Extractive QA end to end on a tiny random BERT: train on toy questions (some unanswerable, some
contexts longer than a window), then the report, reload and predict, evaluate, the CLI with
--question/--context, ONNX export parity and the service's {question, context} items."""

from __future__ import annotations

import contextlib
import json
import random
import time

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

import tunelab
import tunelab.export.onnx as onnx_export
from helpers import tiny_overrides, write_jsonl
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
CUES = ["invoice", "delivery", "password", "package"]
CITIES = ["paris", "london", "berlin", "madrid", "tokyo", "rome"]
FILLER = ["the", "my", "is", "was", "please", "help", "with", "today", "again", "not", "why", "when", "a", "need"]


def make_questions(n: int, seed: int) -> list[dict]:
    """'... the invoice went to paris ...': the answer is the city after the cue word the question
    names; every fifth context has no cue (unanswerable); some contexts outgrow a 48-token window."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cue, city = rng.choice(CUES), rng.choice(CITIES)
        before = [rng.choice(FILLER) for _ in range(rng.randint(2, 30))]
        after = [rng.choice(FILLER) for _ in range(rng.randint(2, 12))]
        question = f"where did the {cue} go ?"
        if i % 5 == 4:
            context = " ".join(before + after)
            rows.append(
                {"id": f"q{seed}-{i}", "question": question, "context": context, "answers": [], "title": f"t{i}"}
            )
            continue
        head = " ".join(before + ["the", cue, "went", "to"]) + " "
        context = head + " ".join([city] + after)
        rows.append(
            {"id": f"q{seed}-{i}", "question": question, "context": context, "title": f"t{i}",
             "answers": [{"text": city, "answer_start": len(head)}]}
        )  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def qa(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    data = {
        "train": write_jsonl(root / "train.jsonl", make_questions(240, 1)),
        "dev": write_jsonl(root / "dev.jsonl", make_questions(40, 2)),
    }
    overrides = tiny_overrides(
        tiny_model_dir,
        data,
        **{
            "task.name": "extractive_qa",
            "task.max_length": 48,
            "task.doc_stride": 16,
            "task.max_question_length": 12,
            "task.n_best": 10,
            "training.epochs": 12,
            "training.metric": "f1",
            "output.plots": True,
        },
    )
    result = train(load_config(None, overrides), output_dir=root / "model", console=QUIET)
    return {
        "root": root,
        "data": data,
        "out": result.output_dir,
        "report": result.report,
        "predictor": tunelab.load(result.output_dir),
    }


def test_learns_and_reports(qa):
    out, report = qa["out"], qa["report"]
    metrics = report["metrics"]
    assert metrics["f1"] > 0.7 and metrics["exact_match"] > 0.6, {
        k: v for k, v in metrics.items() if k != "predictions"
    }
    assert metrics["num_examples"] == 40 and metrics["metric_language"] == "en"
    assert metrics["questions_windowed"] > 0 and metrics["num_windows"] > 40
    assert metrics["no_answer_count"] == 8 and "best_f1_threshold" in metrics
    rows = metrics["predictions"]
    assert len(rows) == 40 and rows[0]["id"] == "q2-0" and set(rows[0]) == {"id", "prediction", "exact_match", "f1"}
    saved = json.loads((out / "report.json").read_text())
    assert saved["metrics"]["f1"] == metrics["f1"]
    assert all(row["f1"] < 1.0 for row in saved.get("worst_errors", {}).get("rows", []))
    meta = read_meta(out)
    state = meta.task.state
    assert state["abstains"] is True and state["metric_language"] == "en" and isinstance(state["null_threshold"], float)
    assert metrics["null_threshold"] == state["null_threshold"]  # tuned on dev, then used for the report
    assert meta.model.architecture == "BertForQuestionAnswering"
    assert "span of the given context" in (out / "README.md").read_text()
    assert (out / "report.html").is_file()


def test_predict_gives_spans_of_the_context(qa):
    predictor = qa["predictor"]
    context = "please help the package went to berlin today"
    (answer,) = predictor.predict(["where did the package go ?"], text_pairs=[context])
    assert answer["answer"] == context[answer["start"] : answer["end"]] == "berlin"
    with pytest.raises(InputError, match="context"):
        predictor.predict(["where did the package go ?"])
    records = predictor.predict_scores(["where did the package go ?"], text_pairs=[context], top_k=3)
    assert records[0]["answer"] == "berlin" and len(records[0]["answers"]) == 3
    assert 0.0 < records[0]["probability"] <= 1.0 and records[0]["no_answer"] is False


def test_evaluate_gives_the_reports_metrics(qa, tmp_path):
    result = evaluate_artifact(qa["out"], qa["data"]["dev"], json_out=tmp_path / "e.json")
    assert result["metrics"]["f1"] == qa["report"]["metrics"]["f1"]
    saved = json.loads((tmp_path / "e.json").read_text())["metrics"]
    assert saved["exact_match"] == qa["report"]["metrics"]["exact_match"]
    # the same questions as SQuAD JSON
    rows = [json.loads(line) for line in qa["data"]["dev"].read_text().splitlines()]
    squad = {"version": "v2.0", "data": [{"title": r["title"], "paragraphs": [{"context": r["context"], "qas": [
        {"id": r["id"], "question": r["question"], "answers": r["answers"], "is_impossible": not r["answers"]}]}]}
        for r in rows]}  # fmt: skip
    (tmp_path / "dev.json").write_text(json.dumps(squad), encoding="utf-8")
    assert evaluate_artifact(qa["out"], tmp_path / "dev.json")["metrics"]["f1"] == result["metrics"]["f1"]
    # a wrong gold answer (the context's first word) is among the worst errors, in the JSON and the page
    rows[0]["answers"] = [{"text": rows[0]["context"].split()[0], "answer_start": 0}]
    wrong = write_jsonl(tmp_path / "wrong.jsonl", rows)
    report = evaluate_artifact(qa["out"], wrong, html_out=tmp_path / "e.html", json_out=tmp_path / "w.json")
    worst = report["worst_errors"]["rows"]
    assert (
        worst[0]["id"] == rows[0]["id"]
        and worst[0]["f1"] == 0.0
        and worst[0]["gold"] == [rows[0]["context"].split()[0]]
    )
    assert worst[0]["text"] == rows[0]["question"] and rows[0]["id"] in (tmp_path / "e.html").read_text()


def test_cli_named_inputs_and_files(qa, tmp_path):
    runner = CliRunner()
    context = "the invoice went to tokyo today"
    args = ["predict", str(qa["out"]), "--question", "where did the invoice go ?", f"--context={context}", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["answer"] == "tokyo" and context[record["start"] : record["end"]] == "tokyo"
    pair = runner.invoke(app, ["predict", str(qa["out"]), "where did the invoice go ?", "--pair", context, "--json"])
    assert json.loads(pair.output.strip().splitlines()[-1])["answer"] == "tokyo"
    unknown = runner.invoke(app, ["predict", str(qa["out"]), "--query", "q", "--context", context])
    assert isinstance(unknown.exception, InputError) and "--question" in str(unknown.exception)
    uneven = runner.invoke(app, ["predict", str(qa["out"]), "--question", "a", "--question", "b", "--context", context])
    assert isinstance(uneven.exception, InputError)
    inputs = write_jsonl(
        tmp_path / "in.jsonl", [{"id": "x1", "question": "where did the invoice go ?", "context": context}]
    )
    result = runner.invoke(app, ["predict", str(qa["out"]), "-i", str(inputs), "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "id,question,answer,start,end,score,probability" and lines[1].startswith("x1,")
    result = runner.invoke(
        app, ["evaluate", str(qa["out"]), str(qa["data"]["dev"]), "--json", str(tmp_path / "e.json")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "e.json").read_text())["metrics"]["f1"] == qa["report"]["metrics"]["f1"]


def test_onnx_export_parity(qa, monkeypatch):
    monkeypatch.setattr(onnx_export, "BATCH1_CALLS", 3)
    monkeypatch.setattr(onnx_export, "BATCH32_CALLS", 1)
    report = export_onnx(qa["out"], qa["root"] / "onnx")
    assert report["gate"]["passed"] and report["metric"]["name"] == "f1"
    assert report["agreement"] == 1.0 and report["compared"] == 40 and report["agreement_unit"] == "questions"
    assert report["max_abs_output_diff"] < 1e-3
    exported = tunelab.load(qa["root"] / "onnx")
    assert exported.backend.name == "onnx"
    questions = ["where did the invoice go ?", "where did the password go ?"]
    contexts = ["the invoice went to rome", "why not the password went to madrid again please"]
    assert [a["answer"] for a in exported.predict(questions, text_pairs=contexts)] == [
        a["answer"] for a in qa["predictor"].predict(questions, text_pairs=contexts)
    ]


@contextlib.contextmanager
def serving(artifact, predictor):
    app_ = create_app(ServeSettings(artifact=artifact), loader=lambda settings: predictor)
    with TestClient(app_) as client:
        deadline = time.monotonic() + 20
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.01)
        yield client


def test_serve_question_context_items(qa):
    item = {"question": "where did the delivery go ?", "context": "the delivery went to london today", "id": "r1"}
    with serving(qa["out"], qa["predictor"]) as client:
        response = client.post("/v1/predict", json={"items": [item]})
        pairs = client.post("/v1/predict", json={"texts": [item["question"]], "text_pairs": [item["context"]]})
        missing = client.post("/v1/predict", json={"items": [{"question": "where ?"}]})
        both = client.post("/v1/predict", json={"texts": ["a"], "items": [item]})
        blank = client.post("/v1/predict", json={"items": [{"question": " ", "context": "x"}]})
        info = client.get("/v1/model").json()
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert prediction["answer"] == "london" and prediction["id"] == "r1"
    assert item["context"][prediction["start"] : prediction["end"]] == "london"
    assert pairs.json()["predictions"][0]["answer"] == "london"
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid_items"
    assert both.status_code == 422 and blank.status_code == 422
    assert info["task"] == "extractive_qa" and info["input_fields"] == ["question", "context"]
