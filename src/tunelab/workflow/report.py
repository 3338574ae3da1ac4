"""Evaluation reports: computed through the Predictor, printed as a table, saved as JSON and PNG."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from tunelab.evaluation import plot_training_curves
from tunelab.files import write_json

REPORT_FILE = "report.json"


def build_report(predictor, splits: Mapping[str, Sequence[Any]], files: Mapping[str, Any]) -> dict[str, Any]:
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


def print_report(report: dict[str, Any], task, console: Console | None = None) -> None:
    """The task's table of the report's metrics."""
    where = report.get("evaluated_on")
    if not report.get("metrics") or where is None:
        (console or Console()).print("no dev or test data: nothing to report")
        return
    title = f"{where['split']}: {where['file']} ({where['num_examples']} examples)"
    task.print_report(report["metrics"], console, title)


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_report_files(
    directory: Path, report: dict[str, Any], task, *, history_path: Path | None = None
) -> list[Path]:
    """report.json plus the plots a person would rather look at."""
    written = [directory / REPORT_FILE]
    write_json(report, directory / REPORT_FILE)
    if report.get("metrics"):
        written += task.write_plots(directory, report)
    if history_path is not None:
        curves = plot_training_curves(read_history(history_path), directory / "training_curves.png")
        if curves is not None:
            written.append(curves)
    return written
