"""Distributed data parallel training: two CPU processes on gloo, started the way users start them
(`torchrun`, here `python -m torch.distributed.run --standalone`, which picks a free port).

The first test runs the real CLI; the second runs this file as the worker script, for what needs
a callback inside the processes: a Ctrl-C on one process only, resume, and NER.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.data_loader import BatchSamplerShard
from safetensors.torch import load_file

import tunelab
from helpers import make_ner_sentences, make_texts, tiny_overrides, write_conll, write_csv
from tunelab.data.batching import LengthBucketBatchSampler
from tunelab.training.distributed import WholeBatches
from tunelab.workflow.evaluate import evaluate_artifact, read_for_artifact

HERE = Path(__file__).resolve()
PROCESSES = 2
TRAIN, DEV, BATCH = 120, 30, 8

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")


def torchrun(args: list[str], log: Path, timeout: int = 150) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    env["CUDA_VISIBLE_DEVICES"] = ""  # two CPU processes on gloo, even on a machine with one GPU
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(PROCESSES), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"torchrun failed ({result.returncode}):\n{(result.stdout + result.stderr)[-6000:]}"
    return result


@pytest.fixture(scope="module")
def ddp_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ddp-data")
    return {
        "train": write_csv(root / "train.csv", make_texts(TRAIN, seed=1)),
        "dev": write_csv(root / "dev.csv", make_texts(DEV, seed=2)),
        "ner_train": write_conll(root / "train.conll", make_ner_sentences(96, seed=1)),
        "ner_dev": write_conll(root / "dev.conll", make_ner_sentences(24, seed=2)),
    }


def dev_loss(predictor, dev_file: Path) -> float:
    """Mean cross-entropy of a single-process evaluation of the artifact on the dev file."""
    encoded = predictor.encode(read_for_artifact(predictor, dev_file))
    logits = torch.tensor(np.stack([o["logits"] for o in predictor.raw_outputs(encoded)]), dtype=torch.float32)
    labels = torch.tensor([encoded[i]["labels"] for i in range(len(encoded))])
    return float(torch.nn.functional.cross_entropy(logits, labels))


@pytest.mark.parametrize("n", [120, 129, 7])
def test_every_process_gets_its_share_of_every_batch(n):
    # The length-bucketed sampler shuffles its one short batch anywhere into the epoch; accelerate's
    # shard of a sampler with a batch_size would drop it with a neighbour. Whole batches: none lost.
    lengths = np.random.default_rng(0).integers(3, 30, n)
    for epoch in range(4):
        sampler = LengthBucketBatchSampler(lengths, 16, seed=1)
        sampler.set_epoch(epoch)
        shards = [BatchSamplerShard(WholeBatches(sampler), PROCESSES, rank) for rank in range(PROCESSES)]
        batches = [list(shard) for shard in shards]
        per_process = math.ceil(len(sampler) / PROCESSES)
        assert [len(b) for b in batches] == [len(shard) for shard in shards] == [per_process] * PROCESSES
        dealt = [tuple(batch) for b in batches for batch in b]
        assert set(dealt) == {tuple(batch) for batch in sampler}  # every batch of the epoch, none lost
        assert len(dealt) - len(set(dealt)) == per_process * PROCESSES - len(sampler)  # repeats: the last round


@pytest.mark.train  # torchrun trains in child processes (not counted by conftest)
def test_two_processes_train_one_artifact(tiny_model_dir, ddp_data, tmp_path):
    epochs = 4
    config = tmp_path / "c.yaml"
    config.write_text("task:\n  name: text_classification\n")
    out = tmp_path / "runs" / "model"
    data = {"train": ddp_data["train"], "dev": ddp_data["dev"]}
    args = ["-m", "tunelab.cli.app", "train", str(config), "-o", str(out)]
    for item in tiny_overrides(
        tiny_model_dir,
        data,
        **{
            "training.epochs": epochs,
            "training.batch_size": BATCH,
            "training.tensorboard": True,
            "training.log_every": 1,
        },
    ):
        args += ["--set", item]
    result = torchrun(args, tmp_path / "torchrun.log")

    # one artifact, written by one process; the scratch directory is gone
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]
    meta = json.loads((out / "tunelab.json").read_text())
    training = meta["training"]
    assert training["num_processes"] == PROCESSES and training["stop_reason"] == "completed"
    # every process trains on its own share of each epoch: ceil(120 / (2 x 8)) = 8 steps per epoch
    steps_per_epoch = math.ceil(TRAIN / (PROCESSES * BATCH))
    assert training["steps"] == training["total_steps"] == steps_per_epoch * epochs
    assert [h["step"] for h in training["history"]] == [steps_per_epoch * (e + 1) for e in range(epochs)]
    log = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "train_loss" in r] == list(range(1, training["steps"] + 1))  # written once
    losses = [r["train_loss"] for r in log if "train_loss" in r]
    assert np.mean(losses[-steps_per_epoch:]) < np.mean(losses[:steps_per_epoch])
    assert len(list((out / "logs" / "tensorboard").iterdir())) == 1  # one event file: the main process's

    # The in-loop dev figures at the best step were gathered from both processes; they equal a
    # single-process evaluation of the weights the artifact holds.
    report = json.loads((out / "report.json").read_text())
    best = next(h for h in training["history"] if h["step"] == training["best_step"])
    predictor = tunelab.load(out)
    assert best["metrics"]["accuracy"] == pytest.approx(report["metrics"]["accuracy"])
    assert best["metrics"]["macro_f1"] == pytest.approx(report["metrics"]["macro_f1"])
    assert best["metrics"]["loss"] == pytest.approx(dev_loss(predictor, ddp_data["dev"]), abs=1e-4)
    assert report["metrics"]["accuracy"] >= 0.6  # chance is 1/3
    assert evaluate_artifact(out, ddp_data["dev"])["metrics"] == report["metrics"]

    # one voice on the console: the main process's
    output = result.stdout + result.stderr
    assert output.count("data: train 120, dev 30") == 1 and output.count("stopped: completed") == 1


@pytest.mark.train  # torchrun trains in child processes (not counted by conftest)
def test_ctrl_c_on_one_process_resume_and_ner(tiny_model_dir, ddp_data, tmp_path):
    """A Ctrl-C seen by process 1 alone stops both at the same step with a checkpoint; resuming
    gives the uninterrupted result exactly. NER trains across processes too."""
    common = {"training.epochs": 2, "training.batch_size": BATCH}
    data = {"train": ddp_data["train"], "dev": ddp_data["dev"]}
    ner = {"train": ddp_data["ner_train"], "dev": ddp_data["ner_dev"]}
    runs = [
        {"name": "straight", "overrides": tiny_overrides(tiny_model_dir, data, **common)},
        {
            "name": "cut",
            "output": "resumed",
            "interrupt": {"rank": 1, "step": 11},
            "overrides": tiny_overrides(tiny_model_dir, data, **common),
        },
        {"name": "resumed", "resume": True, "overrides": tiny_overrides(tiny_model_dir, data, **common)},
        {
            "name": "ner",
            "overrides": tiny_overrides(
                tiny_model_dir,
                ner,
                **{**common, "task.name": "token_classification", "training.epochs": 3, "training.learning_rate": 1e-2},
            ),
        },
    ]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"root": str(tmp_path / "runs"), "runs": runs}))
    torchrun([str(HERE), str(spec)], tmp_path / "torchrun.log", timeout=200)
    root = tmp_path / "runs"
    record = {
        (run["name"], rank): json.loads((root / f"{run['name']}.rank{rank}.json").read_text())
        for run in runs
        for rank in range(PROCESSES)
    }

    # both processes stopped after the same step, the one where process 1 alone was interrupted
    assert [record["cut", r]["stop"] for r in range(PROCESSES)] == [["interrupted", 11]] * PROCESSES
    # all processes agree on every evaluation (gathered metrics, averaged loss)
    for name in ("straight", "resumed", "ner"):
        assert record[name, 0]["history"] == record[name, 1]["history"]
    straight, resumed = (json.loads((root / n / "tunelab.json").read_text()) for n in ("straight", "resumed"))
    assert resumed["training"]["history"] == straight["training"]["history"]
    ws, wr = (load_file(str(root / name / "model.safetensors")) for name in ("straight", "resumed"))
    assert all(torch.equal(ws[k], wr[k]) for k in ws)
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["ner", "resumed", "straight"]

    ner_meta = json.loads((root / "ner" / "tunelab.json").read_text())
    assert ner_meta["training"]["num_processes"] == PROCESSES
    assert ner_meta["training"]["steps"] == math.ceil(96 / (PROCESSES * BATCH)) * 3
    best = next(h for h in ner_meta["training"]["history"] if h["step"] == ner_meta["training"]["best_step"])
    predictor = tunelab.load(root / "ner")
    metrics = predictor.evaluate(read_for_artifact(predictor, ner["dev"]))
    assert best["metrics"]["f1"] == pytest.approx(metrics["f1"]) and metrics["f1"] > 0.5


# -- the worker: `torchrun ... tests/test_ddp.py spec.json` ------------------------------------------


def _worker(spec_path: str) -> None:
    import signal

    from rich.console import Console

    from tunelab.config import load_config
    from tunelab.training.callbacks import Callback
    from tunelab.training.distributed import process_state
    from tunelab.workflow.train import TrainingInterrupted, train

    rank = process_state().process_index
    spec = json.loads(Path(spec_path).read_text())
    root = Path(spec["root"])

    class Record(Callback):
        def __init__(self, interrupt):
            self.interrupt = interrupt
            self.stop = None

        def on_step_end(self, trainer, logs):
            at = self.interrupt
            if at and at["rank"] == rank and trainer.state.global_step == at["step"]:
                signal.raise_signal(signal.SIGINT)  # a Ctrl-C that reaches this process only

        def on_train_end(self, trainer):
            self.stop = [trainer.state.stop_reason, trainer.state.global_step]
            self.history = trainer.state.history

    for run in spec["runs"]:
        recorder = Record(run.get("interrupt"))
        try:
            train(
                load_config(None, run["overrides"]),
                output_dir=root / run.get("output", run["name"]),
                resume=run.get("resume", False),
                console=Console(stderr=True),
                callbacks=[recorder],
            )
        except TrainingInterrupted:
            pass
        (root / f"{run['name']}.rank{rank}.json").write_text(
            json.dumps({"stop": recorder.stop, "history": recorder.history})
        )


if __name__ == "__main__":
    _worker(sys.argv[1])
