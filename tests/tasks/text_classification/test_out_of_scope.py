"""Out-of-scope detection: scorers, thresholds and metrics on hand-made scores; the config and data
rules; decoding, records and metrics of a task built from a saved state (no model)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score

from helpers import write_csv
from tunelab.data.example import Example
from tunelab.errors import ArtifactLoadError, DataError
from tunelab.tasks.base import softmax
from tunelab.tasks.text_classification.config import TextClassificationConfig, TextClassificationData
from tunelab.tasks.text_classification.data import load_splits
from tunelab.tasks.text_classification.labels import check_known_labels
from tunelab.tasks.text_classification.oos_config import OutOfScopeConfig
from tunelab.tasks.text_classification.out_of_scope import (
    OOS_TARGET,
    STATS_FILE,
    Knn,
    Mahalanobis,
    energy_scores,
    fit_out_of_scope,
    fpr_at_recall,
    load_scorer,
    msp_scores,
    out_of_scope_metrics,
    recall_threshold,
    tune_threshold,
)
from tunelab.tasks.text_classification.task import TextClassificationTask


# -- thresholds -------------------------------------------------------------------------------------
def test_tune_threshold_separates_clean_scores_halfway():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7])
    is_oos = np.array([0, 0, 0, 0, 1, 1], dtype=bool)
    threshold, value = tune_threshold(scores, is_oos, np.ones(6, dtype=bool))
    assert threshold == pytest.approx(0.5) and value == pytest.approx(1.0)


def test_tune_threshold_centres_a_plateau():
    # the wrong in-scope text (0.4) counts as wrong whether kept or not: any cut in [0.3, 0.6) is best
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7])
    is_oos = np.array([0, 0, 0, 0, 1, 1], dtype=bool)
    correct = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    threshold, value = tune_threshold(scores, is_oos, correct, "balanced")
    assert threshold == pytest.approx(0.45) and value == pytest.approx((3 / 4 + 1) / 2)
    threshold, value = tune_threshold(scores, is_oos, correct)  # accuracy: 5 of the 6 rows right
    assert threshold == pytest.approx(0.45) and value == pytest.approx(5 / 6)


def test_tune_threshold_is_the_best_cut():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0, 1, 300), rng.normal(1.5, 1, 100)])
    is_oos = np.arange(400) >= 300
    correct = rng.random(400) < 0.9

    def balanced(t):
        kept = scores <= t
        return ((correct & kept)[~is_oos].mean() + (~kept)[is_oos].mean()) / 2

    def accuracy(t):
        kept = scores <= t
        return ((correct & kept & ~is_oos).sum() + (~kept & is_oos).sum()) / len(scores)

    found = {}
    for objective, criterion in (("balanced", balanced), ("accuracy", accuracy)):
        threshold, value = tune_threshold(scores, is_oos, correct, objective)
        assert criterion(threshold) == pytest.approx(value)
        assert all(criterion(t) <= value + 1e-12 for t in np.unique(scores))
        found[objective] = threshold
    # 300 in-scope rows against 100 out-of-scope: accuracy rejects less than the balanced criterion
    assert found["accuracy"] > found["balanced"]


def test_accuracy_objective_rejects_nothing_when_out_of_scope_rows_are_rare_and_mixed_in():
    scores = np.array([0.1, 0.5, 0.2, 0.6, 0.3, 0.9, 0.4, 0.95])
    is_oos = np.array([0, 1, 0, 0, 0, 0, 0, 0], dtype=bool)  # one out-of-scope row among in-scope scores
    threshold, value = tune_threshold(scores, is_oos, np.ones(8, dtype=bool))
    assert value == pytest.approx(7 / 8) and (scores <= threshold).all()


def test_recall_threshold_keeps_the_share():
    scores = np.arange(1, 21, dtype=float)
    assert recall_threshold(scores, 0.95) == 19.0
    assert (scores <= recall_threshold(scores, 0.95)).mean() >= 0.95
    assert fpr_at_recall(scores, np.array([5.0, 19.0, 19.5, 30.0])) == 0.5  # two of four accepted


# -- scorers ----------------------------------------------------------------------------------------
def test_msp_and_energy():
    logits = np.array([[4.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    probs = softmax(logits)
    assert msp_scores(probs) == pytest.approx([1 - probs[0, 0], 2 / 3])
    assert energy_scores(logits) == pytest.approx(-np.log(np.exp(logits).sum(axis=1)))
    assert energy_scores(logits)[0] < energy_scores(logits)[1]  # the confident text is lower


def test_mahalanobis_is_the_nearest_class_distance():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, (200, 4)), rng.normal(5, 1, (200, 4))])
    classes = np.repeat([0, 1], 200)
    model = Mahalanobis.fit(x, classes)
    precision = model.whitening @ model.whitening.T
    query = np.array([[0.0, 0, 0, 0], [5.0, 5, 5, 5], [20.0, -20, 20, -20]])
    expected = [min((q - m) @ precision @ (q - m) for m in model.means) for q in query]
    assert model.scores(query) == pytest.approx(expected, rel=1e-6)
    assert model.scores(query)[2] > 10 * max(model.scores(query)[:2])
    assert model.means == pytest.approx(np.stack([x[:200].mean(0), x[200:].mean(0)]))


def test_knn_is_the_kth_cosine_distance():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    query = np.array([[2.0, 0.0]])
    assert Knn(bank, 1).scores(query) == pytest.approx([0.0])
    assert Knn(bank, 2).scores(query) == pytest.approx([1 - 1 / np.sqrt(2)])
    assert Knn(bank, 3).scores(query) == pytest.approx([1.0])
    assert Knn(bank, 50).k == 3  # k beyond the bank: its size


# -- fitting ----------------------------------------------------------------------------------------
def _dev(n_in=60, n_oos=20, seed=0):
    """Features where out-of-scope texts lie far from both classes, logits that do not tell them apart."""
    rng = np.random.default_rng(seed)
    train_x = np.concatenate([rng.normal(0, 1, (100, 3)), rng.normal(6, 1, (100, 3))])
    train_y = np.repeat([0, 1], 100)
    gold = np.concatenate([np.arange(n_in) % 2, np.full(n_oos, OOS_TARGET)])
    features = np.concatenate(
        [rng.normal(0, 1, (n_in, 3)) + 6 * (gold[:n_in, None] == 1), rng.normal(-8, 1, (n_oos, 3))]
    )
    logits = rng.normal(0, 1, (n_in + n_oos, 2))
    logits[np.arange(n_in), gold[:n_in]] += 10  # right and confident on in-scope texts
    logits[n_in:, 0] += 10  # as confident on out-of-scope ones
    return dict(logits=logits, probs=softmax(logits), gold=gold, features=features), train_x, train_y


def test_auto_picks_the_best_dev_auroc_and_tunes_the_threshold():
    dev, train_x, train_y = _dev()
    state, tensors = fit_out_of_scope(
        OutOfScopeConfig(scorer="auto"), **dev, train_features=train_x, train_classes=train_y
    )
    assert set(state["dev_auroc"]) == {"msp", "energy", "mahalanobis", "knn"}
    assert state["scorer"] in ("mahalanobis", "knn")
    assert state["dev_auroc"][state["scorer"]] == max(state["dev_auroc"].values()) == pytest.approx(1.0)
    assert "best dev AUROC" in state["chosen_by"] and "tuned on 20 out-of-scope" in state["threshold_rule"]
    assert tensors and state["feature_size"] == 3 and len(state["stats_sha256"]) == 64
    scorer = Mahalanobis(**{k.split(".")[1]: v for k, v in tensors.items()}) if "mahalanobis.means" in tensors else None
    if scorer is not None:
        scores = scorer.scores(dev["features"])
        assert ((scores > state["threshold"]) == (dev["gold"] == OOS_TARGET)).all()


def test_auto_without_out_of_scope_rows_uses_the_default_and_the_recall():
    dev, train_x, train_y = _dev(n_oos=0)
    config = OutOfScopeConfig(scorer="auto", in_scope_recall=0.9)
    state, _ = fit_out_of_scope(config, **dev, train_features=train_x, train_classes=train_y)
    assert state["scorer"] == "mahalanobis" and "no dev rows labelled 'oos'" in state["chosen_by"]
    scores = Mahalanobis.fit(train_x, train_y).scores(dev["features"])
    assert (scores <= state["threshold"]).mean() >= 0.9
    # without features the default is msp
    state, tensors = fit_out_of_scope(config, **{**dev, "features": None}, train_features=None, train_classes=None)
    assert state["scorer"] == "msp" and not tensors


def test_a_set_threshold_and_scorer_are_kept(tmp_path):
    dev, train_x, train_y = _dev()
    config = OutOfScopeConfig(scorer="knn", threshold=0.25, knn_k=3)
    state, tensors = fit_out_of_scope(config, **dev, train_features=train_x, train_classes=train_y)
    assert state["scorer"] == "knn" and state["threshold"] == 0.25 and state["k"] == 3
    assert "set by task.out_of_scope" in state["chosen_by"] and "set by" in state["threshold_rule"]
    from safetensors.numpy import save_file

    save_file(tensors, str(tmp_path / STATS_FILE))
    loaded = load_scorer(state, tmp_path)
    assert loaded.scores(dev["logits"], dev["probs"], dev["features"]) == pytest.approx(
        Knn(train_x, 3).scores(dev["features"]),
        abs=1e-6,  # the statistics file holds float32
    )
    (tmp_path / STATS_FILE).unlink()
    with pytest.raises(ArtifactLoadError, match=STATS_FILE):
        load_scorer(state, tmp_path)


# -- metrics ----------------------------------------------------------------------------------------
def test_out_of_scope_metrics_on_hand_made_decisions():
    is_oos = np.array([0, 0, 0, 0, 1, 1, 1], dtype=bool)
    scores = np.array([0.1, 0.2, 0.6, 0.3, 0.7, 0.9, 0.4])
    rejected = scores > 0.5
    correct = np.array([1, 0, 1, 1, 0, 0, 0], dtype=bool)
    m = out_of_scope_metrics(
        is_oos=is_oos, rejected=rejected, correct=correct, scores=scores, threshold=0.5, scorer="msp"
    )
    assert m["in_scope_accuracy"] == pytest.approx(2 / 4)  # the rejected in-scope text counts as wrong
    assert m["oos_recall"] == pytest.approx(2 / 3) and m["oos_precision"] == pytest.approx(2 / 3)
    assert m["oos_auroc"] == pytest.approx(roc_auc_score(is_oos, scores))
    # 95% of the in-scope texts kept: the threshold is their largest score (0.6); 0.4 of the oos is accepted
    assert m["oos_fpr_at_95_recall"] == pytest.approx(1 / 3)
    assert m["in_scope_rejected"] == pytest.approx(1 / 4)
    hist = m["oos_histogram"]
    assert sum(hist["in_scope"]) == 4 and sum(hist["out_of_scope"]) == 3 and hist["threshold"] == 0.5


# -- config and data --------------------------------------------------------------------------------
def test_config_defaults_and_refusals():
    config = TextClassificationConfig()
    assert config.out_of_scope.scorer == "none" and config.out_of_scope.label == "oos"
    assert config.out_of_scope.in_scope_recall == 0.95 and config.calibration == "none"
    with pytest.raises(ValidationError, match="single-label"):
        TextClassificationConfig(multi_label=True, out_of_scope={"scorer": "msp"})
    with pytest.raises(ValidationError, match="single-label"):
        TextClassificationConfig(multi_label=True, calibration="temperature")
    with pytest.raises(ValidationError, match="never a class"):
        TextClassificationConfig(labels=["a", "oos"], out_of_scope={"scorer": "msp"})
    with pytest.raises(ValidationError):
        TextClassificationConfig(out_of_scope={"scorer": "maha"})


def _files(tmp_path, train_extra=()):
    rows = [(f"text {i} billing", "billing") for i in range(20)] + [
        (f"text {i} shipping", "shipping") for i in range(20)
    ]
    train = write_csv(tmp_path / "train.csv", rows + list(train_extra))
    dev = write_csv(tmp_path / "dev.csv", [("a bill", "billing"), ("what time is it", "oos"), ("a parcel", "shipping")])
    return train, dev


def test_out_of_scope_rows_in_dev_need_the_scorer(tmp_path):
    train, dev = _files(tmp_path)
    data = TextClassificationData(train=train, dev=dev)
    with pytest.raises(DataError, match="set task.out_of_scope.scorer to treat 'oos' rows as out-of-scope") as err:
        load_splits(data, multi_label=False, oos_hint="oos")
    assert err.value.line == 3
    splits = load_splits(data, multi_label=False, out_of_scope="oos")
    assert [ex.label for ex in splits.dev] == ["billing", "oos", "shipping"]
    # the task reads them: out-of-scope rows get the ignore target and never become a class
    config = TextClassificationConfig(out_of_scope={"scorer": "msp"})
    task = TextClassificationTask.from_examples(config, splits.train)
    assert task.labels == ["billing", "shipping"]
    assert task.targets(splits.dev).tolist() == [0, OOS_TARGET, 1]
    task.check_known(splits.dev, "dev")
    off = TextClassificationTask.from_examples(TextClassificationConfig(), splits.train)
    with pytest.raises(DataError, match="set task.out_of_scope.scorer"):
        off.check_known(splits.dev, "dev")


def test_out_of_scope_training_rows_move_to_a_carved_dev(tmp_path, capsys):
    train, dev = _files(tmp_path, train_extra=[("weather please", "oos"), ("tell a joke", "oos")])
    data = TextClassificationData(train=train, split={"dev": 0.25})
    splits = load_splits(data, multi_label=False, out_of_scope="oos")
    assert all(ex.label != "oos" for ex in splits.train)
    assert sum(ex.label == "oos" for ex in splits.dev) == 2
    assert "join the dev split" in capsys.readouterr().err
    splits = load_splits(TextClassificationData(train=train, dev=dev), multi_label=False, out_of_scope="oos")
    assert sum(ex.label == "oos" for ex in splits.dev) == 1  # the dev file's own; train's are dropped
    assert "dropped" in capsys.readouterr().err


def test_check_known_labels_allows_the_out_of_scope_label():
    examples = [Example(text="x", label="a"), Example(text="y", label="none")]
    check_known_labels(examples, ["a", "b"], "dev", out_of_scope="none")
    with pytest.raises(DataError, match="never appears in train"):
        check_known_labels(examples, ["a", "b"], "dev")


# -- a task from a saved state: decoding, records, metrics ---------------------------------------------
class _Encoded:
    def __init__(self, examples, labels):
        self.examples, self.labels = examples, labels

    def __len__(self):
        return len(self.examples)


def _fitted_task(threshold=0.3):  # two labels: msp scores are at most 0.5
    config = TextClassificationConfig(out_of_scope={"scorer": "msp"})
    state = {
        "labels": ["billing", "shipping"],
        "pairs": False,
        "out_of_scope": {"label": "oos", "scorer": "msp", "threshold": threshold, "chosen_by": "x"},
    }
    return TextClassificationTask.from_state(config, state)


def test_decoding_records_and_metrics_of_a_fitted_task():
    task = _fitted_task()
    assert task.output_names == ("logits",) and task.state()["out_of_scope"]["threshold"] == 0.3
    logits = np.array([[4.0, 0.0], [0.1, 0.0], [0.0, 3.0], [0.0, 0.2]])
    examples = [Example(text=t) for t in ("bill", "weather", "parcel", "joke")]
    items = task.decode_batch(_Encoded(examples, None), range(4), {"logits": logits})
    assert task.predictions(None, items) == ["billing", "oos", "shipping", "oos"]
    assert task.class_probabilities(items) == pytest.approx(softmax(logits))
    records = task.prediction_records(_Encoded(examples, None), items, top_k=2)
    assert [r["out_of_scope"] for r in records] == [False, True, False, True]
    assert records[1]["label"] == "oos" and records[1]["oos_score"] == pytest.approx(1 - softmax(logits)[1].max())
    assert records[1]["score"] == pytest.approx(softmax(logits)[1].max()) and len(records[1]["top"]) == 2
    header, rows = task.record_table(records)
    assert header[-2:] == ["out_of_scope", "oos_score"] and rows[1][-2] == "true"
    schema = task.prediction_schema.model_validate(records[1])
    assert schema.out_of_scope is True

    gold = [0, OOS_TARGET, 1, 0]  # the last in-scope text is rejected: wrong for in-scope accuracy
    scorer = task.scorer(_Encoded(examples, gold))
    scorer.add([0, 1], items[:2])
    scorer.add([2, 3], items[2:])
    m = scorer.result()
    assert m["accuracy"] == pytest.approx(2 / 3)  # closed-set, in-scope rows only
    assert m["in_scope_accuracy"] == pytest.approx(2 / 3)
    assert m["oos_recall"] == 1.0 and m["oos_precision"] == pytest.approx(1 / 2)
    assert 0.0 <= m["ece"] <= 1.0 and "ece_uncalibrated" not in m
    assert m["num_examples"] == 3 and m["num_out_of_scope"] == 1


def test_older_states_and_unfitted_tasks_decode_as_before():
    config = TextClassificationConfig()
    task = TextClassificationTask.from_state(config, {"labels": ["a", "b"], "pairs": False})
    logits = np.array([[1.0, 0.0], [0.0, 2.0]])
    items = task.decode_batch(None, [0, 1], {"logits": logits})
    assert np.stack(items) == pytest.approx(softmax(logits)) and task.state().keys() == {
        "labels",
        "multi_label",
        "threshold",
        "pairs",
    }
    # switched on but not fitted yet (the training loop): nothing is rejected
    unfitted = TextClassificationTask.from_state(
        TextClassificationConfig(out_of_scope={"scorer": "auto"}), {"labels": ["a", "b"]}
    )
    assert unfitted.output_names == ("logits", "features") and unfitted.wants_features
    assert unfitted.predictions(None, unfitted.decode_batch(None, [0, 1], {"logits": logits})) == ["a", "b"]


# -- end to end on the tiny model: train, reload, evaluate, export, the CLI ---------------------------
IN_SCOPE = ("billing", "shipping")


def _oos_data(root):
    """Two intents in train; dev and test add texts of a third, unknown one labelled 'oos'."""
    from helpers import make_texts

    unknown = lambda n, seed: [(text, "oos") for text, _ in make_texts(n, seed=seed, labels=("account",))]  # noqa: E731
    return {
        "train": write_csv(root / "train.csv", make_texts(100, seed=1, labels=IN_SCOPE)),
        "dev": write_csv(root / "dev.csv", make_texts(30, seed=2, labels=IN_SCOPE) + unknown(12, 5)),
        "test": write_csv(root / "test.csv", make_texts(30, seed=3, labels=IN_SCOPE) + unknown(12, 6)),
    }


@pytest.fixture(scope="module")
def oos_run(tiny_model_dir, tmp_path_factory):
    """Mahalanobis scorer, temperature scaling, plots on; trained once for the module."""
    from rich.console import Console

    from helpers import tiny_overrides
    from tunelab.config import load_config
    from tunelab.workflow.train import train

    root = tmp_path_factory.mktemp("oos")
    data = _oos_data(root / "data")
    overrides = tiny_overrides(
        tiny_model_dir,
        data,
        **{
            "task.out_of_scope.scorer": "mahalanobis",
            "task.calibration": "temperature",
            "output.plots": True,
        },
    )
    result = train(
        load_config(None, overrides), output_dir=root / "model", console=Console(file=open("/dev/null", "w"))
    )
    return {"root": root, "data": data, "result": result, "artifact": root / "model"}


METRIC_KEYS = ("in_scope_accuracy", "oos_recall", "oos_precision", "oos_auroc", "oos_fpr_at_95_recall")


@pytest.mark.train
def test_training_fits_and_stores_the_detector(oos_run):
    from tunelab.artifact import read_meta

    artifact, report = oos_run["artifact"], oos_run["result"].report
    state = read_meta(artifact).task.state
    assert state["out_of_scope"]["scorer"] == "mahalanobis" and np.isfinite(state["out_of_scope"]["threshold"])
    assert "tuned on 12 out-of-scope and 30 in-scope dev rows" in state["out_of_scope"]["threshold_rule"]
    assert state["temperature"] > 0 and state["out_of_scope"]["feature_size"] == 32
    metrics = report["metrics"]
    for key in (*METRIC_KEYS, "ece", "ece_uncalibrated", "accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["num_examples"] == 30 and metrics["num_out_of_scope"] == 12
    for name in (STATS_FILE, "oos_scores.png", "reliability.png"):
        assert (artifact / name).is_file(), name


@pytest.mark.train
def test_reloaded_artifact_predicts_identically_and_evaluates_like_the_report(oos_run):
    import tunelab
    from tunelab.workflow.evaluate import evaluate_artifact

    artifact, data = oos_run["artifact"], oos_run["data"]
    texts = ["refund for my invoice", "my password login failed", "where is the courier parcel"]
    first, second = tunelab.load(artifact).predict_scores(texts), tunelab.load(artifact).predict_scores(texts)
    assert first == second
    assert all(isinstance(r["out_of_scope"], bool) and np.isfinite(r["oos_score"]) for r in first)
    assert [r["label"] == "oos" for r in first] == [r["out_of_scope"] for r in first]
    evaluated = evaluate_artifact(artifact, data["dev"])
    assert evaluated["metrics"] == oos_run["result"].report["metrics"]
    on_test = evaluate_artifact(artifact, data["test"], json_out=oos_run["root"] / "test.json")
    assert all(key in on_test["metrics"] for key in METRIC_KEYS)


@pytest.mark.train
def test_onnx_export_carries_the_features(oos_run, monkeypatch):
    import tunelab
    import tunelab.export.onnx as onnx_export
    from tunelab.export import export_onnx

    monkeypatch.setattr(onnx_export, "BATCH1_CALLS", 3)
    monkeypatch.setattr(onnx_export, "BATCH32_CALLS", 1)
    target = oos_run["root"] / "onnx"
    parity = export_onnx(oos_run["artifact"], target)
    assert (target / STATS_FILE).is_file() and parity["agreement"] == 1.0
    onnx = tunelab.load(target)
    assert onnx.backend.name == "onnx" and "features" in onnx.task.output_names
    texts = ["refund for my invoice", "my password login failed", "courier parcel arrive"]
    torch_records = tunelab.load(oos_run["artifact"]).predict_scores(texts)
    onnx_records = onnx.predict_scores(texts)
    assert [r["label"] for r in onnx_records] == [r["label"] for r in torch_records]
    assert [r["oos_score"] for r in onnx_records] == pytest.approx([r["oos_score"] for r in torch_records], rel=1e-3)


@pytest.mark.train
def test_cli_auto_scorer_evaluate_and_predict(tiny_model_dir, tmp_path):
    import csv
    import json

    from typer.testing import CliRunner

    from helpers import tiny_overrides
    from tunelab.cli.app import app

    data = _oos_data(tmp_path / "data")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task:\n  name: text_classification\n")
    args = ["train", str(cfg), "-o", str(tmp_path / "model")]
    for item in tiny_overrides(tiny_model_dir, data, **{"task.out_of_scope.scorer": "auto"}):
        args += ["--set", item]
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "out-of-scope:" in result.output  # the line saying the scorer, the threshold and how
    from tunelab.artifact import read_meta

    assert read_meta(tmp_path / "model").task.state["out_of_scope"]["chosen_by"].startswith("auto: the best dev AUROC")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "model"), str(data["test"]), "--json", str(tmp_path / "j")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "j").read_text())["metrics"]
    assert all(isinstance(metrics[key], float) for key in METRIC_KEYS)
    assert "out-of-scope recall" in result.output
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(tmp_path / "model"), "-i", str(data["test"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 42 and {"out_of_scope", "oos_score"} <= set(rows[0])
    assert {r["label"] for r in rows} <= {"billing", "shipping", "oos"}
