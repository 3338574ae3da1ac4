"""Runs survive: periodic checkpoints (atomic, the newest K kept), SIGTERM/SIGINT checkpoint and
exit, SIGKILL resumes from the last periodic checkpoint, and --resume checks the config and data
against the interrupted run's (refusing a mismatch, with a list of what changed)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from rich.console import Console
from safetensors.torch import load_file

from helpers import make_texts, tiny_overrides, write_csv
from tunelab.artifact import ArtifactError
from tunelab.config import load_config
from tunelab.training.callbacks import Callback
from tunelab.training.loop import CheckpointError
from tunelab.workflow.resume import compare
from tunelab.workflow.train import TrainingInterrupted, train, workdir_for


def run(model_dir, data, out, *, callbacks=None, console=None, flags=None, **settings):
    """Train the tiny model for 3 epochs of 8 steps; ``settings`` are dotted config keys."""
    cfg = load_config(None, tiny_overrides(model_dir, data, **{"training.epochs": 3, **settings}))
    console = console or Console(file=io.StringIO())
    return train(cfg, output_dir=out, console=console, callbacks=callbacks, **(flags or {}))


def recording_console() -> Console:
    return Console(file=io.StringIO(), width=200)


RESUME = {"resume": True}
ALLOW = {"resume": True, "allow_changes": True}


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def step_dirs(out: Path) -> list[str]:
    return sorted(
        p.name for p in (workdir_for(out) / "checkpoints").glob("step-*") if (p / "checkpoint.json").is_file()
    )


class SignalAt(Callback):
    """Sends this process a real signal at a given optimizer step."""

    def __init__(self, step: int, sig: int = signal.SIGTERM) -> None:
        self.step, self.sig = step, sig

    def on_step_end(self, trainer, logs):
        if trainer.state.global_step == self.step:
            signal.raise_signal(self.sig)


# -- in process: exact steps ---------------------------------------------------------------------


@pytest.mark.train
def test_sigterm_mid_epoch_checkpoints_and_resume_gives_the_same_weights(tiny_model_dir, toy_data, tmp_path):
    straight = run(tiny_model_dir, toy_data, tmp_path / "straight")
    out = tmp_path / "resumed"
    with pytest.raises(TrainingInterrupted, match=r"stopped by SIGTERM at step 11/24.*--resume") as info:
        run(tiny_model_dir, toy_data, out, callbacks=[SignalAt(11)])  # 8 steps an epoch: mid-epoch 2
    assert info.value.exit_code == 143
    assert not out.exists()
    assert "step-00000011" in step_dirs(out)
    # after the run the handlers are the ones from before (pytest's default for SIGTERM)
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
    console = recording_console()
    resumed = run(tiny_model_dir, toy_data, out, flags=RESUME, console=console)
    lines = console.file.getvalue()
    assert "resuming from step-00000011: step 11/24, epoch 2, 3 batches into it; best dev accuracy" in lines
    assert same_weights(tmp_path / "straight", out)
    assert resumed.meta["training"]["history"] == straight.meta["training"]["history"]
    assert resumed.meta["training"]["resumed"] == [{"step": 11, "checkpoint": "step-00000011", "changes": []}]


@pytest.mark.train
def test_periodic_checkpoints_keep_the_newest_k_and_skip_a_damaged_one(tiny_model_dir, toy_data, tmp_path):
    out = tmp_path / "out"
    settings = {
        "training.checkpoint.every_steps": 3,
        "training.checkpoint.keep": 2,
        "training.checkpoint.every_minutes": None,
    }
    with pytest.raises(TrainingInterrupted):
        run(tiny_model_dir, toy_data, out, callbacks=[SignalAt(13, signal.SIGINT)], **settings)
    # periodic at 3, 6, 9, 12, evaluation at 8, interruption at 13: the newest two stay
    assert step_dirs(out) == ["step-00000012", "step-00000013"]
    info = json.loads((workdir_for(out) / "checkpoints" / "step-00000013" / "checkpoint.json").read_text())
    assert info["step"] == 13 and info["total_steps"] == 24 and info["metric"] == "accuracy"
    # a half-written checkpoint (a kill during the save) is not a checkpoint
    (workdir_for(out) / "checkpoints" / ".step-00000014.tmp").mkdir()
    # the newest is damaged by hand: resume falls back to the one before
    for f in (workdir_for(out) / "checkpoints" / "step-00000013").glob("model*.safetensors"):
        f.write_bytes(b"not safetensors")
    console = recording_console()
    result = run(tiny_model_dir, toy_data, out, flags=RESUME, console=console, **settings)
    assert "resuming from step-00000012: step 12/24" in console.file.getvalue()
    assert result.meta["training"]["steps"] == 24


@pytest.mark.train
def test_a_changed_config_or_data_is_refused_on_resume(tiny_model_dir, toy_data, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(TrainingInterrupted):
        run(tiny_model_dir, toy_data, out, callbacks=[SignalAt(5)])
    before = step_dirs(out)
    # a change the checkpoint cannot follow: refused even with --allow-changes, with a diff
    with pytest.raises(ArtifactError, match=r"training\.batch_size: 16 -> 8") as info:
        run(tiny_model_dir, toy_data, out, flags=ALLOW, **{"training.batch_size": 8})
    assert "--restart" in str(info.value)
    # more epochs: a deliberate change, refused without --allow-changes
    with pytest.raises(ArtifactError, match=r"(?s)training\.epochs: 3\.0 -> 4\.0.*--allow-changes"):
        run(tiny_model_dir, toy_data, out, flags=RESUME, **{"training.epochs": 4})
    # fewer epochs than already trained: nothing would be trained
    with pytest.raises(CheckpointError, match="is at step 5, but this config trains 4 steps"):
        run(tiny_model_dir, toy_data, out, flags=ALLOW, **{"training.epochs": 0.5})
    # another training file (same path, other contents)
    original = toy_data["train"].read_bytes()
    write_csv(toy_data["train"], make_texts(121, seed=1))
    with pytest.raises(ArtifactError, match=r"data \(train\): file .*train\.csv has other contents"):
        run(tiny_model_dir, toy_data, out, flags=RESUME)
    toy_data["train"].write_bytes(original)
    assert step_dirs(out) == before  # refusals touch nothing
    # the deliberate change, accepted: trains 32 steps, the change is on record
    result = run(tiny_model_dir, toy_data, out, flags=ALLOW, **{"training.epochs": 4})
    assert result.meta["training"]["total_steps"] == 32
    assert result.meta["training"]["resumed"][0]["changes"] == ["training.epochs: 3.0 -> 4.0"]
    assert result.meta["config"]["training"]["epochs"] == 4


@pytest.mark.train
def test_a_new_run_keeps_a_resumable_checkpoint_unless_told(tiny_model_dir, toy_data, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(TrainingInterrupted):
        run(tiny_model_dir, toy_data, out, callbacks=[SignalAt(5, signal.SIGINT)])
    kept = step_dirs(out)
    with pytest.raises(
        ArtifactError, match=r"(?s)can be resumed from .*step-00000005 \(step 5\); add --resume.*--restart"
    ):
        run(tiny_model_dir, toy_data, out)
    with pytest.raises(ArtifactError, match="can be resumed"):
        run(tiny_model_dir, toy_data, out, flags={"overwrite": True})  # --overwrite is about the artifact, not the run
    assert step_dirs(out) == kept
    result = run(tiny_model_dir, toy_data, out, flags={"restart": True})
    assert result.meta["training"]["resumed"] == [] and result.meta["training"]["steps"] == 24


def test_resume_without_any_checkpoint_is_refused(tiny_model_dir, toy_data, tmp_path):
    out = tmp_path / "out"
    workdir = workdir_for(out)
    workdir.mkdir(parents=True)
    (workdir / ".tunelab-partial").touch()  # a run killed before its first checkpoint
    with pytest.raises(ArtifactError, match="stopped before its first checkpoint; run the same command without"):
        run(tiny_model_dir, toy_data, out, flags=RESUME)


def test_compare_sorts_changes():
    old = {"config": {"training": {"epochs": 3, "batch_size": 4, "num_threads": 1}, "data": {"train": "a.csv"}}}
    new = {"config": {"training": {"epochs": 4, "batch_size": 4, "num_threads": 2}, "data": {"train": "b.csv"}}}
    assert compare(old, new) == (["training.epochs: 3 -> 4"], [])
    new["config"]["training"]["batch_size"] = 8
    new["data"] = {"train": {"sha256": "x"}}
    adjustable, fixed = compare(old, new)
    assert fixed == ["training.batch_size: 4 -> 8", "data (train): none -> present"]


def test_keys_added_since_a_run_started_are_no_change_at_their_defaults():
    # a run.json written before training.lazy_embeddings / fast_dropout existed
    old = {"config": {"training": {"epochs": 3}}}
    new = {"config": {"training": {"epochs": 3, "lazy_embeddings": True, "fast_dropout": True}}}
    assert compare(old, new) == ([], [])
    new["config"]["training"]["fast_dropout"] = False
    assert compare(old, new) == (["training.fast_dropout: '(unset)' -> False"], [])
    # recorded by this release and then changed: an adjustable change
    old["config"]["training"]["lazy_embeddings"] = True
    new["config"]["training"]["lazy_embeddings"] = False
    assert compare(old, new)[0] == [
        "training.fast_dropout: '(unset)' -> False",
        "training.lazy_embeddings: True -> False",
    ]


# -- real processes: the signals a scheduler sends ---------------------------------------------------


def _config(tmp_path: Path, model_dir: Path, data: dict[str, Path], every_steps: int) -> Path:
    values = {
        "model": {"name": str(model_dir)},
        "data": {"train": str(data["train"]), "dev": str(data["dev"])},
        "training": {
            "epochs": 3,
            "batch_size": 2,
            "learning_rate": 3e-3,
            "precision": "fp32",
            "tensorboard": False,
            "num_threads": 1,
            "log_every": 1,
            "early_stopping": {"patience": None},
            "checkpoint": {"every_steps": every_steps, "every_minutes": None, "keep": 2},
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _tunelab(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli.app", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the signal: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.02)


def _logged_step(out: Path) -> int:
    log = workdir_for(out) / "logs" / "train_log.jsonl"
    try:
        lines = log.read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [json.loads(line)["step"] for line in lines if line.strip().endswith("}")]
    return max(steps, default=0)


@pytest.mark.train
@pytest.mark.slow
def test_killed_processes_resume(tiny_model_dir, toy_data, tmp_path):
    """SIGTERM mid-epoch: exit 143 with the --resume hint, a checkpoint, and a resume that ends with
    the uninterrupted run's weights. SIGKILL: nothing runs at the kill, the run resumes from its
    last periodic checkpoint and also ends with the same weights."""
    config = _config(tmp_path, tiny_model_dir, toy_data, every_steps=20)  # 60 steps an epoch, 180 in all
    # the uninterrupted run, in this process (one thread, like the subprocesses; restored after)
    threads = torch.get_num_threads()
    try:
        train(load_config(config), output_dir=tmp_path / "straight", console=Console(file=io.StringIO()))
    finally:
        torch.set_num_threads(threads)

    # SIGTERM, as `docker stop` and schedulers send it
    out = tmp_path / "term"
    proc = _tunelab("train", str(config), "-o", str(out))
    _wait_for(lambda: _logged_step(out) >= 30, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "stopped by SIGTERM at step" in err and "--resume" in err and "Traceback" not in err
    resume = _tunelab("train", str(config), "-o", str(out), "--resume")
    _, err = resume.communicate(timeout=600)
    assert resume.returncode == 0, err[-2000:]
    assert "resuming from step-" in err
    assert same_weights(tmp_path / "straight", out)

    # SIGKILL: no handler runs; the newest periodic checkpoint is where it resumes
    out = tmp_path / "kill"
    proc = _tunelab("train", str(config), "-o", str(out))
    _wait_for(lambda: "step-00000080" in step_dirs(out), proc)
    proc.kill()
    proc.communicate(timeout=60)
    last = step_dirs(out)[-1]
    resume = _tunelab("train", str(config), "-o", str(out), "--resume")
    _, err = resume.communicate(timeout=600)
    assert resume.returncode == 0, err[-2000:]
    assert f"resuming from {last}" in err
    assert same_weights(tmp_path / "straight", out)
    # the log holds each step once, though steps after the checkpoint were logged before the kill
    steps = [
        r["step"]
        for r in map(json.loads, (out / "logs" / "train_log.jsonl").read_text().splitlines())
        if "eval" not in r
    ]
    assert steps == sorted(set(steps)) and steps[-1] == 180
