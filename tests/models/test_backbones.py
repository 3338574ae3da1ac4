"""Any backbone under any task head: a tiny random Chinese BERT (bert-base-chinese vocabulary), tiny
random decoders (Gemma 3 with a byte-level BPE tokenizer, Llama with a SentencePiece-style one) and
tunelab's generic heads run the classification and NER contract: the loss falls, the artifact
saves, reloads and predicts exactly what the model predicted at the end of training, and entity
offsets slice Chinese input to the entity text."""

import json

import numpy as np
import pytest
import torch
from rich.console import Console

import tunelab
from helpers import (
    SMALL_METHOD_SETTINGS,
    VOCAB_ZH,
    build_tiny_bert,
    build_tiny_decoder,
    final_outputs_callback,
    make_ner_sentences,
    make_texts,
    make_zh_ner_sentences,
    make_zh_texts,
    tiny_overrides,
    write_conll,
    write_csv,
)
from tunelab.config import ModelConfig, load_config
from tunelab.errors import ConfigError
from tunelab.models.heads import TunelabForSequenceClassification, TunelabForTokenClassification, is_decoder_only, pool
from tunelab.models.resolve import resolve_model
from tunelab.workflow.train import train

QUIET = Console(file=open("/dev/null", "w"))
SMALL = SMALL_METHOD_SETTINGS


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    root = tmp_path_factory.mktemp("backbones")
    return {
        "bert_zh": build_tiny_bert(root / "bert-zh", VOCAB_ZH),
        "gemma3": build_tiny_decoder(root / "gemma3", family="gemma3", tokenizer_style="byte_level"),
        "llama": build_tiny_decoder(root / "llama", family="llama", tokenizer_style="metaspace"),
    }


@pytest.fixture(scope="module")
def zh_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("zh-data")
    return {
        "text_classification": {
            "train": write_csv(root / "train.csv", make_zh_texts(96, seed=1)),
            "dev": write_csv(root / "dev.csv", make_zh_texts(24, seed=2)),
        },
        "token_classification": {
            "train": write_conll(root / "train.conll", make_zh_ner_sentences(96, seed=1)),
            "dev": write_conll(root / "dev.conll", make_zh_ner_sentences(24, seed=2)),
        },
    }


def run_contract(model_dir, data, task, out, method="full", extra=(), epochs=5):
    rate = 3e-3 if method == "full" else 1e-2
    overrides = tiny_overrides(
        model_dir,
        data,
        **{"task.name": task, "training.epochs": epochs, "training.learning_rate": rate, "training.log_every": 1},
    )
    overrides += [f"method.name={method}", *SMALL.get(method, []), *extra]
    if method != "full":  # each method's own rate (training.learning_rate is full fine-tuning's)
        overrides.append(f"method.learning_rate={rate}")
    capture = final_outputs_callback()
    result = train(load_config(None, overrides), output_dir=out, console=QUIET, callbacks=[capture])
    log = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in log if "train_loss" in r]
    per_epoch = len(losses) // epochs
    assert np.mean(losses[-per_epoch:]) < np.mean(losses[:per_epoch]), losses  # it learns
    predictor = tunelab.load(out)
    examples = predictor.task.read_file(data["dev"], predictor.meta)
    reloaded = predictor.raw_outputs(predictor.encode(examples))
    assert len(reloaded) == len(capture.outputs)
    for a, b in zip(capture.outputs, reloaded):
        np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-5)
    assert predictor.evaluate(examples) == result.report["metrics"]
    return result, predictor


TASKS = ["text_classification", "token_classification"]


@pytest.mark.train
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("backbone", ["bert_zh", "gemma3", "llama"])
def test_full_fine_tuning_contract_on_chinese(backbone, task, backbones, zh_data, tmp_path):
    result, predictor = run_contract(backbones[backbone], zh_data[task], task, tmp_path / "out")
    model = result.meta["model"]
    if backbone == "gemma3" and task == "token_classification":
        # transformers has no Gemma 3 token-classification class: tunelab's generic head
        assert model["auto_class"] == "TunelabForTokenClassification" and model["head"] == "tunelab"
    else:
        assert model["head"] == "transformers"
    metrics = result.report["metrics"]
    if task == "text_classification":
        assert metrics["accuracy"] >= 0.75, metrics
    else:
        assert metrics["f1"] >= 0.5, metrics
        # entity offsets slice the Chinese input text to the entity text
        text = "王小明在杭州工作。"
        for entity in predictor.predict([text])[0]:
            assert text[entity["start"] : entity["end"]] == entity["text"]


