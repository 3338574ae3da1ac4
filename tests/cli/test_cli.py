"""The CLI is a thin skin: these tests check its wiring, exit codes and messages."""

import csv
import json

import pytest
import yaml
from typer.testing import CliRunner

from helpers import tiny_overrides
from tunelab.cli.app import app, main

runner = CliRunner()


def invoke_main(monkeypatch, capsys, *args):
    monkeypatch.setattr("sys.argv", ["tunelab", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr()


def test_init_prints_a_valid_config():
    result = runner.invoke(app, ["init", "classification"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.output)["task"]["name"] == "text_classification"


def test_config_typo_exits_2_with_the_key(monkeypatch, capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training:\n  lerning_rate: 0.1\n")
    code, out = invoke_main(monkeypatch, capsys, "train", str(cfg))
    assert code == 2
    assert "unknown key 'training.lerning_rate'" in out.err and "learning_rate" in out.err


def test_missing_train_file_exits_2(monkeypatch, capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  train: nowhere.csv\n")
    code, out = invoke_main(monkeypatch, capsys, "train", str(cfg), "-o", str(tmp_path / "o"))
    assert code == 2 and "nowhere.csv" in out.err and "not found" in out.err


@pytest.mark.train
def test_train_evaluate_predict(monkeypatch, capsys, tiny_model_dir, toy_data, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task:\n  name: text_classification\n")
    args = ["train", str(cfg), "-o", str(tmp_path / "model")]
    for item in tiny_overrides(tiny_model_dir, toy_data, **{"training.epochs": 2}):
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model" / "tunelab.json").is_file()
    report = json.loads((tmp_path / "model" / "report.json").read_text())

    result = runner.invoke(
        app, ["evaluate", str(tmp_path / "model"), str(toy_data["dev"]), "--json", str(tmp_path / "e.json")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "e.json").read_text())["metrics"] == report["metrics"]
    assert "macro avg" in result.output

    result = runner.invoke(app, ["predict", str(tmp_path / "model"), "refund for my invoice", "--json", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["text"] == "refund for my invoice" and len(record["top"]) == 2

    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(tmp_path / "model"), "-i", str(toy_data["test"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 30 and set(rows[0]) == {"text", "label", "score"}
    assert {r["label"] for r in rows} <= {"account", "billing", "shipping"}

    out = tmp_path / "pred.jsonl"
    result = runner.invoke(app, ["predict", str(tmp_path / "model"), "-i", str(toy_data["test"]), "-o", str(out)])
    assert result.exit_code == 0 and len(out.read_text().splitlines()) == 30

    code, captured = invoke_main(
        monkeypatch, capsys, "train", str(cfg), "-o", str(tmp_path / "model"), "--set", f"model.name={tiny_model_dir}"
    )
    assert code == 2 and "--overwrite" in captured.err


def test_predict_needs_input(monkeypatch, capsys, tmp_path):
    code, out = invoke_main(monkeypatch, capsys, "predict", str(tmp_path))
    assert code == 2 and "-i FILE" in out.err
