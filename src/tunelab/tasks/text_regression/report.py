"""The terminal table of regression metrics (:func:`regression_metrics`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_regression_report", "render_regression_report", "write_regression_plots"]

SCATTER_FILE = "scatter.png"
RESIDUALS_FILE = "residuals.png"

ROWS = (
    ("spearman", "Spearman correlation"),
    ("pearson", "Pearson correlation"),
    ("mse", "mean squared error"),
    ("rmse", "root mean squared error"),
    ("mae", "mean absolute error"),
    ("loss", "loss (training objective)"),
)


def render_regression_report(metrics: Mapping[str, Any], *, title: str | None = None) -> Table:
    """A rich table: correlations, errors, then gold and predicted mean and standard deviation."""
    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("Metric")
    table.add_column("Value", justify="right", no_wrap=True)
    for key, name in ROWS:
        if isinstance(metrics.get(key), (int, float)):
            table.add_row(name, f"{float(metrics[key]):.4f}")
    table.add_section()
    for side in ("gold", "predicted"):
        mean, std = metrics.get(f"{side}_mean"), metrics.get(f"{side}_std")
        if mean is not None and std is not None:
            table.add_row(f"{side} mean ± std", f"{float(mean):.3f} ± {float(std):.3f}")
    if metrics.get("num_examples") is not None:
        table.add_row("examples", str(int(metrics["num_examples"])))
    if metrics.get("note"):
        table.caption = str(metrics["note"])
    return table


def print_regression_report(metrics: Mapping[str, Any], console: Console | None = None, **kwargs: Any) -> None:
    """Print :func:`render_regression_report` (``title``) to ``console``."""
    (console or Console()).print(render_regression_report(metrics, **kwargs))


def write_regression_plots(directory: Path, metrics: Mapping[str, Any], *, split: str = "dev") -> list[Path]:
    """scatter.png (predicted against gold) and residuals.png (a histogram of predicted - gold),
    from the points the metrics keep (an even sample of at most PLOTTED_POINTS, see metrics.py)."""
    from tunelab.evaluation.plots import plot_residuals, plot_scatter

    points = metrics.get("points") or {}
    if not points.get("gold"):
        return []
    gold, predicted = points["gold"], points["predicted"]
    total, shown = metrics.get("num_examples", len(gold)), len(gold)
    count = f"{shown} of {total} shown" if shown < total else f"{total} examples"
    scores = {name: metrics[key] for name, key in (("Spearman", "spearman"), ("Pearson", "pearson")) if key in metrics}
    return [
        plot_scatter(
            gold, predicted, directory / SCATTER_FILE, title=f"Predicted against gold ({split}, {count})", scores=scores
        ),
        plot_residuals(
            gold, predicted, directory / RESIDUALS_FILE, title=f"Residuals, predicted − gold ({split}, {count})"
        ),
    ]
