"""Terminal tables for a metrics dict from :func:`tunelab.evaluation.ner.ner_metrics`.

JSON output uses :func:`tunelab.evaluation.report.write_json`, as for classification.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

__all__ = ["print_ner_report", "render_ner_report", "write_ner_plots"]

F1_FILE = "per_type_f1.png"
ERRORS_FILE = "ner_errors.png"

_MODE_CAPTIONS = {
    "strict": "strict IOB2 entity matching (seqeval mode='strict')",
    "conlleval": "lenient conlleval-compatible entity matching",
}


def render_ner_report(
    metrics: Mapping[str, Any],
    *,
    title: str | None = None,
    max_errors: int = 10,
) -> RenderableType:
    """Build the NER report: a table per entity type, then the most frequent errors.

    The first table has one row per entity type (precision, recall, F1, support), then micro,
    macro and weighted averages and token accuracy. The second, "most frequent errors", lists the
    first ``max_errors`` records of ``metrics["errors"]`` (kind, text, gold, predicted, count).
    """
    if max_errors < 0:
        raise ValueError(f"max_errors must be >= 0, got {max_errors}")
    per_type: Mapping[str, Mapping[str, Any]] = metrics.get("per_type") or {}

    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("Type", overflow="fold")
    for column in ("Precision", "Recall", "F1", "Support"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, row in per_type.items():
        table.add_row(
            Text(str(name)),
            _fmt(row.get("precision")),
            _fmt(row.get("recall")),
            _fmt(row.get("f1")),
            str(int(row.get("support", 0))),
        )
    if per_type:
        table.add_section()

    support = metrics.get("num_entities")
    if support is None:
        support = sum(int(row.get("support", 0)) for row in per_type.values())
    averages = {
        "micro": (metrics.get("precision"), metrics.get("recall"), metrics.get("f1")),
        "macro": (metrics.get("macro_precision"), metrics.get("macro_recall"), metrics.get("macro_f1")),
        "weighted": (
            metrics.get("weighted_precision"),
            metrics.get("weighted_recall"),
            metrics.get("weighted_f1"),
        ),
    }
    for avg, (precision, recall, f1) in averages.items():
        if f1 is None:
            continue
        if precision is None or recall is None:  # dicts without these keys: recompute from rows
            precision, recall = _average(per_type, weighted=avg == "weighted")
        table.add_row(f"{avg} avg", _fmt(precision), _fmt(recall), _fmt(f1), _count(support))
    if metrics.get("token_accuracy") is not None:
        table.add_row("token accuracy", "", "", _fmt(metrics["token_accuracy"]), _count(metrics.get("num_tokens")))
    caption = _MODE_CAPTIONS.get(str(metrics.get("mode")))
    if caption:
        table.caption = caption

    errors = list(metrics.get("errors") or [])
    if not errors:
        return Group(table, Text("most frequent errors: none"))
    shown = errors[:max_errors]
    err_table = Table(title="most frequent errors", title_justify="left", caption_justify="left")
    err_table.add_column("Kind", no_wrap=True)
    err_table.add_column("Text", overflow="fold")
    err_table.add_column("Gold", overflow="fold")
    err_table.add_column("Predicted", overflow="fold")
    err_table.add_column("Count", justify="right", no_wrap=True)
    for record in shown:
        err_table.add_row(
            Text(str(record.get("kind", ""))),
            Text(_text(record.get("text"))),
            Text(_text(record.get("gold"))),
            Text(_text(record.get("predicted"))),
            _count(record.get("count")),
        )
    if len(shown) < len(errors):
        err_table.caption = f"showing {len(shown)} of {len(errors)} error groups"
    return Group(table, err_table)


def print_ner_report(metrics: Mapping[str, Any], console: Console | None = None, **kwargs: Any) -> None:
    """Print :func:`render_ner_report` (``title``, ``max_errors``) to ``console``."""
    (console or Console()).print(render_ner_report(metrics, **kwargs))


def write_ner_plots(directory: Path, metrics: Mapping[str, Any], *, split: str = "dev") -> list[Path]:
    """per_type_f1.png (F1 per entity type, worst first, with support) and ner_errors.png (every
    error per type and kind: missed, spurious, wrong type, wrong boundary; then the most frequent
    error groups as a table)."""
    from tunelab.evaluation.plots import plot_f1_bars, plot_ner_errors

    n = metrics.get("num_entities")
    where = f"{split}, {int(n)} entities" if isinstance(n, int) else split
    written: list[Path] = []
    per_type = metrics.get("per_type")
    if per_type:
        average = metrics.get("macro_f1")
        title = f"F1 per entity type, worst first ({where}" + (
            f"; dashed: macro F1 {float(average):.3f})" if average is not None else ")"
        )
        written.append(plot_f1_bars(per_type, directory / F1_FILE, title=title, what="type", average=average))
    errors = plot_ner_errors(
        metrics.get("errors_by_type"),
        list(metrics.get("errors") or []),
        directory / ERRORS_FILE,
        title=f"NER errors per entity type and kind ({where})",
    )
    if errors is not None:
        written.append(errors)
    return written


def _fmt(value: Any) -> str:
    return "" if value is None else f"{float(value):.4f}"


def _count(value: Any) -> str:
    return "" if value is None else str(int(value))


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _average(per_type: Mapping[str, Mapping[str, Any]], *, weighted: bool) -> tuple[float | None, ...]:
    rows = list(per_type.values())
    weights = [int(row.get("support", 0)) if weighted else 1 for row in rows]
    total = sum(weights)
    if total <= 0:
        return None, None
    return tuple(sum(float(row[key]) * w for row, w in zip(rows, weights)) / total for key in ("precision", "recall"))
