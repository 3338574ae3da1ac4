"""`tunelab compare RUN...`: differing config keys, metrics, curves; outputs refused as other commands
refuse them. Two runs are made from one format-1 fixture artifact by editing its JSON (no training)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tunelab.cli.app import main
from tunelab.workflow.compare import compare_figure, load_run


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _log(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + '\n{"step": 99, "train_lo\n', encoding="utf-8")  # a line cut by a kill


@pytest.fixture
def runs(tmp_path, legacy_artifacts) -> tuple[Path, Path]:
    """``full``: the classification fixture with a train log; ``runs/lora/lora``: the same artifact as a
    LoRA run with another learning rate and batch size, other report and training figures, no log."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("text,label\n", encoding="utf-8")
    full = shutil.copytree(legacy_artifacts / "classification", tmp_path / "full")
    lora = shutil.copytree(legacy_artifacts / "classification", tmp_path / "runs" / "lora" / "lora")

    def full_config(meta):
        meta["config"]["data"]["train"] = "../data/train.csv"  # relative to the artifact, as format 2 records

    def lora_meta(meta):
        config = meta["config"]
        config["data"]["train"] = "../../../data/train.csv"  # the same file, from a deeper run: no difference
        config["training"]["learning_rate"] = 0.0005
        config["training"]["batch_size"] = 8
        config["method"] = {"name": "lora", "r": 8}
        config["output"]["dir"] = "runs/lora"  # names the run: never a difference
        meta["method"].update(
            name="lora", weights_bytes=4096, parameters={"trainable": 1234, "total": 26883, "share": 0.0459}
        )
        meta["training"].update(
            best_step=12,
            best_dev_metric={"name": "accuracy", "value": 0.7123456},
            seconds=1.25,
            samples_per_second=200.5,
        )
        for record, accuracy in zip(meta["training"]["history"], [0.5, 0.7123456, 0.7]):
            record["metrics"]["accuracy"] = accuracy

    def lora_report(report):
        report["splits"]["dev"]["accuracy"] = 0.7123456
        report["splits"]["test"] = {"num_examples": 20, "accuracy": 0.555555, "per_label": {"x": {"f1": 1.0}}}

    _edit_json(full / "tunelab.json", full_config)
    _edit_json(lora / "tunelab.json", lora_meta)
    _edit_json(lora / "report.json", lora_report)
    _log(
        full / "logs" / "train_log.jsonl",
        [
            {"step": 5, "train_loss": 1.1, "learning_rate": 0.003},
            {"step": 6, "eval": {"accuracy": 0.3, "loss": 1.09}, "improved": True},
            {"step": 10, "train_loss": 0.9, "learning_rate": 0.002},
            {"step": 12, "eval": {"accuracy": 0.4, "loss": 1.05}, "improved": True},
            {"step": 15, "train_loss": 0.6, "learning_rate": 0.001},
            {"step": 18, "eval": {"accuracy": 0.6333, "loss": 1.0}, "improved": True},
        ],
    )
    return full, lora


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TUNELAB_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["tunelab", "compare", *args])
    code = 0
    try:
        main()
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_holds_the_differing_keys_and_the_metrics(runs, tmp_path, monkeypatch, capsys):
    full, lora = runs
    out_json = tmp_path / "out" / "compare.json"
    code, out, err = run_main(monkeypatch, capsys, str(full), str(lora), "--json", str(out_json))
    assert (code, err) == (0, "")
    data = json.loads(out_json.read_text(encoding="utf-8"))

    assert [r["name"] for r in data["runs"]] == ["full", "lora"]
    assert data["config_differences"] == {
        "method.name": {"full": "full", "lora": "lora"},
        "method.r": {"lora": 8},
        "training.batch_size": {"full": 16, "lora": 8},
        "training.learning_rate": {"full": 0.003, "lora": 0.0005},
    }
    full_m, lora_m = data["metrics"]["full"], data["metrics"]["lora"]
    assert full_m["dev"]["accuracy"] == 0.6333 and full_m["dev"]["macro_f1"] == 0.5121
    assert "test" not in full_m and "per_label" not in full_m["dev"]  # scalars only
    assert lora_m["dev"]["accuracy"] == 0.7123
    assert lora_m["test"] == {"num_examples": 20, "accuracy": 0.5556}
    assert full_m["best_dev_metric"] == {"name": "accuracy", "value": 0.6333, "step": 18}
    assert lora_m["best_dev_metric"] == {"name": "accuracy", "value": 0.7123, "step": 12}
    assert (full_m["training_seconds"], full_m["samples_per_second"]) == (0.49, 548.12)
    assert (lora_m["training_seconds"], lora_m["samples_per_second"]) == (1.25, 200.5)
    assert (full_m["weights_bytes"], full_m["trainable_parameters"]) == (112748, 26883)
    assert (lora_m["weights_bytes"], lora_m["trainable_parameters"]) == (4096, 1234)
    assert data["curves"]["full"]["train_loss"] == [[5.0, 1.1], [10.0, 0.9], [15.0, 0.6]]
    assert data["curves"]["lora"]["dev"] == [[6.0, 0.5], [12.0, 0.7123], [18.0, 0.7]]  # from training.history

    # the same in the printed tables
    assert "training.learning_rate │ 0.003 " in out and "(not set)" in out and "output.dir" not in out
    assert "data.train" not in out  # the same file from both runs
    assert "test accuracy" in out and "0.5556" in out and "accuracy 0.7123" in out
    assert "110.1 KiB" in out and "4.0 KiB" in out and "26,883" in out and "1,234" in out


