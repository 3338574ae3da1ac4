"""Evaluation reports: computed through the Predictor, printed as a table, saved as JSON and PNG."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from tunelab.evaluation import plot_training_curves
from tunelab.files import write_json
from tunelab.workflow.html_report import write_html_report

REPORT_FILE = "report.json"
WORST_ERRORS = 20  # rows of the primary split's worst errors in report.json (report.html shows them)


def build_report(
    predictor, splits: Mapping[str, Sequence[Any]], files: Mapping[str, Any], *, worst_errors: int = WORST_ERRORS
) -> dict[str, Any]:
    """Metrics for every labelled split; ``metrics`` is test's when there is a test split, else dev's.
    ``worst_errors``: that split's worst errors, found by the task in the same pass (for report.html)."""
    primary = "test" if splits.get("test") else "dev" if splits.get("dev") else None
    by_split: dict[str, Any] = {}
    errors = None
    for name, examples in splits.items():
        if not examples:
            continue
        if name == primary:
            by_split[name], errors = evaluate_with_errors(predictor, examples, worst_errors)
        else:
            by_split[name] = predictor.evaluate(examples)
    report: dict[str, Any] = {"task": predictor.task.name, "labels": predictor.labels, "splits": by_split}
    if primary is None:
        report.update(metrics={}, evaluated_on=None)
        return report
    if errors is not None:
        report["worst_errors"] = {"split": primary, **errors}
    report["metrics"] = by_split[primary]
    report["evaluated_on"] = {
        "split": primary,
        "file": str(files.get(primary)) if files.get(primary) else "carved from train",
        "num_examples": len(splits[primary]),
    }
    return report


def evaluate_with_errors(
    predictor, examples: Sequence[Any], limit: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``predictor.evaluate(examples)`` and, in the same pass over the batches, the task's ``limit``
    worst errors (``{"description", "rows"}``; None when the task lists none or ``limit`` is 0)."""
    task = predictor.task
    if not limit or not hasattr(task, "worst_errors"):
        return predictor.evaluate(examples), None
    metrics, finder = predictor.evaluate(examples, also=lambda encoded: task.worst_errors(encoded, limit))
    if finder is None:
        return metrics, None
    return metrics, {"description": getattr(finder, "description", ""), "rows": finder.result()}


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


def training_facts(directory: Path) -> tuple[str | None, int | None, list[dict[str, Any]]]:
    """The dev metric that selected the best checkpoint, the best step and the eval history, as
    the artifact's tunelab.json records them (Nones and [] when it has none)."""
    from tunelab.artifact import ArtifactError, read_meta

    try:
        training = read_meta(directory).training or {}
    except ArtifactError:
        return None, None, []
    best = training.get("best_dev_metric")
    metric = best.get("name") if isinstance(best, Mapping) else None
    step = training.get("best_step")
    history = training.get("history")
    return (
        metric if isinstance(metric, str) else None,
        step if isinstance(step, int) and not isinstance(step, bool) else None,
        [r for r in history if isinstance(r, dict)] if isinstance(history, list) else [],
    )


def write_report_files(
    directory: Path, report: dict[str, Any], task, *, history_path: Path | None = None, plots: bool = True
) -> list[Path]:
    """report.json plus the plots a person would rather look at (``plots``: ``output.plots``)."""
    written = [directory / REPORT_FILE]
    write_json(report, directory / REPORT_FILE)
    if plots and report.get("metrics"):
        written += task.write_plots(directory, report)
    if plots and history_path is not None:
        metric, best_step, stored = training_facts(directory)
        curves = plot_training_curves(
            read_history(history_path) or stored, directory / "training_curves.png", metric=metric, best_step=best_step
        )
        if curves is not None:
            written.append(curves)
    written.append(write_html_report(directory, report))  # last: it embeds the plots above
    return written
