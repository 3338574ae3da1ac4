"""Classification: confusion matrices (whole, and a zoom on the labels with most errors), per-label
F1 bars, multi-label counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from tunelab.evaluation.plots.base import (
    _INCH_PER_LABEL,
    _MAX_ANNOTATED_LABELS,
    _clip,
    _is_number,
    _label_margin,
    _new_figure,
    _short,
    _tick_font,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def confusion_pairs(
    matrix: Sequence[Sequence[float]] | np.ndarray, labels: Sequence[str], top: int = 10
) -> list[dict[str, Any]]:
    """The ``top`` most frequent confusions of a count matrix (rows = true, columns = predicted):
    ``{"true", "predicted", "count", "share"}`` (share of the true label's examples), most first."""
    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1)
    off = counts.copy()
    np.fill_diagonal(off, 0.0)
    cells = [(int(i), int(j)) for i, j in zip(*np.nonzero(off > 0))]
    cells.sort(key=lambda ij: (-off[ij], -off[ij] / totals[ij[0]], ij))
    return [
        {
            "true": str(labels[i]),
            "predicted": str(labels[j]),
            "count": int(round(off[i, j])),
            "share": float(off[i, j] / totals[i]),
        }
        for i, j in cells[: max(top, 0)]
    ]


def confusion_matrix_figure(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str],
    *,
    normalize: bool = True,
    title: str | None = None,
    top_pairs: int = 10,
) -> Figure:
    """The confusion-matrix heatmap (rows = true, columns = predicted) as a Figure.

    With ``normalize`` each row is divided by its total (rows with no examples stay 0). Cell values
    are written for up to 20 labels; the heatmap grows ~0.22 inch per label (fonts shrink from 10
    to 6 points), so 77 or 150 labels keep one readable tick each. The ``top_pairs`` most frequent
    confusions are outlined in red and listed, with counts and shares, in a panel on the right.
    """
    counts = np.asarray(matrix, dtype=float)
    names = [_short(label) for label in labels]
    n = len(names)
    if n == 0 or counts.shape != (n, n):
        raise ValueError(f"matrix must have shape ({n}, {n}) for {n} labels, got {counts.shape}")
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        vmax = 1.0
    else:
        values = counts
        vmax = max(float(values.max()), 1.0)
    pairs = confusion_pairs(counts, names, top_pairs)
    index = {name: i for i, name in enumerate(names)}

    font = _tick_font(n)
    margin = _label_margin(names, font)
    side = _clip(_INCH_PER_LABEL * n + margin + 1.0)
    lines = [f"{k}. {p['true']} → {p['predicted']}: {p['count']} ({p['share']:.0%})" for k, p in enumerate(pairs, 1)]
    big = side > 15.0  # a figure seen scaled down: larger title, axis names and list
    list_font = 12 if big else 9
    list_width = max((len(line) for line in lines), default=0) * list_font * 0.52 / 72 + 0.3 if lines else 0.0
    fig = _new_figure(side + 1.2 + list_width, side)  # + the colorbar and the list of pairs
    grid = fig.add_gridspec(1, 2 if lines else 1, width_ratios=[side + 1.2, list_width] if lines else None)
    ax = fig.add_subplot(grid[0, 0])
    from matplotlib.colors import PowerNorm

    # a square-root colour scale: one error in 16 examples (0.06) is a visible tint, not white
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax)
    image = ax.imshow(values, cmap="Blues", norm=norm, interpolation="nearest")
    cbar = fig.colorbar(image, ax=ax, fraction=min(0.046, 0.35 / side), aspect=max(20.0, 2.5 * side), pad=0.02)
    cbar.ax.tick_params(labelsize=8)
    cbar.set_label("share of the true label's examples" if normalize else "examples", fontsize=9)

    ticks = np.arange(n)
    if n > 8:
        ax.set_xticks(ticks, names, fontsize=font, rotation=90)
    else:
        ax.set_xticks(ticks, names, fontsize=font, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, names, fontsize=font)
    ax.set_xlabel("Predicted label", fontsize=14 if big else 11)
    ax.set_ylabel("True label", fontsize=14 if big else 11)
    what = "row-normalised" if normalize else "counts"
    ax.set_title(title if title is not None else f"Confusion matrix ({what}, {n} labels)", fontsize=16 if big else 12)

    if n <= _MAX_ANNOTATED_LABELS:
        cell_font = 9 if n <= 8 else 7 if n <= 14 else 6
        for (i, j), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{int(round(value))}"
            color = "white" if value > 0.3 * vmax else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=cell_font, color=color)

    from matplotlib.patches import Rectangle

    for k, pair in enumerate(pairs, 1):
        i, j = index[pair["true"]], index[pair["predicted"]]
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=1.6, gid="pair"))
        if n > _MAX_ANNOTATED_LABELS:  # the cell has no value written in it: number it as in the list
            ax.annotate(
                str(k), (j + 0.5, i - 0.5), fontsize=8, color="#d62728", fontweight="bold", ha="left", va="bottom"
            )
    if lines:
        side_ax = fig.add_subplot(grid[0, 1])
        side_ax.axis("off")
        side_ax.set_title("Most confused (true → predicted)", fontsize=list_font + 2, loc="left")
        side_ax.text(
            0.0, 1.0, "\n".join(lines), transform=side_ax.transAxes, va="top", ha="left",
            fontsize=list_font, linespacing=1.6, color="#222222",
        )  # fmt: skip
    return fig


