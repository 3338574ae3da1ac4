"""Few-shot contrastive training (training.strategy: contrastive / auto): bounded, seeded pair
sampling, the losses, the strategy choice, the fitted head against scikit-learn, and tiny-model runs
whose artifacts reload, predict identically and export to ONNX with parity."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from rich.console import Console

import tunelab
import tunelab.export.onnx as onnx_export
import tunelab.training.strategies.contrastive as contrastive
from helpers import make_texts, tiny_overrides, write_csv, write_jsonl
from tunelab.artifact import ArtifactError, read_meta
from tunelab.config import load_config
from tunelab.config_training import ContrastiveConfig
from tunelab.data import Example
from tunelab.errors import ConfigError
from tunelab.export import export_onnx
from tunelab.tasks.base import softmax
from tunelab.tasks.text_classification.config import TextClassificationConfig
from tunelab.tasks.text_classification.few_shot import UNSEEN_LOGIT, fit_logistic
from tunelab.tasks.text_classification.task import TextClassificationTask
from tunelab.training.strategies import choose_strategy
from tunelab.training.strategies.contrastive import StrategyInterrupted, pair_loss
from tunelab.training.strategies.pairs import PairSampler, pair_budget
from tunelab.workflow.evaluate import evaluate_artifact
from tunelab.workflow.resume import compare
from tunelab.workflow.train import train

QUIET = Console(file=open(os.devnull, "w"))


# -- pair sampling -----------------------------------------------------------------------------------
def test_budget_follows_setfit_iterations_and_is_capped():
    assert pair_budget(616, 20, 50_000, negatives=True) == 24_640  # BANKING77, 8 shots: 2 x 20 x 616
    assert pair_budget(616, 20, 50_000, negatives=False) == 12_320
    assert pair_budget(10**7, 20, 50_000, negatives=True) == 50_000


def test_sampling_is_bounded_with_many_classes_and_texts():
    """100,000 texts in 5,000 classes (all pairs: 5e9): 20,000 pairs cost time and memory in that
    number, not in n², and every pair is what it claims to be."""
    labels = [(i % 5000,) for i in range(100_000)]
    started = time.perf_counter()
    sampler = PairSampler(labels, seed=3)
    tracemalloc.start()
    pairs, targets = sampler.sample(20_000, epoch=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - started < 10.0
    assert peak < 20_000_000  # arrays of 20,000 pairs and one order of the texts (n² int64: 80 GB)
    assert pairs.shape == (20_000, 2) and targets.shape == (20_000,)
    assert targets.sum() == 10_000  # half positive, half negative
    same = np.asarray([labels[a] == labels[b] for a, b in pairs])
    np.testing.assert_array_equal(same, targets == 1.0)
    assert len(np.unique(pairs[:, 0])) > 15_000  # anchors spread over the texts


def test_sampling_is_seeded_and_new_each_epoch():
    labels = [(i % 7,) for i in range(200)]
    a = PairSampler(labels, seed=42).sample(500, epoch=1)
    b = PairSampler(labels, seed=42).sample(500, epoch=1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], PairSampler(labels, seed=42).sample(500, epoch=2)[0])
    assert not np.array_equal(a[0], PairSampler(labels, seed=7).sample(500, epoch=1)[0])


def test_positives_avoid_self_unless_alone_and_negatives_reach_rare_classes():
    labels = [(0,)] * 95 + [(1,)] * 4 + [(2,)]  # class 2 has one text
    pairs, targets = PairSampler(labels, seed=0).sample(2000)
    positive = pairs[targets == 1.0]
    alone = positive[positive[:, 0] == 99]
    assert len(alone) and (alone[:, 1] == 99).all()  # its only positive is itself
    others = positive[positive[:, 0] != 99]
    assert (others[:, 0] != others[:, 1]).all()
    negative = pairs[targets == 0.0]
    # classes are drawn before texts: class 1's negatives come from class 2's single text half the
    # time (drawn text by text it would be 1 in 96)
    from_class_1 = negative[(negative[:, 0] >= 95) & (negative[:, 0] < 99)]
    assert len(from_class_1) > 20 and 0.25 < np.mean(from_class_1[:, 1] == 99) < 0.75


def test_multi_label_pairs_share_or_avoid_every_label():
    labels = [(0, 1), (1,), (2,), (0, 2), (), (), (3,), (1, 3)]
    sampler = PairSampler(labels, seed=5)
    pairs, targets = sampler.sample(400)
    sets = [set(s) if s else {-1} for s in labels]
    for (a, b), t in zip(pairs, targets):
        assert bool(sets[a] & sets[b]) == (t == 1.0)
    # texts whose classes all overlap leave no negative: the sampler stops short instead of looping
    overlapping = PairSampler([(0, 1), (0,), (0, 2)], seed=1)
    pairs, targets = overlapping.sample(50)
    assert len(pairs) >= 1 and (targets == 1.0).all()


def test_same_class_mask_for_in_batch_negatives():
    sampler = PairSampler([(0,), (1,), (0,), (2, 1)], seed=0)
    np.testing.assert_array_equal(sampler.same_class([0, 1], [2, 3, 1]), [[True, False, False], [False, True, True]])


# -- losses -------------------------------------------------------------------------------------------
def test_cosine_and_in_batch_losses_on_known_vectors():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([1.0, 0.0, 1.0])
    # cosines 1, 0, 0.8: errors 0, 0, 0.04
    assert pair_loss("cosine", a, b, targets, None, 20.0).item() == pytest.approx(0.04 / 3)
    logits = 20.0 * a @ b.T
    expected = torch.nn.functional.cross_entropy(logits, torch.arange(3))
    assert pair_loss("mnr", a, b, targets, None, 20.0).item() == pytest.approx(expected.item(), rel=1e-6)
    same = torch.tensor([[False, True, False], [False, False, False], [False, False, False]])
    masked = logits.clone()
    masked[0, 1] = contrastive.MASKED
    expected = torch.nn.functional.cross_entropy(masked, torch.arange(3))
    assert pair_loss("mnr", a, b, targets, same, 20.0).item() == pytest.approx(expected.item(), rel=1e-6)


# -- the head ----------------------------------------------------------------------------------------
def _features(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_fitted_layer_reproduces_sklearn_multiclass_binary_and_unseen_labels():
    x = _features(60)
    y = np.arange(60) % 3
    weight, bias, (lr,) = fit_logistic(x, [(int(v),) for v in y], 4, multi_label=False, c=2.0)
    assert lr.C == 2.0
    probs = softmax(x @ weight.T + bias)
    np.testing.assert_allclose(probs[:, :3], lr.predict_proba(x), atol=1e-9)
    assert bias[3] == -UNSEEN_LOGIT and np.allclose(probs[:, 3], 0.0)  # label 3 never seen
    # two classes: sklearn keeps one row; the softmax over [0, z] is its sigmoid
    weight, bias, (lr,) = fit_logistic(x, [(int(v % 2) * 2,) for v in y], 3, multi_label=False)
    probs = softmax(x @ weight.T + bias)
    np.testing.assert_allclose(probs[:, [0, 2]], lr.predict_proba(x), atol=1e-9)


def test_fitted_layer_reproduces_sklearn_per_label_for_multi_label():
    x = _features(50, seed=1)
    sets = [tuple(j for j in range(3) if (i >> j) & 1) for i in range(50)]
    weight, bias, estimators = fit_logistic(x, sets, 4, multi_label=True, class_weight="balanced")
    sigmoid = 1.0 / (1.0 + np.exp(-(x @ weight.T + bias)))
    for j in range(3):
        np.testing.assert_allclose(sigmoid[:, j], estimators[j].predict_proba(x)[:, 1], atol=1e-9)
    assert estimators[3] is None and bias[3] == -UNSEEN_LOGIT  # no text has label 3


# -- the strategy choice -------------------------------------------------------------------------------
def _task(n_per_label: int, labels=("a", "b", "c"), multi_label=False) -> tuple[TextClassificationTask, list]:
    examples = [Example(f"t{i}", label=label) for label in labels for i in range(n_per_label)]
    return TextClassificationTask.from_examples(TextClassificationConfig(multi_label=multi_label), examples), examples


def test_auto_picks_contrastive_for_few_examples_per_label_and_says_why():
    training = load_config(None, ["data.train=x.csv"]).training
    task, examples = _task(8)
    plan = choose_strategy(training, task, examples)
    assert plan.name == "contrastive" and plan.message() == "strategy contrastive (auto): 8 examples per label ≤ 16"
    task, examples = _task(40)
    plan = choose_strategy(training, task, examples)
    assert plan.name == "standard" and plan.message() == "strategy standard (auto): 40 examples per label > 16"
    assert choose_strategy(training, task, []).name == "standard"  # zero-shot runs: no training examples
    assert choose_strategy(training, *_task(8), processes=2).name == "standard"
    assert choose_strategy(training, *_task(8), recorded="standard").chosen_by == "resume"
    raised = load_config(None, ["data.train=x.csv", "training.contrastive.auto_max_per_label=64"]).training
    assert choose_strategy(raised, *_task(40)).name == "contrastive"


def test_tasks_without_support_train_the_standard_way_or_refuse_an_explicit_choice():
    regression = SimpleNamespace(name="text_regression", contrastive=lambda: None)
    training = load_config(None, ["data.train=x.csv"]).training
    plan = choose_strategy(training, regression, [Example("t", label="1.0")])
    assert plan.name == "standard" and "text_regression model has no contrastive" in plan.message()
    assert "no labelled training examples" in choose_strategy(training, regression, []).message()
    explicit = training.model_copy(update={"strategy": "contrastive"})
    with pytest.raises(ConfigError, match="text_regression task does not support"):
        choose_strategy(explicit, regression, [])
    with pytest.raises(ConfigError, match="one process"):
        choose_strategy(explicit, _task(8)[0], _task(8)[1], processes=2)
    with pytest.raises(ConfigError, match=r"training\.strategy"):
        load_config(None, ["data.train=x.csv", "training.strategy=setfit"])
    with pytest.raises(ConfigError, match=r"model\.head"):
        _task(8)[0].contrastive().model_config(load_config(None, ["data.train=x.csv", "model.head=transformers"]).model)


def test_old_runs_resume_without_the_new_keys():
    old = {"config": {"training": {"epochs": 5}}}
    new = {"config": {"training": {"epochs": 5, "strategy": "auto", "contrastive": ContrastiveConfig().model_dump()}}}
    assert compare(old, new) == ([], [])
    new["config"]["training"]["strategy"] = "contrastive"
    assert compare(old, new)[1] == ["training.strategy: '(unset)' -> 'contrastive'"]


# -- tiny-model runs -----------------------------------------------------------------------------------
def _overrides(model_dir, data, **extra):
    values = {
        "training.strategy": "auto",
        "training.contrastive.learning_rate": 1e-3,  # a tiny random model: SetFit's 2e-5 would barely move
        "output.plots": False,
    }
    values.update(extra)
    return tiny_overrides(model_dir, data, **values)


@pytest.fixture(scope="module")
def shot(tiny_model_dir, tmp_path_factory):
    """8 texts per label (auto picks contrastive), a dev file, one run."""
    root = tmp_path_factory.mktemp("few-shot")
    train_rows = make_texts(24, seed=1)
    data = {"train": write_csv(root / "train.csv", train_rows), "dev": write_csv(root / "dev.csv", make_texts(30, 2))}
    out = io.StringIO()
    result = train(
        load_config(None, _overrides(tiny_model_dir, data)),
        output_dir=root / "model",
        console=Console(file=out, width=200),
    )
    return {"root": root, "data": data, "train": train_rows, "result": result, "log": out.getvalue()}


@pytest.mark.train
def test_auto_run_is_contrastive_records_it_and_lowers_the_loss(shot):
    assert "strategy contrastive (auto): 8 examples per label ≤ 16" in shot["log"]
    meta = read_meta(shot["result"].output_dir)
    strategy = meta.training["strategy"]
    assert strategy["name"] == "contrastive" and strategy["chosen_by"] == "auto"
    assert meta.config["training"]["strategy"] == "auto" and meta.config["model"]["pooling"] == "mean"
    stage1 = strategy["stage1"]
    assert stage1["pairs_per_epoch"] == 2 * 20 * 24 and stage1["steps"] == 60
    assert stage1["last_loss"] < 0.8 * stage1["first_loss"], stage1
    assert strategy["head"]["head"] == "logistic" and strategy["head"]["train_accuracy"] > 0.5
    assert meta.training["steps"] == 60 and meta.training["history"] == []  # no loop ran
    head = json.loads((shot["result"].output_dir / "config.json").read_text())["tunelab_head"]
    assert head == {"kind": "sequence", "pooling": "mean", "normalize": True}
    lines = (shot["result"].output_dir / "logs" / "contrastive_log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 60
    assert shot["result"].report["metrics"]["accuracy"] > 0.45  # chance 1/3


def _assert_head_is_the_regression(out, rows):
    """The artifact's probabilities on the training texts are scikit-learn's logistic regression
    fitted on the artifact's own embeddings of them (as stage 2 fitted it)."""
    predictor = tunelab.load(out)
    texts = [t for t, _ in rows]
    support = predictor.task.contrastive()
    batch = dict(predictor.tokenizer(texts, padding=True, return_tensors="pt"))
    with torch.no_grad():
        features = support.embed(predictor.model.eval(), batch).numpy()
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    sets = support.label_sets([Example(t, label=label) for t, label in rows])
    c = read_meta(out).training["strategy"]["head"]["c"]  # head_c auto: the C cross-validation chose
    _, _, (lr,) = fit_logistic(features, sets, 3, multi_label=False, c=c)
    np.testing.assert_allclose(predictor.predict_proba(texts), lr.predict_proba(features), atol=1e-4)
    assert predictor.predict(texts) == [predictor.labels[i] for i in lr.predict(features)]


