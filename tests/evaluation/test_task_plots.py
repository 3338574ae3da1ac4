"""The plots each task writes into an artifact, checked for what they show (the Figure before saving)."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.data import Example
from tunelab.evaluation import plots
from tunelab.tasks import build_task
from tunelab.tasks.text_classification.config import TextClassificationConfig
from tunelab.tasks.text_classification.metrics import classification_metrics
from tunelab.tasks.text_regression.config import TextRegressionConfig
from tunelab.tasks.token_classification.config import TokenClassificationConfig
from tunelab.tasks.token_classification.example import NerExample
from tunelab.tasks.token_classification.metrics import ner_metrics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def saved(monkeypatch):
    """{file name: (title of every axes)} of each figure saved, captured before it is cleared."""
    figures: dict[str, list[str]] = {}
    save = plots._save

    def capture(fig, path):
        titles = [ax.get_title() or ax.get_title(loc="left") for ax in fig.axes]
        figures[str(path).rsplit("/", 1)[-1]] = [title for title in titles if title]
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    return figures


def _examples(labels):
    return [Example(text=f"text {i}", label=label, source="t.csv", line=i + 2) for i, label in enumerate(labels)]


def test_classification_77_labels_writes_matrix_focus_and_f1_bars(tmp_path, saved):
    labels = [f"intent_{i:02d}" for i in range(77)]
    task = build_task(TextClassificationConfig(), _examples(labels))
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 77, size=1000)
    predicted = np.where(rng.random(1000) < 0.9, gold, rng.integers(0, 77, size=1000))
    predicted[gold == 4] = 9  # intent_04 is always taken for intent_09
    metrics = classification_metrics(gold, predicted, labels)
    report = {"metrics": metrics, "evaluated_on": {"split": "test", "file": "test.csv", "num_examples": 1000}}
    paths = task.write_plots(tmp_path, report)
    names = ["confusion_matrix.png", "confusion_matrix_top_errors.png", "per_label_f1.png"]
    assert paths == [tmp_path / name for name in names]
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in paths)
    assert saved["confusion_matrix.png"][0] == "Confusion matrix, row-normalised (test, 1000 examples, 77 labels)"
    assert saved["confusion_matrix.png"][-1] == "Most confused (true → predicted)"
    assert saved["confusion_matrix_top_errors.png"][0].startswith("Confusions among the 20 labels with the most errors")
    assert saved["per_label_f1.png"] == [
        f"F1 per label, worst first (test, 1000 examples; dashed: macro F1 {metrics['macro_f1']:.3f})"
    ]
    pairs = plots.confusion_pairs(metrics["confusion_matrix"], labels, 1)
    assert (pairs[0]["true"], pairs[0]["predicted"], pairs[0]["share"]) == ("intent_04", "intent_09", 1.0)


def test_multilabel_writes_counts_and_f1_bars(tmp_path, saved):
    task = build_task(TextClassificationConfig(multi_label=True), _examples(["a", "b", "c"]))
    metrics = classification_metrics([[1, 0, 1], [0, 1, 0]], [[1, 1, 0], [0, 1, 0]], ["a", "b", "c"], multi_label=True)
    paths = task.write_plots(tmp_path, {"metrics": metrics, "evaluated_on": {"split": "dev"}})
    assert [p.name for p in paths] == ["label_counts.png", "per_label_f1.png"]
    assert saved["label_counts.png"] == ["True / false positives and false negatives per label (dev, 2 examples)"]


def test_regression_writes_scatter_and_residuals(tmp_path, saved):
    train = [Example(text=f"t{i}", label=str(i % 5), source="t.csv", line=i + 2) for i in range(10)]
    task = build_task(TextRegressionConfig(), train)
    points = {"gold": [1.0, 2.0, 3.0, 4.0], "predicted": [1.5, 2.0, 2.5, 4.0]}
    metrics = {"num_examples": 40, "spearman": 0.95, "pearson": 0.9, "points": points}
    paths = task.write_plots(tmp_path, {"metrics": metrics, "evaluated_on": {"split": "dev"}})
    assert [p.name for p in paths] == ["scatter.png", "residuals.png"]
    assert saved["scatter.png"] == ["Predicted against gold (dev, 4 of 40 shown)"]
    assert saved["residuals.png"] == ["Residuals, predicted − gold (dev, 4 of 40 shown)"]
    assert task.write_plots(tmp_path / "none", {"metrics": {"spearman": 0.0}}) == []


def test_ner_writes_per_type_f1_and_error_analysis(tmp_path, saved):
    train = [NerExample(tokens=("Ann", "in", "Rome"), tags=("B-PER", "O", "B-LOC"))]
    task = build_task(TokenClassificationConfig(), train)
    gold = [["B-PER", "O", "B-LOC"], ["B-LOC", "O", "O"]]
    pred = [["B-PER", "O", "B-PER"], ["O", "O", "B-LOC"]]
    metrics = ner_metrics(gold, pred, texts=[["Ann", "in", "Rome"], ["Oslo", "is", "cold"]])
    paths = task.write_plots(tmp_path, {"metrics": metrics, "evaluated_on": {"split": "test"}})
    assert [p.name for p in paths] == ["per_type_f1.png", "ner_errors.png"]
    assert saved["per_type_f1.png"] == [
        f"F1 per entity type, worst first (test, 3 entities; dashed: macro F1 {metrics['macro_f1']:.3f})"
    ]
    assert saved["ner_errors.png"] == [
        "NER errors per entity type and kind (test, 3 entities)",
        "Most frequent errors (3 groups)",
    ]
