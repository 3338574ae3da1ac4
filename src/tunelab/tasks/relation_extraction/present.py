"""What relation extraction shows: the terminal report (per label, then the official SemEval score
per relation when it applies), the plots (the classification task's confusion matrix and F1 bars),
prediction tables and the worst errors with the entities marked."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tunelab.tasks.text_classification.errors import ConfidentErrors
from tunelab.tasks.text_classification.report import render_classification_report, write_classification_plots

TABLE_MAX_LABELS = 40


def print_relation_report(metrics: Mapping[str, Any], console: Console | None = None, title: str = "") -> None:
    console = console or Console()
    console.print(render_classification_report(metrics, title=title, max_labels=TABLE_MAX_LABELS))
    summary = Table(
        title=f"relations (no-relation label: {metrics.get('no_relation') or 'none'})", title_justify="left"
    )
    for column in ("average", "precision", "recall", "F1"):
        summary.add_column(column, justify="right" if column != "average" else "left")
    for avg in ("micro", "macro"):
        summary.add_row(
            f"{avg}, relations only",
            *(f"{float(metrics.get(f'{avg}_{k}', 0.0)):.4f}" for k in ("precision", "recall", "f1")),
        )
    console.print(summary)
    official = metrics.get("official_per_relation")
    if official:
        table = Table(
            title="SemEval-2010 Task 8 official score: (9+1)-way, direction taken into account, Other excluded",
            title_justify="left",
        )
        for column in ("relation", "precision", "recall", "F1", "correct", "predicted", "wrong dir.", "gold"):
            table.add_column(column, justify="left" if column == "relation" else "right")
        for name, row in official.items():
            table.add_row(
                name,
                *(f"{row[k]:.4f}" for k in ("precision", "recall", "f1")),
                *(str(row[k]) for k in ("correct", "predicted", "wrong_direction", "support")),
            )
        table.add_section()
        table.add_row(
            "macro (official)",
            f"{metrics['official_precision']:.4f}",
            f"{metrics['official_recall']:.4f}",
            f"{metrics['official_f1']:.4f}",
        )
        console.print(table)


def write_relation_plots(
    directory: Path, metrics: Mapping[str, Any], labels: Sequence[str], *, split: str
) -> list[Path]:
    """confusion_matrix.png (directed labels) and per_label_f1.png, as for text classification."""
    return write_classification_plots(directory, metrics, labels, split=split)


def _argument(entity: Mapping[str, Any]) -> str:
    kind = f":{entity['type']}" if entity.get("type") else ""
    return f"{entity['text']}{kind} [{entity['start']}, {entity['end']})"


def record_table(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    k = max((len(r["top"]) for r in records), default=1)
    header = ["text", "head", "tail", "relation", "score"]
    header += [f"{kind}_{i + 1}" for i in range(k) for kind in ("top_label", "top_score")] if k > 1 else []
    rows = []
    for r in records:
        row = [
            r["text"],
            json.dumps(r["head"], ensure_ascii=False),
            json.dumps(r["tail"], ensure_ascii=False),
            r["relation"],
            f"{r['score']:.6f}",
        ]
        if k > 1:
            for top in r["top"]:
                row += [top["label"], f"{top['score']:.6f}"]
        rows.append(row)
    return header, rows


def terminal_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    return ["text", "head", "tail", "relation", "top labels"], [
        [
            r["text"],
            _argument(r["head"]),
            _argument(r["tail"]),
            f"{r['relation']} ({r['score']:.3f})",
            ", ".join(f"{t['label']} {t['score']:.3f}" for t in r["top"]),
        ]
        for r in records
    ]


class MarkedErrors(ConfidentErrors):
    """The wrong relations the model was surest of, each text shown with its entities marked."""

    description = (
        "the wrong relations the model was surest of (score: the probability of the predicted label, "
        "gold_score: of the gold label; entities marked <e1>..</e1>, <e2>..</e2>)"
    )

    def _error(self, i: int, p: Any, decoded: Any) -> Any:
        found = super()._error(i, p, decoded)
        if found is None:
            return None
        key, row = found
        from tunelab.tasks.base import error_row

        example = self.encoded.examples[i]
        fields = {k: v for k, v in row.items() if k not in ("line", "text")}
        return key, error_row(example, text=example.marked(), **fields)
