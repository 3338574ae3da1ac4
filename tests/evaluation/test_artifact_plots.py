"""The PNGs a trained artifact holds, and what its training curves show (read back from its logs)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from helpers import make_ner_sentences, tiny_overrides, write_conll
from tunelab.config import load_config
from tunelab.evaluation import plots
from tunelab.workflow.train import train

QUIET = Console(file=open("/dev/null", "w"))


@pytest.fixture
def curves(monkeypatch):
    """The training-curves figure's panels as saved: {title: {line label: (steps, values)}}."""
    panels: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    save = plots._save

    def capture(fig, path):
        if path.name == "training_curves.png":
            for ax in fig.axes:
                panels[ax.get_title()] = {
                    line.get_label(): (list(map(float, line.get_xdata())), list(map(float, line.get_ydata())))
                    for line in ax.get_lines()
                }
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    return panels


def _log(out):
    return [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.train
def test_classification_artifact_plots_and_curves(tiny_model_dir, toy_data, tmp_path, curves):
    overrides = tiny_overrides(
        tiny_model_dir, toy_data, **{"training.epochs": 3, "training.metric": "macro_f1", "output.plots": True}
    )
    result = train(load_config(None, overrides), output_dir=tmp_path / "model", console=QUIET)
    out = result.output_dir
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["confusion_matrix.png", "per_label_f1.png", "training_curves.png"]  # 3 labels: no zoomed matrix
    log = _log(out)
    evals = [r for r in log if "eval" in r]
    assert set(curves) == {
        "Loss: train and dev",
        "Dev macro_f1 (selects the best checkpoint)",
        "Other dev metrics",
        "Learning rate",
    }
    selected = curves["Dev macro_f1 (selects the best checkpoint)"]
    assert selected["dev macro_f1"] == ([float(r["step"]) for r in evals], [r["eval"]["macro_f1"] for r in evals])
    best_step = result.meta["training"]["best_step"]
    [best] = [label for label in selected if label.startswith("best ")]
    assert best.endswith(f"(step {best_step})")
    assert "num_examples" not in curves["Other dev metrics"] and "accuracy" in curves["Other dev metrics"]
    trained = [r for r in log if "train_loss" in r]
    assert curves["Loss: train and dev"]["train loss"][1] == [r["train_loss"] for r in trained]
    assert curves["Learning rate"]["learning rate"][1] == [r["learning_rate"] for r in trained]


@pytest.mark.train
def test_ner_artifact_plots(tiny_model_dir, tmp_path, curves):
    data = {
        "train": write_conll(tmp_path / "train.conll", make_ner_sentences(60, seed=1)),
        "dev": write_conll(tmp_path / "dev.conll", make_ner_sentences(20, seed=2)),
    }
    overrides = tiny_overrides(
        tiny_model_dir, data, **{"task.name": "token_classification", "training.epochs": 2, "output.plots": True}
    )
    result = train(load_config(None, overrides), output_dir=tmp_path / "model", console=QUIET)
    out = result.output_dir
    pngs = sorted(p.name for p in out.glob("*.png"))
    errors = result.report["metrics"]["errors"]
    assert pngs == sorted(["per_type_f1.png", "training_curves.png"] + (["ner_errors.png"] if errors else []))
    assert "Dev f1 (selects the best checkpoint)" in curves  # the task's default metric
    assert result.report["metrics"]["errors_by_type"].keys() <= set(result.report["metrics"]["per_type"])
