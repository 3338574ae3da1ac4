"""The terminal table of classification metrics (:func:`classification_metrics`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["print_classification_report", "render_classification_report", "write_classification_plots"]

CONFUSION_FILE = "confusion_matrix.png"
CONFUSION_FOCUS_FILE = "confusion_matrix_top_errors.png"
F1_FILE = "per_label_f1.png"
COUNTS_FILE = "label_counts.png"
# beyond this many labels the full matrix has no numbers in its cells: a second plot zooms in on
# the labels involved in the most errors, with numbers
FOCUS_ABOVE_LABELS = 20
POST_TRAINING_ROWS = (
    ("in_scope_accuracy", "in-scope accuracy"),
    ("oos_recall", "out-of-scope recall"),
    ("oos_precision", "out-of-scope precision"),
    ("oos_auroc", "out-of-scope AUROC"),
    ("oos_fpr_at_95_recall", "FPR at 95% in-scope recall"),
    ("ece", "ECE"),
    ("ece_uncalibrated", "ECE before calibration"),
)


def render_classification_report(
    metrics: Mapping[str, Any],
    *,
    title: str | None = None,
    max_labels: int | None = None,
) -> Table:
    """Build a rich table: one row per label (label order), then accuracy and averages.

    With ``max_labels`` and more labels than that, only the ``max_labels`` labels with the lowest
    F1 are shown (still in label order) and the caption says how many were hidden.
    """
    if max_labels is not None and max_labels < 0:
        raise ValueError(f"max_labels must be >= 0 or None, got {max_labels}")
    per_label: Mapping[str, Mapping[str, Any]] = metrics.get("per_label") or {}
    names = list(per_label)
    shown = names
    if max_labels is not None and len(names) > max_labels:
        order = {name: i for i, name in enumerate(names)}
        worst = sorted(names, key=lambda n: (per_label[n]["f1"], order[n]))[:max_labels]
        keep = set(worst)
        shown = [name for name in names if name in keep]

    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("Label", overflow="fold")
    for column in ("Precision", "Recall", "F1", "Support"):
        table.add_column(column, justify="right", no_wrap=True)

    for name in shown:
        row = per_label[name]
        table.add_row(
            Text(name),
            _fmt(row.get("precision")),
            _fmt(row.get("recall")),
            _fmt(row.get("f1")),
            str(int(row.get("support", 0))),
        )
    if shown:
        table.add_section()

    total_support = sum(int(row.get("support", 0)) for row in per_label.values())
    num_examples = metrics.get("num_examples")
    multi_label = "hamming_loss" in metrics
    blank = ""
    if "accuracy" in metrics:
        name = "subset accuracy" if multi_label else "accuracy"
        table.add_row(name, blank, blank, _fmt(metrics["accuracy"]), _count(num_examples))
    for avg in ("macro", "weighted", "micro"):
        f1 = metrics.get(f"{avg}_f1")
        if f1 is None:
            continue
        precision = metrics.get(f"{avg}_precision")
        recall = metrics.get(f"{avg}_recall")
        if avg == "weighted" and (precision is None or recall is None):
            precision, recall = _weighted(per_label, total_support)
        table.add_row(f"{avg} avg", _fmt(precision), _fmt(recall), _fmt(f1), str(total_support))
    if multi_label:
        if "samples_f1" in metrics:
            table.add_row("samples avg", blank, blank, _fmt(metrics["samples_f1"]), _count(num_examples))
        table.add_row("hamming loss", blank, blank, _fmt(metrics["hamming_loss"]), _count(num_examples))
    # out-of-scope detection and calibration (docs/out-of-scope.md): one row each, value in the F1 column
    extra = [(name, metrics[key]) for key, name in POST_TRAINING_ROWS if isinstance(metrics.get(key), (int, float))]
    if extra:
        table.add_section()
        for name, value in extra:
            table.add_row(name, blank, blank, _fmt(value), blank)

    if len(shown) < len(names):
        hidden = len(names) - len(shown)
        table.caption = f"{hidden} of {len(names)} labels hidden; showing the {len(shown)} with the lowest F1"
    return table


def print_classification_report(metrics: Mapping[str, Any], console: Console | None = None, **kwargs: Any) -> None:
    """Print :func:`render_classification_report` (``title``, ``max_labels``) to ``console``."""
    (console or Console()).print(render_classification_report(metrics, **kwargs))


def write_classification_plots(
    directory: Path, metrics: Mapping[str, Any], labels: Sequence[str], *, split: str = "dev"
) -> list[Path]:
    """The plots of a classification report: single-label, the row-normalised confusion matrix with
    the most confused pairs outlined and listed (plus, beyond 20 labels, the labels with the most
    errors on their own); multi-label, TP/FP/FN per label; both, the per-label F1 bars, worst first."""
    from tunelab.evaluation.plots import (
        plot_confusion_focus,
        plot_confusion_matrix,
        plot_f1_bars,
        plot_multilabel_counts,
    )

    n = metrics.get("num_examples")
    where = f"{split}, {int(n)} examples" if isinstance(n, int) else split
    written: list[Path] = []
    matrix = metrics.get("confusion_matrix")
    if matrix is not None:
        title = f"Confusion matrix, row-normalised ({where}, {len(labels)} labels)"
        written.append(plot_confusion_matrix(matrix, labels, directory / CONFUSION_FILE, title=title))
        if len(labels) > FOCUS_ABOVE_LABELS:
            focus = plot_confusion_focus(matrix, labels, directory / CONFUSION_FOCUS_FILE)
            if focus is not None:
                written.append(focus)
    if metrics.get("per_label_confusion"):
        title = f"True / false positives and false negatives per label ({where})"
        written.append(plot_multilabel_counts(metrics["per_label_confusion"], directory / COUNTS_FILE, title=title))
    per_label = metrics.get("per_label")
    if per_label:
        average = metrics.get("macro_f1")
        title = f"F1 per label, worst first ({where}" + (
            f"; dashed: macro F1 {float(average):.3f})" if average is not None else ")"
        )
        written.append(plot_f1_bars(per_label, directory / F1_FILE, title=title, average=average))
    return written


def _fmt(value: Any) -> str:
    return "" if value is None else f"{float(value):.4f}"


def _count(value: Any) -> str:
    return "" if value is None else str(int(value))


def _weighted(per_label: Mapping[str, Mapping[str, Any]], total: int) -> tuple[float | None, ...]:
    if total <= 0:
        return None, None
    return tuple(
        sum(float(row[key]) * int(row["support"]) for row in per_label.values()) / total
        for key in ("precision", "recall")
    )