@pytest.mark.train
def test_head_reproduces_sklearn_on_the_artifact_embeddings(shot):
    _assert_head_is_the_regression(shot["result"].output_dir, shot["train"])


@pytest.mark.train
def test_artifact_reloads_evaluates_and_exports_with_parity(shot, monkeypatch):
    out = shot["result"].output_dir
    texts = ["my invoice please", "the courier lost my parcel", "password reset again"]
    first, again = tunelab.load(out), tunelab.load(out)
    np.testing.assert_array_equal(first.predict_proba(texts), again.predict_proba(texts))
    assert evaluate_artifact(out, shot["data"]["dev"])["metrics"] == shot["result"].report["metrics"]
    monkeypatch.setattr(onnx_export, "BATCH1_CALLS", 2)
    monkeypatch.setattr(onnx_export, "BATCH32_CALLS", 1)
    report = export_onnx(out, shot["root"] / "onnx")
    assert report["gate"]["passed"] and report["agreement"] == 1.0 and report["max_abs_logit_diff"] < 1e-3
    onnx = tunelab.load(shot["root"] / "onnx")
    np.testing.assert_allclose(onnx.predict_proba(texts), first.predict_proba(texts), atol=1e-4)


@pytest.mark.train
def test_multi_label_in_batch_negatives_one_regression_per_label(tiny_model_dir, tmp_path):
    def records(n, seed):
        return [
            {"text": t, "labels": [label] + (["urgent"] if "refund" in t or "password" in t else [])}
            for t, label in make_texts(n, seed)
        ]

    train_rows = records(24, 1)
    data = {
        "train": write_jsonl(tmp_path / "train.jsonl", train_rows),
        "dev": write_jsonl(tmp_path / "d.jsonl", records(12, 2)),
    }
    extra = {"task.multi_label": True, "training.contrastive.loss": "mnr", "training.contrastive.iterations": 5}
    result = train(
        load_config(None, _overrides(tiny_model_dir, data, **extra)), output_dir=tmp_path / "m", console=QUIET
    )
    strategy = read_meta(result.output_dir).training["strategy"]
    assert strategy["name"] == "contrastive" and strategy["stage1"]["pairs_per_epoch"] == 5 * 24
    predictor = tunelab.load(result.output_dir)
    assert predictor.labels == ["account", "billing", "shipping", "urgent"]
    texts = [r["text"] for r in train_rows]
    batch = dict(predictor.tokenizer(texts, padding=True, return_tensors="pt"))
    with torch.no_grad():
        features = predictor.task.contrastive().embed(predictor.model.eval(), batch).numpy()
    sets = predictor.task.contrastive().label_sets(
        [Example(t, label=tuple(r["labels"])) for t, r in zip(texts, train_rows)]
    )
    head = strategy["head"]
    assert set(head["c_cross_validated"]) == {"0.1", "1", "10", "100"} and head["c"] in (0.1, 1.0, 10.0, 100.0)
    _, _, estimators = fit_logistic(features, sets, 4, multi_label=True, c=head["c"])
    expected = np.stack([e.predict_proba(features)[:, 1] for e in estimators], axis=1)
    np.testing.assert_allclose(predictor.predict_proba(texts), expected, atol=1e-4)