def confusion_focus_figure(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str],
    *,
    max_labels: int = _MAX_ANNOTATED_LABELS,
    title: str | None = None,
) -> Figure | None:
    """The rows and columns of the ``max_labels`` labels involved in the most errors (as true or as
    predicted label), each cell the share of all the true label's examples; None without errors."""
    counts = np.asarray(matrix, dtype=float)
    n = len(labels)
    if n == 0 or counts.shape != (n, n):
        raise ValueError(f"matrix must have shape ({n}, {n}) for {n} labels, got {counts.shape}")
    off = counts.copy()
    np.fill_diagonal(off, 0.0)
    involvement = off.sum(axis=1) + off.sum(axis=0)
    chosen = [int(i) for i in sorted(np.nonzero(involvement > 0)[0], key=lambda i: (-involvement[i], i))][:max_labels]
    if not chosen:
        return None
    totals = counts.sum(axis=1)
    sub = counts[np.ix_(chosen, chosen)]
    values = np.divide(sub, totals[chosen, None], out=np.zeros_like(sub), where=totals[chosen, None] > 0)
    names = [_short(labels[i]) for i in chosen]
    k = len(chosen)
    font = _tick_font(k)
    margin = _label_margin(names, font)
    side = _clip(0.45 * k + margin + 1.5, low=5.0, high=16.0)
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    from matplotlib.colors import PowerNorm

    image = ax.imshow(values, cmap="Blues", norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0), interpolation="nearest")
    cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    cbar.ax.tick_params(labelsize=8)
    cbar.set_label("share of the true label's examples", fontsize=9)
    ticks = np.arange(k)
    ax.set_xticks(ticks, names, fontsize=font, rotation=90)
    ax.set_yticks(ticks, names, fontsize=font)
    for (i, j), value in np.ndenumerate(values):
        if sub[i, j] > 0:
            color = "white" if value > 0.3 else "#d62728" if i != j else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("Predicted label", fontsize=11)
    ax.set_ylabel("True label", fontsize=11)
    default = f"Confusions among the {k} labels with the most errors (of {n})"
    ax.set_title(title if title is not None else default, fontsize=12)
    return fig


def f1_bars_figure(
    per_label: Mapping[str, Mapping[str, Any]],
    *,
    title: str | None = None,
    what: str = "label",
    average: float | None = None,
) -> Figure:
    """Horizontal F1 bars, worst first (top), each with its precision, recall and support written
    beside it; ``average`` (e.g. macro F1) is drawn as a dashed line."""
    if not per_label:
        raise ValueError(f"no per-{what} scores: nothing to plot")
    rows = sorted(
        ((str(name), row) for name, row in per_label.items()),
        key=lambda item: (float(item[1].get("f1", 0.0)), -int(item[1].get("support", 0)), item[0]),
    )
    names = [_short(name) for name, _ in rows]
    f1 = np.array([float(row.get("f1", 0.0)) for _, row in rows])
    n = len(names)
    font = _tick_font(n)
    height = _clip(0.2 * n + 1.6, low=3.0, high=36.0)
    fig = _new_figure(6.0 + 2.4 * max(font, 6) / 6 + _label_margin(names, font), height)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    positions = np.arange(n)
    ax.barh(positions, f1, height=0.75, color=colormaps["RdYlGn"](0.1 + 0.8 * f1))
    notes = []
    for (_, row), value in zip(rows, f1):
        p, r = row.get("precision"), row.get("recall")
        pr = f"  P {float(cast(float, p)):.2f} R {float(cast(float, r)):.2f}" if _is_number(p) and _is_number(r) else ""
        notes.append(f"F1 {value:.2f}{pr}  n={int(row.get('support', 0))}")
    # the notes sit in a column of their own right of the axes, clear of the bars and the average line
    note_font = max(font, 6)
    for y, note in enumerate(notes):
        ax.text(1.02, y, note, transform=ax.get_yaxis_transform(), va="center", ha="left", fontsize=note_font)
    ax.set_yticks(positions, names, fontsize=font)
    ax.set_ylim(n - 0.5, -0.5)  # worst on top
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("F1 (right: F1, P = precision, R = recall, n = support)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    default = f"F1 per {what}, worst first ({n} {what}s)"
    if average is not None and _is_number(average):
        ax.axvline(float(average), linestyle="--", color="#555555", linewidth=1.0)
        default += f"; dashed: macro F1 {average:.3f}"
    ax.set_title(title if title is not None else default)
    return fig


def multilabel_counts_figure(
    per_label_confusion: Mapping[str, Mapping[str, int]], *, title: str | None = None
) -> Figure:
    """Horizontal stacked bars of TP / FP / FN per label (multi-label tasks)."""
    if not per_label_confusion:
        raise ValueError("per_label_confusion is empty: nothing to plot")
    names = [_short(label) for label in per_label_confusion]
    counts = {
        key: np.array([int(c.get(key, 0)) for c in per_label_confusion.values()], dtype=float)
        for key in ("tp", "fp", "fn")
    }
    n = len(names)
    font = _tick_font(n)
    height = _clip(0.25 * n + 1.5, low=3.0)
    fig = _new_figure(8.0 + _label_margin(names, font), height)
    ax = fig.add_subplot()
    rows = np.arange(n)
    left = np.zeros(n)
    styles = (
        ("tp", "true positive", "#2ca02c"),
        ("fp", "false positive", "#ff7f0e"),
        ("fn", "false negative", "#d62728"),
    )
    for key, legend, color in styles:
        ax.barh(rows, counts[key], left=left, height=0.75, color=color, label=legend)
        left = left + counts[key]
    ax.set_yticks(rows, names, fontsize=font)
    ax.set_xlabel("Examples")
    ax.set_ylim(n - 0.5, -0.5)  # first label on top
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title if title is not None else "Per-label TP / FP / FN")
    return fig
