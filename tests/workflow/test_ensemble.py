"""`tunelab ensemble`: members checked and copied, probabilities averaged (or voted, or weighted
on dev), one artifact that evaluate, predict, serve and tunelab.load use like any other."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

import tunelab
from helpers import make_ner_sentences, make_texts, tiny_overrides, write_conll, write_csv
from tunelab.artifact import artifact_path, read_meta
from tunelab.cli.app import app, main
from tunelab.config import load_config
from tunelab.errors import ConfigError, TunelabError
from tunelab.workflow.ensemble import build_ensemble, grid_steps, simplex_grid, tune_weights
from tunelab.workflow.train import train

QUIET = Console(file=io.StringIO())
TEXTS = [
    "refund my invoice please",
    "the courier lost my parcel",
    "reset my password",
    "help",
    "my card payment and my delivery",
    "login invoice parcel",
    "where is it",
    "charged twice for the account",
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tunelab", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


@pytest.fixture(scope="module")
def clf(tiny_model_dir, tmp_path_factory):
    """Three classification artifacts of one config, seeds 1-3 (few epochs: they disagree), and
    one trained on two of the three labels."""
    root = tmp_path_factory.mktemp("ensemble-clf")
    data = {
        "train": write_csv(root / "data" / "train.csv", make_texts(120, seed=1)),
        "dev": write_csv(root / "data" / "dev.csv", make_texts(30, seed=2)),
    }
    members = []
    for seed in (1, 2, 3):
        overrides = tiny_overrides(tiny_model_dir, data, **{"training.epochs": 2, "training.seed": seed})
        members.append(train(load_config(None, overrides), output_dir=root / f"seed{seed}", console=QUIET).output_dir)
    two = {
        "train": write_csv(root / "data" / "two.csv", make_texts(60, seed=4, labels=("billing", "shipping"))),
        "dev": write_csv(root / "data" / "two-dev.csv", make_texts(10, seed=5, labels=("billing", "shipping"))),
    }
    other = train(
        load_config(None, tiny_overrides(tiny_model_dir, two, **{"training.epochs": 1})),
        output_dir=root / "two-labels",
        console=QUIET,
    ).output_dir
    return {"root": root, "members": members, "dev": data["dev"], "other_labels": other}


@pytest.fixture(scope="module")
def ner(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble-ner")
    data = {
        "train": write_conll(root / "data" / "train.conll", make_ner_sentences(80, seed=1)),
        "dev": write_conll(root / "data" / "dev.conll", make_ner_sentences(20, seed=2)),
    }
    members = []
    for seed in (1, 2):
        extra = {"task.name": "token_classification", "training.epochs": 3, "training.seed": seed}
        overrides = tiny_overrides(tiny_model_dir, data, **extra)
        members.append(train(load_config(None, overrides), output_dir=root / f"seed{seed}", console=QUIET).output_dir)
    return {"root": root, "members": members, "dev": data["dev"]}


# -- unit: the grid, the hooks --------------------------------------------------------------------
def test_simplex_grid_holds_every_member_alone_and_sums_to_one():
    points = simplex_grid(3, 4)
    assert len(points) == 15 and all(sum(p) == pytest.approx(1.0) for p in points)
    assert {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)} <= set(points)
    assert grid_steps(2) == 20 and grid_steps(3) == 20 and len(simplex_grid(5, grid_steps(5))) <= 250


def test_tune_weights_prefers_uniform_on_ties_and_follows_the_direction():
    weights, search = tune_weights(3, lambda w: 1.0, "max")
    assert weights == pytest.approx([1 / 3] * 3) and search["points"] == 232  # 231 grid points + uniform
    weights, _ = tune_weights(2, lambda w: w[0], "min")  # a loss: smaller is better
    assert weights == [0.0, 1.0]


def test_combine_hooks_mean_vote_and_refusals():
    from tunelab.tasks.text_classification.config import TextClassificationConfig
    from tunelab.tasks.text_classification.task import TextClassificationTask
    from tunelab.tasks.text_regression.config import TextRegressionConfig
    from tunelab.tasks.text_regression.task import TextRegressionTask

    task = TextClassificationTask(TextClassificationConfig(), ["a", "b", "c"])
    probs = [np.array([[0.6, 0.3, 0.1]]), np.array([[0.1, 0.5, 0.4]]), np.array([[0.45, 0.1, 0.45]])]
    outputs = [{"logits": np.log(p)} for p in probs]
    mean = task.probabilities(task.combine_outputs(outputs, [1, 1, 1], "mean")["logits"])
    assert mean == pytest.approx(np.mean(probs, axis=0))
    # votes a, b, a|c (argmax of a tie takes the first): a wins with 2 of 3 votes
    vote = task.probabilities(task.combine_outputs(outputs, [1, 1, 1], "vote")["logits"])
    assert vote.argmax() == 0 and vote[0, 0] == pytest.approx(2 / 3, abs=1e-5)
    # a 1-1 tie between a and b: the mean probability (b: 0.4 > a: 0.35) decides
    tie = task.probabilities(task.combine_outputs(outputs[:2], [1, 1], "vote")["logits"])
    assert tie.argmax() == 1 and tie[0, 1] == pytest.approx(0.5, abs=1e-5)
    weighted = task.probabilities(task.combine_outputs(outputs, [0.0, 1.0, 0.0], "mean")["logits"])
    assert weighted == pytest.approx(probs[1])

    multi = TextClassificationTask(TextClassificationConfig(multi_label=True, threshold=0.5), ["a", "b"])
    sig = [np.array([[0.9, 0.45]]), np.array([[0.4, 0.45]]), np.array([[0.55, 0.9]])]
    outs = [{"logits": np.log(p) - np.log1p(-p)} for p in sig]
    # a: 2 of 3 on (mean 0.617); b: 1 of 3 on, but its mean 0.6 is above the threshold: the vote turns it off
    voted = multi.decode(multi.probabilities(multi.combine_outputs(outs, [1, 1, 1], "vote")["logits"]))
    averaged = multi.decode(multi.probabilities(multi.combine_outputs(outs, [1, 1, 1], "mean")["logits"]))
    assert voted.tolist() == [[1, 0]] and averaged.tolist() == [[1, 1]]

    regression = TextRegressionTask(TextRegressionConfig(), mean=0.0, std=1.0)
    numbers = [{"logits": np.array([[1.0], [2.0]])}, {"logits": np.array([[3.0], [0.0]])}]
    assert regression.combine_outputs(numbers, [0.5, 0.5], "mean")["logits"] == pytest.approx(np.array([[2.0], [1.0]]))
    assert "vote" not in regression.combine_modes
    with pytest.raises(ConfigError, match="no classes to vote on"):
        regression.combine_outputs(numbers, [0.5, 0.5], "vote")


# -- classification ------------------------------------------------------------------------------
@pytest.mark.train
def test_mean_averages_the_members_probabilities_and_the_artifact_moves(clf, tmp_path):
    out = tmp_path / "runs" / "mean"
    build_ensemble(clf["members"], out)
    meta = read_meta(out)
    assert meta["kind"] == "ensemble" and meta["ensemble"]["combine"] == "mean"
    assert meta["ensemble"]["weights"] == pytest.approx([1 / 3] * 3)
    assert [m["path"] for m in meta["ensemble"]["members"]] == ["members/0", "members/1", "members/2"]
    assert [m["name"] for m in meta["ensemble"]["members"]] == ["seed1", "seed2", "seed3"]
    assert meta.labels == ["account", "billing", "shipping"] and meta.method.stored == "ensemble"
    for i in range(3):  # self-contained: copies of the members, their paths relative to the copy
        assert (out / "members" / str(i) / "model.safetensors").is_file()
        member = read_meta(out / "members" / str(i))
        train_file = artifact_path(member.data.files["train"].path, out / "members" / str(i))
        assert not Path(member.data.files["train"].path).is_absolute()
        assert train_file.resolve() == (clf["root"] / "data" / "train.csv").resolve()
    assert not list(out.parent.glob(".mean.ensemble-*"))  # no staging left behind

    members = [tunelab.load(m) for m in clf["members"]]
    expected = np.mean([m.predict_proba(TEXTS) for m in members], axis=0)
    ensemble = tunelab.load(out)
    assert ensemble.backend.name == "ensemble" and len(ensemble.backend.members) == 3
    assert ensemble.predict_proba(TEXTS) == pytest.approx(expected, abs=1e-5)
    assert ensemble.predict(TEXTS) == [ensemble.labels[i] for i in expected.argmax(axis=1)]

    moved = shutil.move(out, tmp_path / "elsewhere")  # the whole directory moves on its own
    assert tunelab.load(moved).predict_proba(TEXTS) == pytest.approx(expected, abs=1e-5)


@pytest.mark.train
def test_vote_is_the_members_majority(clf, tmp_path):
    out = tmp_path / "vote"
    build_ensemble(clf["members"], out, combine="vote")
    members = [tunelab.load(m) for m in clf["members"]]
    probs = np.stack([m.predict_proba(TEXTS) for m in members])  # (members, texts, labels)
    votes = np.stack([np.bincount(p.argmax(axis=1), minlength=3) for p in probs.transpose(1, 0, 2)])
    mean = probs.mean(axis=0)
    expected = [int(np.argmax(np.where(v == v.max(), mean[i], -1.0))) for i, v in enumerate(votes)]
    assert (votes.max(axis=1) < 3).any()  # the members disagree somewhere: a vote, not a formality
    ensemble = tunelab.load(out)
    records = ensemble.predict_scores(TEXTS)
    labels = ensemble.labels
    assert [r["label"] for r in records] == [labels[i] for i in expected]
    for record, v in zip(records, votes):  # the score is the winner's share of the votes
        assert record["score"] == pytest.approx(v.max() / 3, abs=1e-5)


@pytest.mark.train
def test_weighted_on_dev_through_the_cli_then_evaluate_and_predict(clf, tmp_path, monkeypatch, capsys):
    out = tmp_path / "weighted"
    code, stdout, err = run_main(
        monkeypatch, capsys, "ensemble", *clf["members"], "-o", out, "--combine", "weighted", "--dev", clf["dev"]
    )
    assert code == 0, err
    assert "accuracy on dev.csv" in stdout and "ensemble (weighted)" in stdout and "seed3" in stdout
    meta = read_meta(out)
    spec = meta["ensemble"]
    assert sum(spec["weights"]) == pytest.approx(1.0) and all(w >= 0 for w in spec["weights"])
    dev = spec["dev"]
    assert dev["metric"] == "accuracy" and dev["file"] == os.path.relpath(clf["dev"], out)
    # 231 points in steps of 1/20, and the uniform weights
    assert dev["ensemble"] >= max(dev["members"]) and dev["search"]["points"] == 232
    for member, value in zip(clf["members"], dev["members"]):  # each member's own score on dev
        examples = tunelab.load(member).task.read_file(clf["dev"], read_meta(member))
        assert tunelab.load(member).evaluate(examples)["accuracy"] == pytest.approx(value)
    assert meta.metrics["accuracy"] == pytest.approx(dev["ensemble"])
    assert meta.evaluated_on["num_examples"] == 30
    saved = json.loads((out / "report.json").read_text())  # what `tunelab compare` reads
    assert saved["splits"]["dev"]["accuracy"] == pytest.approx(dev["ensemble"])

    report = tmp_path / "report.json"
    code, _, err = run_main(monkeypatch, capsys, "evaluate", out, clf["dev"], "--json", report)
    assert code == 0, err
    assert json.loads(report.read_text())["metrics"]["accuracy"] == pytest.approx(dev["ensemble"])

    predictions = tmp_path / "predictions.jsonl"
    code, _, err = run_main(monkeypatch, capsys, "predict", out, *TEXTS[:3], "-o", predictions, "--top-k", "2")
    assert code == 0, err
    records = [json.loads(line) for line in predictions.read_text().splitlines()]
    expected = tunelab.load(out).predict_scores(TEXTS[:3], top_k=2)
    assert [r["label"] for r in records] == [r["label"] for r in expected]
    assert [r["score"] for r in records] == pytest.approx([r["score"] for r in expected], abs=1e-6)

    code, _, err = run_main(monkeypatch, capsys, "export", out, "-o", tmp_path / "onnx")
    assert code == 2 and "export the members" in err and not (tmp_path / "onnx").exists()


@pytest.mark.train
def test_serve_an_ensemble(clf, tmp_path):
    from tunelab.serve.app import create_app
    from tunelab.serve.preflight import check_artifact
    from tunelab.serve.settings import ServeSettings

    out = tmp_path / "served"
    build_ensemble(clf["members"], out, combine="vote")
    assert check_artifact(out).get("kind") == "ensemble"
    app = create_app(ServeSettings(artifact=out))  # the default loader: tunelab.load
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.05)
        response = client.post("/v1/predict", json={"texts": TEXTS, "top_k": 2})
        info = client.get("/v1/model").json()
    assert response.status_code == 200, response.text
    expected = tunelab.load(out).predict_scores(TEXTS, top_k=2)
    got = response.json()["predictions"]
    assert [p["label"] for p in got] == [e["label"] for e in expected]
    assert [p["score"] for p in got] == pytest.approx([e["score"] for e in expected], abs=1e-5)
    assert info["backend"] == "ensemble" and info["labels"] == ["account", "billing", "shipping"]

    shutil.rmtree(out / "members" / "1")  # an incomplete ensemble stops before the server starts
    with pytest.raises(TunelabError, match="members/1"):
        check_artifact(out)


@pytest.mark.train
def test_mismatched_members_are_refused_with_exit_2(clf, ner, tmp_path, monkeypatch, capsys):
    out = tmp_path / "refused"
    code, _, err = run_main(monkeypatch, capsys, "ensemble", clf["members"][0], clf["other_labels"], "-o", out)
    assert code == 2 and "other labels" in err and "missing: ['account']" in err
    code, _, err = run_main(monkeypatch, capsys, "ensemble", clf["members"][0], ner["members"][0], "-o", out)
    assert code == 2 and "token_classification" in err and "one task" in err
    code, _, err = run_main(monkeypatch, capsys, "ensemble", *clf["members"][:2], "-o", out, "--combine", "weighted")
    assert code == 2 and "--dev" in err
    code, _, err = run_main(monkeypatch, capsys, "ensemble", clf["members"][0], "-o", out)
    assert code == 2 and "at least 2" in err
    code, _, err = run_main(monkeypatch, capsys, "ensemble", *clf["members"][:2], "-o", out, "--combine", "median")
    assert code == 2 and "median" in err

    # another tokenizer (here: casing kept) is refused: one encoding feeds every member
    cased = Path(shutil.copytree(clf["members"][1], tmp_path / "cased"))
    config = json.loads((cased / "tokenizer_config.json").read_text())
    (cased / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    code, _, err = run_main(monkeypatch, capsys, "ensemble", clf["members"][0], cased, "-o", out)
    assert code == 2 and "another tokenizer" in err and "tokenizer_config.json" in err

    # labels in another order
    meta = json.loads((cased / "tunelab.json").read_text())
    meta["labels"] = meta["task"]["state"]["labels"] = ["billing", "account", "shipping"]
    (cased / "tunelab.json").write_text(json.dumps(meta))
    code, _, err = run_main(monkeypatch, capsys, "ensemble", clf["members"][0], cased, "-o", out)
    assert code == 2 and "another order" in err
    assert not out.exists() and not list(tmp_path.glob(".refused*"))


@pytest.mark.train
def test_an_existing_output_is_refused_and_untouched(clf, tmp_path, monkeypatch, capsys):
    out = tmp_path / "existing"
    build_ensemble(clf["members"][:2], out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    code, _, err = run_main(monkeypatch, capsys, "ensemble", *clf["members"], "-o", out)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert len(read_meta(out)["ensemble"]["members"]) == 2

    code, _, err = run_main(monkeypatch, capsys, "ensemble", *clf["members"], "-o", out, "--overwrite")
    assert code == 0, err
    assert len(read_meta(out)["ensemble"]["members"]) == 3 and not (out / "members" / "3").exists()
    assert not list(tmp_path.glob(".existing*"))

    code, _, err = run_main(
        monkeypatch, capsys, "ensemble", *clf["members"][:2], "-o", clf["members"][0], "--overwrite"
    )
    assert code == 2 and "would delete the member" in err
    assert (clf["members"][0] / "model.safetensors").is_file()


@pytest.mark.train
def test_an_ensemble_of_ensembles(clf, tmp_path):
    inner = tmp_path / "inner"
    build_ensemble(clf["members"][:2], inner)
    outer = tmp_path / "outer"
    build_ensemble([inner, clf["members"][2]], outer, combine="weighted", dev=clf["dev"])
    weights = read_meta(outer)["ensemble"]["weights"]
    pair = np.mean([tunelab.load(m).predict_proba(TEXTS) for m in clf["members"][:2]], axis=0)
    third = tunelab.load(clf["members"][2]).predict_proba(TEXTS)
    expected = weights[0] * pair + weights[1] * third
    assert tunelab.load(outer).predict_proba(TEXTS) == pytest.approx(expected, abs=1e-5)
    nested = outer / "members" / "0" / "members" / "1"
    assert artifact_path(read_meta(nested).data.files["dev"].path, nested).resolve() == clf["dev"].resolve()


# -- NER -----------------------------------------------------------------------------------------
@pytest.mark.train
def test_ner_mean_per_token_probabilities_vote_and_weighted(ner, tmp_path):
    from tunelab.tasks.base import softmax

    texts = ["i met john smith in paris today", "i called mary in tokyo", "peter visited rome"]
    out = tmp_path / "ner-mean"
    build_ensemble(ner["members"], out)
    ensemble = tunelab.load(out)
    members = [tunelab.load(m) for m in ner["members"]]
    encoded = ensemble.encode(ensemble.task.make_examples(texts))
    combined = ensemble.raw_outputs(encoded)
    per_member = [m.raw_outputs(encoded) for m in members]
    for i, item in enumerate(combined):  # each sub-word: the mean of the members' tag probabilities
        mean = np.mean([softmax(outputs[i]["logits"]) for outputs in per_member], axis=0)
        assert softmax(item["logits"]) == pytest.approx(mean, abs=1e-5)
    for text, entities in zip(texts, ensemble.predict(texts)):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)

    voted = tmp_path / "ner-vote"
    build_ensemble(ner["members"], voted, combine="vote")
    examples = members[0].task.read_file(ner["dev"], members[0].meta)
    assert "f1" in tunelab.load(voted).evaluate(examples)

    weighted = tmp_path / "ner-weighted"
    result = build_ensemble(ner["members"], weighted, combine="weighted", dev=ner["dev"])
    dev = read_meta(weighted)["ensemble"]["dev"]
    assert dev["metric"] == "f1" and dev["ensemble"] >= max(dev["members"])
    assert sum(read_meta(weighted)["ensemble"]["weights"]) == pytest.approx(1.0)
    assert [row[0] for row in result.rows] == ["seed1", "seed2", "ensemble (weighted)"]
    assert tunelab.load(weighted).evaluate(examples)["f1"] == pytest.approx(dev["ensemble"])


def test_ensemble_help_has_examples():
    result = CliRunner().invoke(app, ["ensemble", "--help"])
    assert result.exit_code == 0 and "Examples" in result.output and "--combine" in result.output