def test_the_plot_draws_every_runs_curves(runs, tmp_path, monkeypatch, capsys):
    full, lora = runs
    fig = compare_figure([load_run(full), load_run(lora)])
    assert fig is not None
    dev_ax, loss_ax = fig.axes
    dev = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in dev_ax.get_lines()}
    assert dev == {"full": ([6.0, 12.0, 18.0], [0.3, 0.4, 0.6333]), "lora": ([6.0, 12.0, 18.0], [0.5, 0.7123456, 0.7])}
    assert dev_ax.get_ylabel() == "dev accuracy"
    loss = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in loss_ax.get_lines()}
    assert loss == {"full": ([5.0, 10.0, 15.0], [1.1, 0.9, 0.6])}  # the LoRA run has no train log
    assert loss_ax.get_title() == "Train loss\n(no train log: lora)" and dev_ax.get_title() == "Dev accuracy"
    assert [t.get_text() for t in dev_ax.get_legend().get_texts()] == ["full", "lora"]

    png = tmp_path / "compare.png"
    code, _, err = run_main(monkeypatch, capsys, str(full), str(lora), "--plot", str(png))
    assert (code, err) == (0, "")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_of_one_name_are_told_apart_and_metrics_differ_per_run(runs, tmp_path):
    full, _ = runs
    twin = shutil.copytree(full, tmp_path / "other" / "full")
    fig = compare_figure([load_run(full, "a"), load_run(twin, "b")])
    assert fig is not None and [line.get_label() for line in fig.axes[0].get_lines()] == ["a", "b"]
    from tunelab.workflow.compare import _run_names

    assert _run_names([full, twin]) == [str(full), str(twin)]
    assert _run_names([full, full]) == [f"{full} #1", f"{full} #2"]


def test_one_run_has_nothing_to_compare_but_its_metrics(runs, tmp_path, monkeypatch, capsys):
    full, _ = runs
    out_json = tmp_path / "one.json"
    code, out, err = run_main(monkeypatch, capsys, str(full), "--json", str(out_json))
    assert (code, err) == (0, "")
    assert "one run: nothing to compare" in out and "dev accuracy" in out and "0.6333" in out
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["config_differences"] == {} and data["metrics"]["full"]["dev"]["accuracy"] == 0.6333


def test_an_argument_that_is_not_an_artifact_exits_2(runs, tmp_path, monkeypatch, capsys):
    full, _ = runs
    out_json = tmp_path / "never.json"
    code, out, err = run_main(monkeypatch, capsys, str(full), str(tmp_path / "data"), "--json", str(out_json))
    assert code == 2 and out == ""
    assert (
        err.strip()
        == f"error: {tmp_path / 'data'} is not a tunelab artifact (no tunelab.json); train one with `tunelab train`"
    )
    assert not out_json.exists()

    code, _, err = run_main(monkeypatch, capsys, str(full), str(tmp_path / "missing"))
    assert code == 2 and err.strip() == f"error: artifact not found: {tmp_path / 'missing'}"

    (full / "report.json").write_text("{not json", encoding="utf-8")
    code, _, err = run_main(monkeypatch, capsys, str(full))
    assert code == 2 and "report.json is not readable JSON" in err and len(err.strip().splitlines()) == 1


def test_json_refuses_an_existing_file_and_the_runs_files(runs, tmp_path, monkeypatch, capsys):
    full, lora = runs
    existing = tmp_path / "compare.json"
    existing.write_text("keep me", encoding="utf-8")
    code, out, err = run_main(monkeypatch, capsys, str(full), str(lora), "--json", str(existing))
    assert code == 2 and out == "" and "already exists; pass --overwrite" in err
    assert existing.read_text(encoding="utf-8") == "keep me"

    code, _, err = run_main(monkeypatch, capsys, str(full), str(lora), "--json", str(existing), "--overwrite")
    assert code == 0 and json.loads(existing.read_text(encoding="utf-8"))["runs"][1]["name"] == "lora"

    report = (lora / "report.json").read_bytes()
    code, _, err = run_main(
        monkeypatch, capsys, str(full), str(lora), "--json", str(lora / "report.json"), "--overwrite"
    )
    assert code == 2 and "is the input file" in err and (lora / "report.json").read_bytes() == report

    log = full / "logs" / "train_log.jsonl"
    before = log.read_bytes()
    code, _, err = run_main(monkeypatch, capsys, str(full), "--plot", str(log), "--overwrite")
    assert code == 2 and err.startswith("error: --plot") and log.read_bytes() == before

    code, _, err = run_main(
        monkeypatch, capsys, str(full), "--json", str(existing), "--plot", str(existing), "--overwrite"
    )
    assert code == 2 and "--plot" in err and "is the input file" in err
