"""Zero-shot text classification (task.zero_shot) and self-training (data.unlabelled), on the tiny
random BERT: the head is the label texts' unit embeddings times the scale, so the artifact's
predictions are the argmax cosine computed here by hand with embed_texts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from rich.console import Console
from transformers import AutoModel, AutoTokenizer

import tunelab
import tunelab.export.onnx as onnx_export
from helpers import make_texts, write_csv
from tunelab.artifact import read_meta
from tunelab.config import load_config
from tunelab.data import Example
from tunelab.errors import ConfigError, DataError
from tunelab.export import export_onnx
from tunelab.models.heads import TunelabForSequenceClassification, build_head_model
from tunelab.tasks.base import softmax
from tunelab.tasks.text_classification.config import TextClassificationConfig, ZeroShotConfig
from tunelab.tasks.text_classification.sentence import embed_texts, pooled, sentence_pooling
from tunelab.tasks.text_classification.zero_shot import choose_labels, label_name, label_texts
from tunelab.workflow.check import check_data
from tunelab.workflow.evaluate import evaluate_artifact
from tunelab.workflow.resume import compare
from tunelab.workflow.train import train

QUIET = Console(quiet=True)
LABELS = ["account", "billing", "shipping"]  # make_texts' labels, sorted as detected
TEMPLATES = ["{label}", "a question about {label}"]
DESCRIPTIONS = {"billing": ["invoice and charge", "payment refund"]}


# -- label texts and labels ----------------------------------------------------------------------
def test_label_names_are_cleaned():
    assert label_name("card_arrival") == "card arrival"
    assert label_name("  top__up_ ") == "top up"
    assert label_name("card_arrival", clean=False) == "card_arrival"


def test_label_texts_apply_every_template_to_each_description_or_name():
    config = ZeroShotConfig(template=TEMPLATES, descriptions=DESCRIPTIONS)
    texts = label_texts(config, ["billing", "card_arrival"])
    assert texts["card_arrival"] == ["card arrival", "a question about card arrival"]
    assert texts["billing"] == [
        "invoice and charge",
        "payment refund",
        "a question about invoice and charge",
        "a question about payment refund",
    ]
    with pytest.raises(ConfigError, match=r"descriptions names labels.*\['billing'\]"):
        label_texts(config, ["card_arrival", "refund"])


def test_template_without_placeholder_and_empty_description_are_config_errors():
    with pytest.raises(ConfigError, match=r"task\.zero_shot\.template.*placeholder"):
        load_config(None, ["task.zero_shot.template=This text is about it."])
    with pytest.raises(ConfigError, match=r"task\.zero_shot\.templates'\. Did you mean 'template'"):
        load_config(None, ["task.zero_shot.templates=[x]"])
    with pytest.raises(ConfigError, match=r"descriptions of 'a' is empty"):
        load_config(None, ["task.zero_shot.descriptions={a: ' '}"])
    with pytest.raises(ConfigError, match="data.unlabelled"):
        from tunelab.tasks import task_class

        config = load_config(None, ["data.unlabelled=texts.txt"])
        task_class("text_classification").read_splits(config.data, config.task)


def test_zero_shot_switch_and_defaults():
    assert load_config(None, ["task.zero_shot=true"]).task.zero_shot == ZeroShotConfig()
    assert load_config(None, ["task.zero_shot=false"]).task.zero_shot is None
    defaults = ZeroShotConfig()
    assert (defaults.template, defaults.scale, defaults.self_training.confidence) == ("{label}", 20.0, 0.5)


def _splits(train=(), dev=(), test=()):
    return SimpleNamespace(train=list(train), dev=list(dev), test=list(test))


def test_labels_come_from_the_config_then_train_then_dev_and_test():
    dev = [Example("x", label="b"), Example("y", label="a")]
    test = [Example("z", label="c")]
    zs = ZeroShotConfig(labels=["q", "p"])
    assert choose_labels(TextClassificationConfig(zero_shot=zs), _splits(dev=dev)) == (
        ["q", "p"],
        "task.zero_shot.labels",
    )
    config = TextClassificationConfig(labels=["p", "q"], zero_shot=ZeroShotConfig())
    assert choose_labels(config, _splits(dev=dev)) == (["p", "q"], "task.labels")
    plain = TextClassificationConfig(zero_shot=ZeroShotConfig())
    assert choose_labels(plain, _splits(train=test, dev=dev)) == (["c"], "the training file")
    assert choose_labels(plain, _splits(dev=dev)) == (["a", "b"], "the dev file")
    assert choose_labels(plain, _splits(dev=dev, test=test)) == (["a", "b", "c"], "the dev and test files")
    with pytest.raises(ConfigError, match="no labels to classify into"):
        choose_labels(plain, _splits())
    with pytest.raises(ConfigError, match="differ"):
        choose_labels(TextClassificationConfig(labels=["p", "q"], zero_shot=zs), _splits())


def test_old_runs_resume_without_the_new_keys():
    old = {"config": {"task": {"name": "text_classification"}, "data": {"train": "t.csv"}}}
    new = {
        "config": {
            "task": {"name": "text_classification", "zero_shot": None},
            "data": {"train": "t.csv", "unlabelled": None},
        }
    }
    assert compare(old, new) == ([], [])


# -- embeddings and the normalised head ------------------------------------------------------------
def test_sentence_pooling_read_from_a_sentence_transformers_directory(tmp_path):
    assert sentence_pooling(tmp_path) is None
    (tmp_path / "modules.json").write_text(
        json.dumps([{"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    )
    (tmp_path / "1_Pooling").mkdir()
    pooling = tmp_path / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}))
    assert sentence_pooling(tmp_path) == "mean"
    pooling.write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert sentence_pooling(tmp_path) == "cls"
    pooling.write_text(json.dumps({"pooling_mode_max_tokens": True}))
    assert sentence_pooling(tmp_path) is None  # no tunelab equivalent: the caller falls back to mean


def test_embed_texts_is_normalised_order_independent_and_matches_pooled(tiny_model_dir):
    model = AutoModel.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = ["my invoice", "the parcel did not arrive today", "login", "help with my password please"]
    together = embed_texts(model, tokenizer, texts, batch_size=3, max_length=32)
    alone = np.concatenate([embed_texts(model, tokenizer, [t], batch_size=1, max_length=32) for t in texts])
    assert together.shape == (4, 32) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # padding never changes a text's vector
    model.eval()
    batch = tokenizer(texts[:2], padding=True, return_tensors="pt")
    grad = pooled(model, batch)
    assert grad.requires_grad  # few-shot training back-propagates through it
    np.testing.assert_allclose(grad.detach().numpy(), together[:2], atol=1e-5)
    assert embed_texts(model, tokenizer, [], max_length=32).shape == (0, 32)


def test_normalised_head_computes_scale_times_cosine(tiny_model_dir):
    backbone = AutoModel.from_pretrained(tiny_model_dir)
    config = backbone.config
    config.num_labels = 2
    model = build_head_model("sequence", config, backbone, "mean", normalize=True).eval()
    assert isinstance(model, TunelabForSequenceClassification) and model.normalize
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = embed_texts(backbone, tokenizer, ["invoice", "parcel"], max_length=16)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(7.0 * rows))
        model.classifier.bias.zero_()
        batch = tokenizer(["my invoice", "a parcel came"], padding=True, return_tensors="pt")
        logits = model(**batch).logits.numpy()
    texts = embed_texts(backbone, tokenizer, ["my invoice", "a parcel came"], max_length=16)
    np.testing.assert_allclose(logits, 7.0 * texts @ rows.T, atol=1e-5)


# -- end to end: no training file ------------------------------------------------------------------
def _config(root: Path, model_dir: Path, data: dict, zero_shot: dict, **extra):
    values = {
        "model": {"name": str(model_dir)},
        "data": {k: str(v) for k, v in data.items()},
        "task": {"name": "text_classification", "zero_shot": zero_shot},
        "training": {"precision": "fp32", "batch_size": 16, "learning_rate": 3e-3, "tensorboard": False},
        "output": {"plots": True},
    }
    for key, value in extra.items():
        values.setdefault(key, {}).update(value)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return load_config(path)


def _by_hand(model_dir: Path, texts: list[str], scale: float = 20.0) -> np.ndarray:
    """scale * cosine of each text with each label's averaged text embedding, from embed_texts alone."""
    model, tokenizer = AutoModel.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    rows = []
    for label in LABELS:
        names = DESCRIPTIONS.get(label, [label])
        vectors = embed_texts(model, tokenizer, [t.replace("{label}", n) for t in TEMPLATES for n in names])
        mean = vectors.astype(np.float64).mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return scale * embed_texts(model, tokenizer, texts).astype(np.float64) @ np.stack(rows).T