DECODER_METHODS = ["lora", "adalora", "ia3", "prompt_tuning", "p_tuning", "prefix_tuning", "frozen", "adapter"]


@pytest.mark.train
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("method", DECODER_METHODS)
def test_every_method_on_a_decoder(method, task, backbones, zh_data, tmp_path):
    result, _ = run_contract(backbones["gemma3"], zh_data[task], task, tmp_path / "out", method=method)
    params = result.meta["method"]["parameters"]
    assert 0 < params["trainable"] < params["total"]


@pytest.mark.parametrize(
    ("task", "pooling"),
    [
        ("text_classification", "mean"),
        ("text_classification", "cls"),
        ("text_classification", "last"),
        ("token_classification", "mean"),
    ],
)
@pytest.mark.train
def test_generic_head_on_an_encoder(pooling, task, tiny_model_dir, tmp_path):
    if task == "text_classification":
        data = {
            "train": write_csv(tmp_path / "train.csv", make_texts(96, seed=1)),
            "dev": write_csv(tmp_path / "dev.csv", make_texts(24, seed=2)),
        }
    else:
        data = {
            "train": write_conll(tmp_path / "train.conll", make_ner_sentences(96, seed=1)),
            "dev": write_conll(tmp_path / "dev.conll", make_ner_sentences(24, seed=2)),
        }
    extra = ["model.head=tunelab", f"model.pooling={pooling}"]
    result, predictor = run_contract(tiny_model_dir, data, task, tmp_path / "out", extra=extra)
    expected = TunelabForSequenceClassification if task == "text_classification" else TunelabForTokenClassification
    assert isinstance(predictor.backend.model, expected)
    if task == "text_classification":
        assert predictor.backend.model.pooling == pooling
        config = json.loads((tmp_path / "out" / "config.json").read_text())
        assert config["tunelab_head"]["pooling"] == pooling and config["architectures"] == [expected.__name__]


@pytest.mark.train
def test_lora_adapter_on_generic_head_reloads_with_its_classifier(backbones, zh_data, tmp_path):
    result, predictor = run_contract(
        backbones["gemma3"], zh_data["token_classification"], "token_classification", tmp_path / "out", method="lora"
    )
    assert result.meta["method"]["stored"] == "trained_weights"
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_pooling_takes_the_last_kept_position_for_either_padding_side():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool(hidden, right, "last").flatten().tolist() == [1.0, 7.0]
    assert pool(hidden, left, "last").flatten().tolist() == [3.0, 7.0]
    assert pool(hidden, right, "mean").flatten().tolist() == [0.5, 5.5]
    assert pool(hidden, right, "cls").flatten().tolist() == [0.0, 4.0]


def test_decoders_are_told_from_encoders(backbones, tiny_model_dir):
    from transformers import AutoConfig

    assert is_decoder_only(AutoConfig.from_pretrained(backbones["gemma3"]))
    assert is_decoder_only(AutoConfig.from_pretrained(backbones["llama"]))
    assert not is_decoder_only(AutoConfig.from_pretrained(tiny_model_dir))


def test_transformers_head_refused_where_there_is_none(backbones):
    task_cls = tunelab.tasks.task_class("token_classification")
    from tunelab.tasks.token_classification.config import TokenClassificationConfig

    task = task_cls(TokenClassificationConfig(), ["PER"])
    with pytest.raises(ConfigError, match="no TokenClassification class for 'gemma3_text'"):
        task.build_model(
            resolve_model(str(backbones["gemma3"])), ModelConfig(name=str(backbones["gemma3"]), head="transformers")
        )


@pytest.mark.train
@pytest.mark.parametrize("task", TASKS)
def test_gradient_checkpointing_gives_the_same_training(task, backbones, zh_data, tmp_path):
    """Recomputing activations must not change what is learned (dropout off: same numbers)."""
    common = ["model.dropout=0.0", "model.classifier_dropout=0.0", "method.dropout=0.0"]
    plain, _ = run_contract(
        backbones["gemma3"], zh_data[task], task, tmp_path / "plain", method="lora", extra=common, epochs=2
    )
    checkpointed, _ = run_contract(
        backbones["gemma3"],
        zh_data[task],
        task,
        tmp_path / "ckpt",
        method="lora",
        extra=[*common, "training.gradient_checkpointing=true"],
        epochs=2,
    )
    a = [h["metrics"]["loss"] for h in plain.meta["training"]["history"]]
    b = [h["metrics"]["loss"] for h in checkpointed.meta["training"]["history"]]
    np.testing.assert_allclose(a, b, rtol=1e-4)
