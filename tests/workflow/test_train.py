"""The training workflow and loop on a tiny random BERT: learning, determinism, early stopping,
gradient accumulation, resume after an interruption, precision, multi-label, safe outputs."""

import json
import signal

import pytest
import torch
from rich.console import Console
from safetensors.torch import load_file

from helpers import make_texts, tiny_overrides, write_csv, write_jsonl
from tunelab.artifact import ArtifactError
from tunelab.config import load_config
from tunelab.errors import DataError
from tunelab.training.callbacks import Callback
from tunelab.training.optim import cpu_supports_bf16
from tunelab.workflow.train import TrainingInterrupted, train, workdir_for

QUIET = Console(file=open("/dev/null", "w"))


def run(model_dir, data, out, *, callbacks=None, resume=False, overwrite=False, **extra):
    cfg = load_config(None, tiny_overrides(model_dir, data, **extra))
    return train(cfg, output_dir=out, console=QUIET, callbacks=callbacks, resume=resume, overwrite=overwrite)


def weights(path):
    return load_file(str(path / "model.safetensors"))


@pytest.mark.train
def test_learns_the_toy_task_and_writes_logs(tiny_model_dir, toy_data, tmp_path):
    result = run(tiny_model_dir, toy_data, tmp_path / "out", **{"training.tensorboard": True})
    # chance is 1/3; over seeds 1-5 the toy run scores 0.67-1.0 on these 30 dev texts (lazy or dense embeddings)
    assert result.report["metrics"]["accuracy"] >= 0.7
    meta = result.meta
    assert meta["training"]["stop_reason"] == "completed"
    assert meta["training"]["steps"] == meta["training"]["total_steps"] == 8 * 8
    log = [json.loads(line) for line in (tmp_path / "out" / "logs" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in log if "train_loss" in r]
    evals = [r for r in log if "eval" in r]
    assert len(evals) == 8 and losses[-1] < losses[0]
    assert any((tmp_path / "out" / "logs" / "tensorboard").iterdir())
    assert not workdir_for(tmp_path / "out").exists()  # scratch space removed after success


@pytest.mark.train
def test_same_seed_same_results(tiny_model_dir, toy_data, tmp_path):
    a = run(tiny_model_dir, toy_data, tmp_path / "a", **{"training.epochs": 2})
    b = run(tiny_model_dir, toy_data, tmp_path / "b", **{"training.epochs": 2})
    assert a.meta["training"]["history"] == b.meta["training"]["history"]
    assert a.report["metrics"] == b.report["metrics"]
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    run(tiny_model_dir, toy_data, tmp_path / "c", **{"training.epochs": 2, "training.seed": 7})
    assert not all(torch.equal(wa[k], weights(tmp_path / "c")[k]) for k in wa)


@pytest.mark.train
def test_early_stopping_and_best_checkpoint(tiny_model_dir, toy_data, tmp_path):
    # With a learning rate this small no evaluation improves on the first by min_delta: early
    # stopping must end the run two evaluations later, long before 30 epochs.
    result = run(
        tiny_model_dir,
        toy_data,
        tmp_path / "out",
        **{
            "training.epochs": 30,
            "training.learning_rate": 1e-7,
            "training.early_stopping.patience": 2,
            "training.early_stopping.min_delta": 0.01,
            "training.metric": "loss",
        },
    )
    training = result.meta["training"]
    assert training["stop_reason"].startswith("early stopping")
    history = training["history"]
    losses = [h["metrics"]["loss"] for h in history]
    assert len(history) == 3 and max(losses) - min(losses) < 0.01
    assert training["best_step"] == history[0]["step"]


@pytest.mark.train
def test_best_weights_are_restored(tiny_model_dir, toy_data, tmp_path):
    seen = {}

    class Snapshot(Callback):
        def on_evaluate(self, trainer, metrics, improved):
            seen[trainer.state.global_step] = metrics["accuracy"]

    result = run(
        tiny_model_dir,
        toy_data,
        tmp_path / "out",
        callbacks=[Snapshot()],
        **{
            "training.epochs": 6,
            "training.learning_rate": 0.05,
            "training.warmup_ratio": 0.0,
        },
    )
    best_step = result.meta["training"]["best_step"]
    assert seen[best_step] == max(seen.values())
    # the artifact was reloaded and scored in fp32 on dev: the same accuracy as the best evaluation
    assert result.report["metrics"]["accuracy"] == pytest.approx(seen[best_step])


@pytest.mark.train
def test_gradient_accumulation_matches_a_bigger_batch(tiny_model_dir, tmp_path):
    # 128 examples: every accumulation window is full, so 2 x 8 must equal 1 x 16 exactly
    data = {
        "train": write_csv(tmp_path / "train.csv", make_texts(128, seed=1)),
        "dev": write_csv(tmp_path / "dev.csv", make_texts(30, seed=2)),
    }
    common = {"model.dropout": 0.0, "training.length_buckets": False, "training.epochs": 2}
    big = run(tiny_model_dir, data, tmp_path / "big", **common, **{"training.batch_size": 16})
    acc = run(
        tiny_model_dir,
        data,
        tmp_path / "acc",
        **common,
        **{
            "training.batch_size": 8,
            "training.gradient_accumulation_steps": 2,
        },
    )
    assert acc.meta["training"]["steps"] == big.meta["training"]["steps"] == 2 * 128 // 16
    wb, wa = weights(tmp_path / "big"), weights(tmp_path / "acc")
    for key in wb:
        assert torch.allclose(wb[key], wa[key], atol=1e-5), key


class InterruptAt(Callback):
    """Sends this process a real SIGINT (Ctrl-C) at a given optimizer step."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, logs):
        if trainer.state.global_step == self.step:
            signal.raise_signal(signal.SIGINT)


@pytest.mark.train
def test_resume_after_interruption_gives_the_uninterrupted_result(tiny_model_dir, toy_data, tmp_path):
    settings = {"training.epochs": 3}
    straight = run(tiny_model_dir, toy_data, tmp_path / "straight", **settings)
    out = tmp_path / "resumed"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        run(tiny_model_dir, toy_data, out, callbacks=[InterruptAt(11)], **settings)  # mid-epoch 2
    assert not out.exists()
    assert any((workdir_for(out) / "checkpoints").glob("step-*/checkpoint.json"))
    resumed = run(tiny_model_dir, toy_data, out, resume=True, **settings)
    assert resumed.meta["training"]["history"] == straight.meta["training"]["history"]
    assert resumed.report["metrics"] == straight.report["metrics"]
    ws, wr = weights(tmp_path / "straight"), weights(out)
    assert all(torch.equal(ws[k], wr[k]) for k in ws)
    log = (out / "logs" / "train_log.jsonl").read_text().splitlines()
    assert sum('"eval"' in line for line in log) == 3  # logs continue across the interruption


def test_resume_without_checkpoint_is_refused(tiny_model_dir, toy_data, tmp_path):
    with pytest.raises(ArtifactError, match="nothing to resume"):
        run(tiny_model_dir, toy_data, tmp_path / "out", resume=True)


@pytest.mark.train
@pytest.mark.skipif(not cpu_supports_bf16(), reason="CPU has no native bf16")
def test_bf16_autocast_trains(tiny_model_dir, toy_data, tmp_path):
    result = run(tiny_model_dir, toy_data, tmp_path / "out", **{"training.precision": "bf16"})
    assert result.meta["training"]["precision"] == "bf16"
    assert result.report["metrics"]["accuracy"] >= 0.7  # chance 1/3 (see test_learns_the_toy_task_and_writes_logs)
    # saved weights stay fp32: autocast only changes the compute
    assert all(t.dtype == torch.float32 for t in weights(tmp_path / "out").values())


@pytest.mark.train
def test_multi_label_from_jsonl(tiny_model_dir, tmp_path):
    def records(n, seed):
        rows = make_texts(n, seed)
        # every text with a billing cue also gets "urgent" when it mentions "refund"
        return [{"text": t, "labels": [label] + (["urgent"] if "refund" in t else [])} for t, label in rows]

    data = {
        "train": write_jsonl(tmp_path / "train.jsonl", records(150, 1)),
        "dev": write_jsonl(tmp_path / "dev.jsonl", records(40, 2)),
    }
    result = run(
        tiny_model_dir,
        data,
        tmp_path / "out",
        **{
            "task.multi_label": True,
            "training.metric": "micro_f1",
            "training.epochs": 25,
            "output.plots": True,
        },
    )
    metrics = result.report["metrics"]
    assert set(metrics["per_label"]) == {"account", "billing", "shipping", "urgent"}
    assert metrics["micro_f1"] > 0.7
    assert (tmp_path / "out" / "label_counts.png").is_file()


@pytest.mark.train
def test_class_weights_and_carved_dev(tiny_model_dir, toy_data, tmp_path):
    data = {"train": toy_data["train"], "dev": toy_data["train"]}
    cfg = load_config(
        None, tiny_overrides(tiny_model_dir, data, **{"task.class_weights": "balanced"}) + ["data.dev=null"]
    )
    result = train(cfg, output_dir=tmp_path / "out", console=QUIET)
    assert result.meta["data"]["dev_source"] == "split"
    assert result.meta["data"]["counts"] == {"train": 108, "dev": 12, "test": 0}
    assert result.report["evaluated_on"]["file"] == "carved from train"


@pytest.mark.train
def test_bad_data_fails_fast_and_keeps_the_old_artifact(tiny_model_dir, toy_data, tmp_path):
    out = tmp_path / "out"
    run(tiny_model_dir, toy_data, out, **{"training.epochs": 1})
    before = (out / "model.safetensors").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine text,billing\n   ,shipping\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        run(tiny_model_dir, {**toy_data, "train": bad}, out, overwrite=True)
    assert f"{bad}:3" in str(err.value) and "empty text" in str(err.value)
    assert (out / "model.safetensors").read_bytes() == before


@pytest.mark.train
def test_existing_output_needs_overwrite(tiny_model_dir, toy_data, tmp_path):
    out = tmp_path / "out"
    run(tiny_model_dir, toy_data, out, **{"training.epochs": 1})
    with pytest.raises(ArtifactError, match="--overwrite"):
        run(tiny_model_dir, toy_data, out, **{"training.epochs": 1})
    first = (out / "tunelab.json").read_text()
    run(tiny_model_dir, toy_data, out, overwrite=True, **{"training.epochs": 1, "training.seed": 3})
    assert (out / "tunelab.json").read_text() != first
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not a tunelab artifact"):
        run(tiny_model_dir, toy_data, other, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"


def test_dev_label_unseen_in_train_is_an_error(tiny_model_dir, toy_data, tmp_path):
    dev = tmp_path / "dev.csv"
    dev.write_text("text,label\nsomething,billing\nother,refunds\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        run(tiny_model_dir, {**toy_data, "dev": dev}, tmp_path / "out")
    assert f"{dev}:3" in str(err.value) and "refunds" in str(err.value)


@pytest.mark.train
def test_eval_every_n_steps(tiny_model_dir, toy_data, tmp_path):
    result = run(tiny_model_dir, toy_data, tmp_path / "out", **{"training.epochs": 2, "training.eval_steps": 5})
    steps = [h["step"] for h in result.meta["training"]["history"]]
    assert steps == [5, 10, 15, 16]  # every 5 steps, and once more at the end of training


@pytest.mark.train
def test_progress_lines_when_not_a_terminal(tiny_model_dir, toy_data, tmp_path):
    import io

    buffer = io.StringIO()
    cfg = load_config(None, tiny_overrides(tiny_model_dir, toy_data, **{"training.epochs": 2}))
    train(cfg, output_dir=tmp_path / "out", console=Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "step 16/16" in text and "samples/s" in text and "dev accuracy" in text
    assert "data: train 120, dev 30; 3 labels" in text and "macro avg" in text


@pytest.mark.train
def test_sentence_pairs(tiny_model_dir, tmp_path):
    import tunelab

    rows = make_texts(60, seed=4)
    partners = [rows[(i + (3 if i % 2 else 1)) % len(rows)] for i in range(len(rows))]  # 3 apart: same label
    pairs = [(a, b, "same" if la == lb else "different") for (a, la), (b, lb) in zip(rows, partners)]
    data = {
        "train": write_csv(tmp_path / "train.csv", pairs, header=("sentence1", "sentence2", "label")),
        "dev": write_csv(tmp_path / "dev.csv", pairs[:20], header=("sentence1", "sentence2", "label")),
    }
    result = run(tiny_model_dir, data, tmp_path / "out", **{"training.epochs": 2})
    assert result.meta["data"]["reading"]["columns"] == {
        "text": "sentence1",
        "text_pair": "sentence2",
        "label": "label",
    }
    model = tunelab.load(tmp_path / "out")
    predicted = model.predict([p[0] for p in pairs[:5]], [p[1] for p in pairs[:5]])
    assert len(predicted) == 5 and set(predicted) <= {"same", "different"}
    with pytest.raises(ValueError, match="text_pairs"):
        model.predict(["a", "b"], ["only one"])


def test_unknown_metric_fails_before_training(tiny_model_dir, toy_data, tmp_path):
    from tunelab.errors import ConfigError

    with pytest.raises(ConfigError, match="training.metric 'f1' is not a metric of text_classification.*macro_f1"):
        run(tiny_model_dir, toy_data, tmp_path / "out", **{"training.metric": "f1"})
    assert not workdir_for(tmp_path / "out").exists()
