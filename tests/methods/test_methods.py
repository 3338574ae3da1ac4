"""Contract test: every training method, for both tasks, on a tiny random model: the loss falls,
the artifact saves, reloads and predicts exactly what the model predicted at the end of training."""

import json

import numpy as np
import pytest
from rich.console import Console
from transformers import AutoModelForSequenceClassification

import tunelab
from helpers import (
    SMALL_METHOD_SETTINGS,
    final_outputs_callback,
    make_ner_sentences,
    make_texts,
    tiny_overrides,
    write_conll,
    write_csv,
)
from tunelab.config import load_config
from tunelab.training.callbacks import Callback
from tunelab.workflow.train import train

QUIET = Console(file=open("/dev/null", "w"))
METHODS = ["full", "frozen", "lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning", "p_tuning", "adapter"]
SMALL = SMALL_METHOD_SETTINGS


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods-data")
    return {
        "text_classification": {
            "train": write_csv(root / "train.csv", make_texts(96, seed=1)),
            "dev": write_csv(root / "dev.csv", make_texts(24, seed=2)),
        },
        "token_classification": {
            "train": write_conll(root / "train.conll", make_ner_sentences(96, seed=1)),
            "dev": write_conll(root / "dev.conll", make_ner_sentences(24, seed=2)),
        },
    }


def train_with(method, task, model_dir, data, out, extra=()):
    # full fine-tuning of a random model diverges at rates where the small PEFT parameter sets just start
    rate = 3e-3 if method == "full" else 1e-2
    overrides = tiny_overrides(
        model_dir,
        data,
        **{"task.name": task, "training.epochs": 5, "training.learning_rate": rate, "training.log_every": 1},
    ) + [f"method.name={method}"]
    if method != "full":  # each method's own rate (training.learning_rate is full fine-tuning's)
        overrides.append(f"method.learning_rate={rate}")
    capture = final_outputs_callback()
    result = train(
        load_config(None, overrides + SMALL.get(method, []) + list(extra)),
        output_dir=out,
        console=QUIET,
        callbacks=[capture],
    )
    return result, capture.outputs


@pytest.mark.train
@pytest.mark.parametrize("task", ["text_classification", "token_classification"])
@pytest.mark.parametrize("method", METHODS)
def test_method_contract(method, task, tiny_model_dir, datasets, tmp_path):
    result, final = train_with(method, task, tiny_model_dir, datasets[task], tmp_path / "out")
    meta = result.meta
    log = [json.loads(line) for line in (tmp_path / "out" / "logs" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in log if "train_loss" in r]
    per_epoch = len(losses) // 5
    assert np.mean(losses[-per_epoch:]) < np.mean(losses[:per_epoch]), losses  # it learns
    params = meta["method"]["parameters"]
    if method == "full":
        assert params["share"] == 1.0 and meta["method"]["stored"] == "full_model"
    else:
        assert 0 < params["trainable"] < params["total"] and meta["method"]["stored"] == "trained_weights"
        assert not (tmp_path / "out" / "model.safetensors").exists()  # only what was trained
    # reload through tunelab.load: the same outputs as the model at the end of training
    predictor = tunelab.load(tmp_path / "out")
    examples = predictor.task.read_file(datasets[task]["dev"], predictor.meta)
    reloaded = predictor.raw_outputs(predictor.encode(examples))
    assert len(reloaded) == len(final)
    for a, b in zip(final, reloaded):
        np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-5)
    assert predictor.evaluate(examples) == result.report["metrics"]


@pytest.mark.train
def test_lora_artifact_is_small_and_merge_gives_a_plain_model(tiny_model_dir, datasets, tmp_path):
    data = datasets["text_classification"]
    adapter, _ = train_with("lora", "text_classification", tiny_model_dir, data, tmp_path / "lora")
    merged, _ = train_with(
        "lora", "text_classification", tiny_model_dir, data, tmp_path / "merged", ["method.merge=true"]
    )
    full_size = (tmp_path / "merged" / "model.safetensors").stat().st_size
    assert adapter.meta["method"]["weights_bytes"] < full_size / 5
    assert merged.meta["method"]["stored"] == "full_model"
    # the merged artifact is a plain transformers model with the same predictions as the adapter one
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged")
    assert plain.config.id2label[0] == "account"
    texts = [t for t, _ in make_texts(10, seed=9)]
    np.testing.assert_allclose(
        tunelab.load(tmp_path / "lora").predict_proba(texts),
        tunelab.load(tmp_path / "merged").predict_proba(texts),
        atol=1e-5,
    )


@pytest.mark.train
def test_adalora_reallocates_ranks(tiny_model_dir, datasets, tmp_path):
    ranks = []

    class CountRanks(Callback):
        def on_step_end(self, trainer, logs):
            model = trainer.accelerator.unwrap_model(trainer.model)
            ranks.append(sum(int((p != 0).sum()) for n, p in model.named_parameters() if "lora_E" in n))

    overrides = tiny_overrides(
        tiny_model_dir, datasets["text_classification"], **{"training.epochs": 6, "training.learning_rate": 1e-2}
    ) + ["method.name=adalora", "method.init_r=6", "method.target_r=2", "method.delta_t=1", "method.learning_rate=1e-2"]
    overrides.append("method.target_modules=[query,value]")
    train(load_config(None, overrides), output_dir=tmp_path / "out", console=QUIET, callbacks=[CountRanks()])
    # 4 adapted matrices (query, value in 2 layers) get rank 6 each; the budget schedule
    # prunes them step by step down to target_r on average (2 x 4 = 8) once tfinal is reached
    assert max(ranks[:3]) == 24  # lora_E starts at zero and is non-zero after the first update
    assert any(later < earlier for earlier, later in zip(ranks, ranks[1:]))
    assert ranks[-1] <= 8


def test_unmergeable_method_refuses_merge(tiny_model_dir, datasets, tmp_path):
    from tunelab.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key 'method.merge'"):
        train_with(
            "prompt_tuning",
            "text_classification",
            tiny_model_dir,
            datasets["text_classification"],
            tmp_path / "out",
            ["method.merge=true"],
        )