@pytest.fixture(scope="module")
def zs(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("zero-shot")
    dev = make_texts(30, seed=2)
    data = {"dev": write_csv(root / "dev.csv", dev)}
    config = _config(root, tiny_model_dir, data, {"template": TEMPLATES, "descriptions": DESCRIPTIONS})
    result = train(config, output_dir=root / "model", console=QUIET)
    return {"root": root, "dev": dev, "data": data, "out": result.output_dir, "report": result.report}


@pytest.mark.train
def test_zero_shot_artifact_predicts_the_argmax_cosine(zs, tiny_model_dir):
    texts = [t for t, _ in zs["dev"]]
    logits = _by_hand(tiny_model_dir, texts)
    predictor = tunelab.load(zs["out"])
    assert predictor.labels == LABELS
    assert predictor.predict(texts) == [LABELS[i] for i in logits.argmax(axis=1)]
    np.testing.assert_allclose(predictor.predict_proba(texts), softmax(logits), atol=1e-4)
    again = tunelab.load(zs["out"])  # reloads and predicts identically
    np.testing.assert_array_equal(again.predict_proba(texts), predictor.predict_proba(texts))


@pytest.mark.train
def test_zero_shot_run_trains_nothing_and_reports(zs):
    out, report = zs["out"], zs["report"]
    gold = [label for _, label in zs["dev"]]
    predicted = tunelab.load(out).predict([t for t, _ in zs["dev"]])
    accuracy = float(np.mean([p == g for p, g in zip(predicted, gold)]))
    assert report["metrics"]["accuracy"] == pytest.approx(accuracy) and report["metrics"]["num_examples"] == 30
    meta = read_meta(out)
    assert meta.training["steps"] == 0 and meta.training["stop_reason"].startswith("not trained")
    assert meta.data.counts == {"train": 0, "dev": 30, "test": 0}
    state = meta.task.state
    assert state["zero_shot"]["labels_from"] == "the dev file" and state["zero_shot"]["pooling"] == "mean"
    assert state["zero_shot"]["texts"]["billing"][0] == "invoice and charge"
    head = json.loads((out / "config.json").read_text())["tunelab_head"]
    assert head == {"kind": "sequence", "pooling": "mean", "normalize": True}
    assert json.loads((out / "report.json").read_text())["metrics"]["accuracy"] == report["metrics"]["accuracy"]
    card = (out / "README.md").read_text()
    assert (out / "confusion_matrix.png").is_file() and "zero-shot" in card
    assert "Not trained (built without training data): the model is used as built" in card
    assert "Built from" in card and "Fine-tuned" not in card and "trained on 0 examples" not in card
    assert evaluate_artifact(out, zs["data"]["dev"])["metrics"] == report["metrics"]


@pytest.mark.train
def test_zero_shot_onnx_export_parity(zs, monkeypatch):
    monkeypatch.setattr(onnx_export, "BATCH1_CALLS", 2)
    monkeypatch.setattr(onnx_export, "BATCH32_CALLS", 1)
    report = export_onnx(zs["out"], zs["root"] / "onnx")
    assert report["gate"]["passed"] and report["agreement"] == 1.0 and report["compared"] == 30
    texts = ["my invoice please", "the courier lost my parcel", "password reset"]
    onnx = tunelab.load(zs["root"] / "onnx")
    assert onnx.backend.name == "onnx"
    np.testing.assert_allclose(onnx.predict_proba(texts), tunelab.load(zs["out"]).predict_proba(texts), atol=1e-4)


@pytest.mark.train
def test_labels_only_no_data_at_all(tiny_model_dir, tmp_path):
    config = _config(tmp_path, tiny_model_dir, {}, {"labels": ["shipping", "billing"], "template": "about {label}"})
    result = train(config, output_dir=tmp_path / "model", console=QUIET)
    predictor = tunelab.load(result.output_dir)
    assert predictor.labels == ["shipping", "billing"]
    assert len(predictor.predict(["my parcel", "my bill"])) == 2
    assert read_meta(result.output_dir).task.state["zero_shot"]["labels_from"] == "task.zero_shot.labels"


def test_no_labels_anywhere_and_unknown_dev_labels_are_errors(tiny_model_dir, tmp_path):
    with pytest.raises(ConfigError, match="no labels to classify into"):
        train(_config(tmp_path, tiny_model_dir, {}, {}), output_dir=tmp_path / "a", console=QUIET)
    dev = write_csv(tmp_path / "dev.csv", make_texts(6, seed=1))
    config = _config(tmp_path, tiny_model_dir, {"dev": dev}, {"labels": ["billing", "account"]})
    with pytest.raises(DataError, match="'shipping' of dev is not one of the zero-shot labels"):
        train(config, output_dir=tmp_path / "b", console=QUIET)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# -- self-training ---------------------------------------------------------------------------------
@pytest.mark.train
def test_self_training_keeps_the_confident_texts_per_label_and_fine_tunes(tiny_model_dir, tmp_path):
    unlabelled = [t for t, _ in make_texts(40, seed=7)]
    (tmp_path / "texts.txt").write_text("\n".join(unlabelled[:20]) + "\n\n" + "\n".join(unlabelled[20:]) + "\n")
    dev = write_csv(tmp_path / "dev.csv", make_texts(12, seed=2))
    config = _config(
        tmp_path,
        tiny_model_dir,
        {"dev": dev, "unlabelled": tmp_path / "texts.txt"},
        {"template": TEMPLATES, "descriptions": DESCRIPTIONS, "self_training": {"confidence": 0.0, "max_per_label": 4}},
        training={"epochs": 1},
    )
    result = train(config, output_dir=tmp_path / "model", console=QUIET)
    predicted = _by_hand(tiny_model_dir, unlabelled).argmax(axis=1)
    expected = {label: min(4, int((predicted == j).sum())) for j, label in enumerate(LABELS)}
    meta = read_meta(result.output_dir)
    facts = meta.task.state["self_training"]
    assert facts["per_label"] == expected and facts["texts"] == 40 and facts["file"] == "texts.txt"
    assert meta.data.counts["train"] == sum(expected.values()) == facts["kept"]
    assert meta.training["steps"] >= 1 and meta.training["stop_reason"] != "not trained"
    assert meta.config["data"]["unlabelled"] == "../texts.txt"  # recorded relative to the artifact
    head = json.loads((result.output_dir / "config.json").read_text())["tunelab_head"]
    assert head["normalize"] is True  # fine-tuned from the zero-shot head, still a cosine classifier


# -- verbaliser: label words after a prompt, on a decoder ------------------------------------------
def test_verbaliser_config_errors(tiny_model_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"prompt.*\{text\} placeholder"):
        load_config(None, ["task.zero_shot.prompt=Sentiment is"])
    with pytest.raises(ConfigError, match="set prompt too"):
        load_config(None, ["task.zero_shot.label_words={a: ' yes'}"])
    dev = write_csv(tmp_path / "dev.csv", make_texts(6, seed=1))
    config = _config(tmp_path, tiny_model_dir, {"dev": dev}, {"prompt": "{text} topic:"})
    with pytest.raises(ConfigError, match="not a decoder-only model"):
        train(config, output_dir=tmp_path / "m", console=QUIET)


@pytest.mark.train
def test_verbaliser_scores_the_label_words_next_token_logits(tmp_path):
    from transformers import AutoModelForCausalLM

    from helpers import build_tiny_decoder

    model_dir = build_tiny_decoder(tmp_path / "decoder")
    rows = [("John Smith visited London", "london"), ("Mary Jones met Paris", "paris")] * 3
    dev = write_csv(tmp_path / "dev.csv", rows)
    words = {"london": " London", "paris": " Paris"}
    settings = {"prompt": "{text} in the city of", "label_words": words, "contextual_calibration": False}
    config = _config(tmp_path, model_dir, {"dev": dev}, settings)
    result = train(config, output_dir=tmp_path / "model", console=QUIET)
    state = read_meta(result.output_dir).task.state["zero_shot"]
    assert state["mode"] == "verbaliser" and state["label_words"] == words and "content_free_prior" not in state
    lm, tokenizer = AutoModelForCausalLM.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer.convert_tokens_to_ids([state["label_tokens"]["london"], state["label_tokens"]["paris"]])
    texts = ["Angela Merkel visited London", "a short one", "Mary Jones met John Smith in Paris"]

    def word_logits(text):
        return lm(**tokenizer(f"{text} in the city of", return_tensors="pt")).logits[0, -1, ids].double().numpy()

    with torch.no_grad():
        expected = np.stack([softmax(word_logits(t)) for t in texts])
        prior = np.mean([softmax(word_logits(t)) for t in ("N/A", "", "[MASK]")], axis=0)
    predictor = tunelab.load(result.output_dir)
    np.testing.assert_allclose(predictor.predict_proba(texts), expected, atol=1e-4)
    assert [r["text"] for r in predictor.predict_scores(texts)] == texts  # records show the text given
    # contextual calibration (the default): each probability divided by the content-free prior
    config = _config(tmp_path, model_dir, {"dev": dev}, {"prompt": "{text} in the city of", "label_words": words})
    calibrated = train(config, output_dir=tmp_path / "calibrated", console=QUIET).output_dir
    state = read_meta(calibrated).task.state["zero_shot"]
    assert state["content_free_prior"] == pytest.approx({"london": prior[0], "paris": prior[1]}, abs=1e-5)
    divided = expected / prior
    np.testing.assert_allclose(
        tunelab.load(calibrated).predict_proba(texts), divided / divided.sum(1, keepdims=True), atol=1e-4
    )


@pytest.mark.train
def test_tunelab_check_reads_a_zero_shot_config(zs, tiny_model_dir, capsys):
    """No training file: `tunelab check` takes the labels where training does (the dev file)."""
    config = _config(zs["root"], tiny_model_dir, zs["data"], {"template": TEMPLATES})
    report = check_data(config, console=Console(file=None, force_terminal=False))
    assert report["task"] == "text_classification"
    assert report["splits"]["dev"]["count"] == 30 and report["splits"]["train"] == {
        "count": 0,
        "source": "none",
        "file": None,
    }
    assert "train" in capsys.readouterr().out  # the table prints a split with no file
    assert report["classes"] is not None