@pytest.mark.train
def test_frozen_body_is_frozen_embeddings_plus_logistic_regression(tiny_model_dir, tmp_path):
    data = {
        "train": write_csv(tmp_path / "t.csv", make_texts(24, 1)),
        "dev": write_csv(tmp_path / "d.csv", make_texts(12, 2)),
    }
    extra = {"training.strategy": "contrastive", "method.name": "frozen"}
    result = train(
        load_config(None, _overrides(tiny_model_dir, data, **extra)), output_dir=tmp_path / "m", console=QUIET
    )
    strategy = read_meta(result.output_dir).training["strategy"]
    assert strategy["chosen_by"] == "config" and strategy["stage1"]["skipped"] == "no trainable body parameter"
    assert len(tunelab.load(result.output_dir).predict(["my invoice"])) == 1


@pytest.mark.train
def test_lora_body_trains_and_the_head_survives_the_adapter_round_trip(tiny_model_dir, tmp_path):
    data = {
        "train": write_csv(tmp_path / "t.csv", make_texts(24, 1)),
        "dev": write_csv(tmp_path / "d.csv", make_texts(12, 2)),
    }
    extra = {"method.name": "lora", "training.contrastive.iterations": 4}
    result = train(
        load_config(None, _overrides(tiny_model_dir, data, **extra)), output_dir=tmp_path / "m", console=QUIET
    )
    strategy = read_meta(result.output_dir).training["strategy"]
    assert strategy["stage1"]["steps"] == 12 and strategy["stage1"]["trainable_parameters"] > 0
    # the fitted head went into peft's trained copy of the classifier and came back with the adapter
    _assert_head_is_the_regression(result.output_dir, make_texts(24, 1))


