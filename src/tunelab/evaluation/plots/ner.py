"""NER: the kinds of error per entity type, and a table of the most frequent ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.evaluation.plots.base import (
    _cell,
    _new_figure,
    _short,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


NER_ERROR_KINDS = {
    "false_negative": ("missed", "#d62728"),
    "false_positive": ("spurious", "#ff7f0e"),
    "wrong_type": ("wrong type", "#9467bd"),
    "wrong_boundary": ("wrong boundary", "#17becf"),
}
_MAX_TABLE_ROWS = 15


def ner_errors_figure(
    errors_by_type: Mapping[str, Mapping[str, int]] | None,
    errors: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
) -> Figure | None:
    """The NER error analysis: stacked bars of every error per entity type and kind (missed,
    spurious, wrong type, wrong boundary), most errors first, then a table of the most frequent
    error groups (kind, text, gold, predicted, count). Either part is left out when its data is
    missing; None when both are."""
    per_type = {
        str(t): {kind: int(kinds.get(kind, 0)) for kind in NER_ERROR_KINDS}
        for t, kinds in (errors_by_type or {}).items()
        if any(int(kinds.get(kind, 0)) for kind in NER_ERROR_KINDS)
    }
    rows = [
        [
            NER_ERROR_KINDS.get(str(e.get("kind")), (str(e.get("kind")), ""))[0],
            _cell(e.get("text")),
            _cell(e.get("gold")),
            _cell(e.get("predicted")),
            str(int(e.get("count", 0))),
        ]
        for e in list(errors)[:_MAX_TABLE_ROWS]
    ]
    if not per_type and not rows:
        return None
    types = sorted(per_type, key=lambda t: (-sum(per_type[t].values()), t))
    bar_height = 0.35 * len(types) + 1.6 if types else 0.0
    table_height = 0.26 * (len(rows) + 1) + 0.9 if rows else 0.0
    fig = _new_figure(9.0, bar_height + table_height)
    grid = fig.add_gridspec(
        int(bool(types)) + int(bool(rows)), 1, height_ratios=[h for h in (bar_height, table_height) if h]
    )
    at = 0
    if types:
        ax = fig.add_subplot(grid[at, 0])
        at += 1
        positions = np.arange(len(types))
        left = np.zeros(len(types))
        for kind, (name, color) in NER_ERROR_KINDS.items():
            values = np.array([per_type[t][kind] for t in types], dtype=float)
            ax.barh(positions, values, left=left, height=0.7, color=color, label=name)
            left = left + values
        for y, total in enumerate(left):
            ax.text(float(total), y, f" {int(total)}", va="center", ha="left", fontsize=8)
        ax.set_yticks(positions, [_short(t) for t in types], fontsize=9)
        ax.set_ylim(len(types) - 0.5, -0.5)
        ax.set_xlim(0, max(float(left.max()), 1.0) * 1.12)
        ax.set_xlabel("Errors (missed, wrong type, wrong boundary: gold type; spurious: predicted type)", fontsize=8)
        ax.legend(loc="lower right", fontsize=8, ncol=2)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_title(title if title is not None else "NER errors per entity type and kind")
    if rows:
        ax = fig.add_subplot(grid[at, 0])
        ax.axis("off")
        table = ax.table(
            cellText=rows,
            colLabels=["Kind", "Text", "Gold", "Predicted", "Count"],
            colWidths=[0.16, 0.34, 0.2, 0.2, 0.1],
            loc="upper center",
            cellLoc="left",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        table.scale(1.0, 1.25)
        for (r, _), cell in table.get_celld().items():
            if r == 0:
                cell.set_text_props(fontweight="bold")
                cell.set_facecolor("#eeeeee")
        shown = f"{len(rows)} of {len(errors)}" if len(rows) < len(errors) else f"{len(rows)}"
        ax.set_title(f"Most frequent errors ({shown} groups)", fontsize=11)
    return fig
