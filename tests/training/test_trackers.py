"""training.trackers: a tiny run with TensorBoard, W&B (offline) and MLflow (file store); each store is
read back through its own reader and holds the run's history, the final report and the plots."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from rich.console import Console

from helpers import tiny_overrides
from tunelab.config import TrainingConfig, load_config
from tunelab.errors import ConfigError
from tunelab.training.trackers import check_trackers, flatten_config
from tunelab.workflow.train import train

QUIET = Console(file=open("/dev/null", "w"))


def read_wandb_records(path: Path):
    """The records of a ``.wandb`` file: W&B's LevelDB-style log (a 7-byte file header ``:W&B`` + magic +
    version; 32 KiB blocks of chunks with a 7-byte header: CRC32C, length, type FULL/FIRST/MIDDLE/LAST)
    holding ``wandb.proto.wandb_internal_pb2.Record`` messages. wandb 0.31 reads it in its Go core only
    (the Python ``datastore`` reader is gone), so the framing is read here and the records by wandb's proto."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:7])
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0)
    block, pos, pending = 32768, 7, b""
    records = []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_tensorboard_flag_is_a_deprecated_alias_of_trackers():
    assert TrainingConfig().trackers == ["tensorboard"]
    assert TrainingConfig(tensorboard=False).trackers == []
    assert TrainingConfig(trackers=["wandb"], tensorboard=True).trackers == ["wandb", "tensorboard"]
    assert TrainingConfig(trackers="mlflow,wandb,mlflow").trackers == ["mlflow", "wandb"]
    assert TrainingConfig(tensorboard=False).tensorboard is None  # folded into trackers
    with pytest.raises(ConfigError, match="training.tensorboard: false contradicts training.trackers"):
        load_config(None, ["data.train=x.csv", "training.trackers=[tensorboard]", "training.tensorboard=false"])
    with pytest.raises(ConfigError, match=r"training.trackers.0: Input should be 'tensorboard', 'wandb' or 'mlflow'"):
        load_config(None, ["data.train=x.csv", "training.trackers=[comet]"])


def test_a_tracker_that_is_not_installed_names_the_extra(monkeypatch):
    real_find_spec = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "wandb" else real_find_spec(name, *a)
    )
    with pytest.raises(
        ConfigError, match=r"training.trackers lists wandb, which is not installed: .*tunelab\[tracking\]"
    ):
        check_trackers(["tensorboard", "wandb"])
    check_trackers(["tensorboard", "mlflow"])


def test_flatten_config():
    flat = flatten_config({"training": {"epochs": 3, "trackers": ["wandb"], "metric": None, "es": {"patience": 2}}})
    assert flat == {
        "training.epochs": 3,
        "training.trackers": '["wandb"]',
        "training.metric": "null",
        "training.es.patience": 2,
    }