@pytest.mark.train
def test_end_to_end_runs_the_loop_after_the_head(tiny_model_dir, tmp_path):
    data = {
        "train": write_csv(tmp_path / "t.csv", make_texts(24, 1)),
        "dev": write_csv(tmp_path / "d.csv", make_texts(12, 2)),
    }
    extra = {"training.contrastive.end_to_end": True, "training.contrastive.iterations": 2, "training.epochs": 2}
    result = train(
        load_config(None, _overrides(tiny_model_dir, data, **extra)), output_dir=tmp_path / "m", console=QUIET
    )
    meta = read_meta(result.output_dir)
    assert meta.training["strategy"]["end_to_end"] is True and meta.training["steps"] == 4  # 2 epochs x 24/16
    assert len(meta.training["history"]) == 2


@pytest.mark.train
def test_interrupted_stage_one_saves_nothing_and_a_new_run_starts_over(tiny_model_dir, tmp_path, monkeypatch):
    data = {
        "train": write_csv(tmp_path / "t.csv", make_texts(24, 1)),
        "dev": write_csv(tmp_path / "d.csv", make_texts(12, 2)),
    }
    config = load_config(None, _overrides(tiny_model_dir, data, **{"training.contrastive.iterations": 4}))
    original = contrastive._report_step

    def interrupt(console, progress, bar, log, step, *args):
        original(console, progress, bar, log, step, *args)
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(contrastive, "_report_step", interrupt)
    with pytest.raises(StrategyInterrupted, match="step 3/12") as stopped:
        train(config, output_dir=tmp_path / "m", console=QUIET)
    assert stopped.value.exit_code == 130 and not (tmp_path / "m").exists()
    with pytest.raises(ArtifactError, match="before its first checkpoint"):
        train(config, output_dir=tmp_path / "m", console=QUIET, resume=True)
    monkeypatch.setattr(contrastive, "_report_step", original)
    result = train(config, output_dir=tmp_path / "m", console=QUIET)
    assert read_meta(result.output_dir).training["strategy"]["stage1"]["steps"] == 12
