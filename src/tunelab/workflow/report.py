"""Evaluation reports: computed through the Predictor, printed as a table, saved as JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from rich.console import Console

from tunelab.artifact import write_json
from tunelab.data.example import Example
from tunelab.evaluation.ner_report import print_ner_report
from tunelab.evaluation import plot_confusion_matrix, plot_multilabel_counts, plot_training_curves, print_classification_report

REPORT_FILE = "report.json"
# Beyond this many labels the terminal table shows the worst ones; report.json always has all.
TABLE_MAX_LABELS = 40


def build_report(predictor, splits: Mapping[str, Sequence[Example]], files: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics for every labelled split; ``metrics`` is test's when there is a test split, else dev's."""
    by_split = {name: predictor.evaluate(examples) for name, examples in splits.items() if examples}
    report: dict[str, Any] = {"task": predictor.task.name, "labels": predictor.labels, "splits": by_split}
    primary = "test" if "test" in by_split else "dev" if "dev" in by_split else None
    if primary is None:
        report.update(metrics={}, evaluated_on=None)
        return report
    report["metrics"] = by_split[primary]
    report["evaluated_on"] = {
        "split": primary,
        "file": str(files.get(primary)) if files.get(primary) else "carved from train",
        "num_examples": len(splits[primary]),
    }
    return report


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    where = report.get("evaluated_on")
    if not report.get("metrics") or where is None:
        (console or Console()).print("no dev or test data: nothing to report")
        return
    title = f"{where['split']}: {where['file']} ({where['num_examples']} examples)"
    if "per_type" in report["metrics"]:  # entity-level report (token classification)
        print_ner_report(report["metrics"], console=console, title=title)
    else:
        print_classification_report(report["metrics"], console=console, title=title, max_labels=TABLE_MAX_LABELS)


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_report_files(directory: Path, report: dict[str, Any], task, *, history_path: Path | None = None) -> list[Path]:
    """report.json plus the plots a person would rather look at."""
    written = [directory / REPORT_FILE]
    write_json(report, directory / REPORT_FILE)
    metrics = report.get("metrics") or {}
    if "confusion_matrix" in metrics:
        written.append(plot_confusion_matrix(
            metrics["confusion_matrix"], task.labels, directory / "confusion_matrix.png",
            title=f"Confusion matrix ({report['evaluated_on']['split']})",
        ))
    elif "per_label_confusion" in metrics:
        written.append(plot_multilabel_counts(metrics["per_label_confusion"], directory / "label_counts.png"))
    if history_path is not None:
        curves = plot_training_curves(read_history(history_path), directory / "training_curves.png")
        if curves is not None:
            written.append(curves)
    return written