@pytest.mark.train
def test_each_tracker_store_holds_the_runs_history(tiny_model_dir, toy_data, tmp_path, monkeypatch):
    out = tmp_path / "runs" / "tracked"
    overrides = tiny_overrides(
        tiny_model_dir,
        toy_data,
        **{
            "training.epochs": 3,
            "training.log_every": 2,
            "training.tensorboard": None,  # the helpers switch it off; trackers decide here
            "training.trackers": "[wandb, mlflow, tensorboard]",
            "output.plots": True,
        },
    )
    result = train(load_config(None, overrides), output_dir=out, console=QUIET)
    meta = json.loads((out / "tunelab.json").read_text())
    total = meta["training"]["steps"]
    log = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    train_loss = {r["step"]: r["train_loss"] for r in log if "train_loss" in r}
    learning_rate = {r["step"]: r["learning_rate"] for r in log if "train_loss" in r}
    assert sorted(train_loss) == sorted({*range(2, total + 1, 2), total})
    history = meta["training"]["history"]
    dev_accuracy = {h["step"]: h["metrics"]["accuracy"] for h in history}
    dev_loss = {h["step"]: h["metrics"]["loss"] for h in history}
    assert len(dev_accuracy) == 3
    report = json.loads((out / "report.json").read_text())
    final_dev_accuracy = report["splits"]["dev"]["accuracy"]
    plots = sorted(p.stem for p in out.glob("*.png"))
    assert "training_curves" in plots

    # TensorBoard, through its own EventAccumulator
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "logs" / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tb = {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}
    assert tb["train/loss"].keys() == train_loss.keys()
    assert tb["train/loss"] == pytest.approx(train_loss, rel=1e-6)  # float32 in the event file
    assert tb["train/learning_rate"] == pytest.approx(learning_rate, rel=1e-6)
    assert tb["dev/accuracy"] == pytest.approx(dev_accuracy, rel=1e-6)
    assert tb["dev/loss"] == pytest.approx(dev_loss, rel=1e-6)
    assert tb["report/dev/accuracy"] == pytest.approx({total: final_dev_accuracy}, rel=1e-6)
    assert sorted(tag.removeprefix("plots/") for tag in events.Tags()["images"]) == plots
    curves = events.Images("plots/training_curves")[0]
    assert curves.width > 300 and curves.height > 200

    # MLflow, through MlflowClient on the file store
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(out / "logs" / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("tunelab")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "tracked" and run.info.status == "FINISHED"

    def mlflow_history(key):
        return {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}

    assert mlflow_history("train/loss") == train_loss  # float64: exact
    assert mlflow_history("train/learning_rate") == learning_rate
    assert mlflow_history("dev/accuracy") == dev_accuracy
    assert run.data.metrics["report/dev/accuracy"] == final_dev_accuracy
    assert run.data.params["training.log_every"] == "2"
    assert run.data.params["training.trackers"] == '["wandb", "mlflow", "tensorboard"]'
    assert not Path(run.data.params["data.train"]).is_absolute()  # paths relative to the run directory
    monkeypatch.chdir(out / "logs")  # artifact locations are relative to logs/ (no absolute path stored)
    assert sorted(Path(a.path).stem for a in client.list_artifacts(run.info.run_id, "plots")) == plots
    assert [a.path for a in client.list_artifacts(run.info.run_id) if not a.is_dir] == ["report.json"]

    # W&B offline: the records of the run's .wandb file, read with wandb's own protobuf classes
    (wandb_file,) = (out / "logs" / "wandb").glob("offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    rows = [
        {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    wandb_history: dict[str, dict[int, float]] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and key != "_step":
                wandb_history.setdefault(key, {})[row["_step"]] = value
    assert wandb_history["train/loss"] == train_loss
    assert wandb_history["train/learning_rate"] == learning_rate
    assert wandb_history["dev/accuracy"] == dev_accuracy
    assert wandb_history["report/dev/accuracy"] == {total: final_dev_accuracy}
    # an image is a nested entry: <key>/_type, <key>/filenames (files under the run's files/media)
    images = {key.removesuffix("/_type") for row in rows for key, value in row.items() if value == "images/separated"}
    assert images == {f"plots/{name}" for name in plots}
    media = [name for row in rows for key, value in row.items() if key.endswith("/filenames") for name in value]
    assert len(media) == len(plots) and all((wandb_file.parent / "files" / name).is_file() for name in media)
    config = {}
    for r in records:
        if r.WhichOneof("record_type") == "config":
            config.update({item.key: json.loads(item.value_json) for item in r.config.update})
    assert config["training.learning_rate"] == 3e-3 and config["task.name"] == "text_classification"
    (run_record,) = [r.run for r in records if r.WhichOneof("record_type") == "run"][:1]
    assert run_record.display_name == "tracked" and run_record.project == "tunelab"

    # the stores travel with the artifact and name no absolute path of this machine
    assert (out / "logs" / "trackers.json").is_file()
    for path in (out / "logs").rglob("*"):
        assert not path.is_symlink()
        if path.is_file():
            assert str(tmp_path).encode() not in path.read_bytes(), path
    assert result.report["metrics"]["accuracy"] == report["metrics"]["accuracy"]
