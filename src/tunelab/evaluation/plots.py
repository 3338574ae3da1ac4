"""PNG plots for evaluation results and training history.

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas, never through pyplot, so
no global figure state is created or leaked and no GUI backend is touched. Files are written
atomically: the PNG is rendered in memory and then moved over ``path`` in one ``os.replace``.
matplotlib is imported lazily so that importing :mod:`tunelab.evaluation` stays cheap.
"""

from __future__ import annotations

import functools
import io
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from tunelab.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "confusion_focus_figure",
    "confusion_matrix_figure",
    "confusion_pairs",
    "f1_bars_figure",
    "multilabel_counts_figure",
    "ner_errors_figure",
    "plot_confusion_focus",
    "plot_confusion_matrix",
    "plot_f1_bars",
    "plot_multilabel_counts",
    "plot_ner_errors",
    "plot_residuals",
    "plot_scatter",
    "plot_training_curves",
    "residuals_figure",
    "scatter_figure",
    "training_curves_figure",
]

DPI = 110
_INCH_PER_LABEL = 0.22
_MIN_INCHES, _MAX_INCHES = 5.0, 30.0
_MAX_ANNOTATED_LABELS = 20
_MAX_TICK_CHARS = 32
_LOSS_KEYS = ("loss", "eval_loss")


# Fonts that cover Chinese/Japanese/Korean, tried in order when matplotlib's default (DejaVu Sans,
# Latin only) would draw CJK labels as empty boxes.
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
    "Noto Sans CJK JP",
)


@functools.lru_cache(maxsize=1)
def _cjk_font() -> str | None:
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in installed), None)


def _with_fonts(plot):
    """Render with a CJK-capable font first in the fallback list when one is installed; without one,
    CJK glyphs still come out as boxes, and matplotlib's per-glyph warnings are silenced."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        import matplotlib

        font = _cjk_font()
        settings = (
            {"font.family": ["sans-serif"], "font.sans-serif": [font, *matplotlib.rcParams["font.sans-serif"]]}
            if font
            else {}
        )
        with matplotlib.rc_context(settings), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
            return plot(*args, **kwargs)

    return wrapper


# --- classification ---------------------------------------------------------------------------------


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


@_with_fonts
def plot_confusion_matrix(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    normalize: bool = True,
    title: str | None = None,
    top_pairs: int = 10,
) -> Path:
    """Save :func:`confusion_matrix_figure` as a PNG."""
    return _save(confusion_matrix_figure(matrix, labels, normalize=normalize, title=title, top_pairs=top_pairs), path)


@_with_fonts
def plot_confusion_focus(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    max_labels: int = _MAX_ANNOTATED_LABELS,
    title: str | None = None,
) -> Path | None:
    """Save :func:`confusion_focus_figure` as a PNG; None (and no file) when nothing was confused."""
    fig = confusion_focus_figure(matrix, labels, max_labels=max_labels, title=title)
    return None if fig is None else _save(fig, path)


@_with_fonts
def plot_f1_bars(
    per_label: Mapping[str, Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    what: str = "label",
    average: float | None = None,
) -> Path:
    """Save :func:`f1_bars_figure` as a PNG."""
    return _save(f1_bars_figure(per_label, title=title, what=what, average=average), path)


@_with_fonts
def plot_multilabel_counts(
    per_label_confusion: Mapping[str, Mapping[str, int]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Save :func:`multilabel_counts_figure` as a PNG."""
    return _save(multilabel_counts_figure(per_label_confusion, title=title), path)


# --- regression -------------------------------------------------------------------------------------


def scatter_figure(
    gold: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    title: str | None = None,
    scores: Mapping[str, float] | None = None,
) -> Figure:
    """Predicted against gold values, with the dashed ``predicted = gold`` diagonal.

    ``scores`` (e.g. ``{"Spearman": 0.87}``) are written in the upper-left corner; when None,
    Pearson's and Spearman's correlations of the points themselves are. Points are drawn
    translucent, so dense regions show.
    """
    x, y = _pair_arrays(gold, predicted)
    if scores is None:
        scores = {"Pearson": _correlation(x, y), "Spearman": _correlation(_ranks(x), _ranks(y))}
    fig = _new_figure(5.6, 5.2)
    ax = fig.add_subplot()
    alpha = 0.7 if x.size <= 200 else 0.35 if x.size <= 2000 else 0.2
    ax.scatter(x, y, s=10, alpha=alpha, color="#1f77b4", edgecolors="none")
    low = float(min(x.min(), y.min()))
    high = float(max(x.max(), y.max()))
    pad = 0.03 * (high - low) if high > low else 0.5
    low, high = low - pad, high + pad
    ax.plot([low, high], [low, high], linestyle="--", linewidth=1.0, color="#7f7f7f", label="predicted = gold")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("Gold value")
    ax.set_ylabel("Predicted value")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    shown = [f"{name} {value:.3f}" for name, value in scores.items() if _is_number(value)]
    shown.append(f"n = {x.size}")
    _corner_text(ax, "\n".join(shown))
    ax.set_title(title if title is not None else "Predicted against gold")
    return fig


def residuals_figure(
    gold: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    title: str | None = None,
) -> Figure:
    """A histogram of the residuals ``predicted - gold``, a line at 0, and their mean, standard
    deviation and mean absolute value."""
    x, y = _pair_arrays(gold, predicted)
    residuals = y - x
    fig = _new_figure(6.0, 4.2)
    ax = fig.add_subplot()
    bins = int(min(50, max(10, round(math.sqrt(residuals.size)))))
    ax.hist(residuals, bins=bins, color="#1f77b4", alpha=0.85, edgecolor="white", linewidth=0.5)
    ax.axvline(0.0, linestyle="--", color="#7f7f7f", linewidth=1.0)
    ax.set_xlabel("Residual (predicted − gold)")
    ax.set_ylabel("Examples")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    stats = (
        f"mean {residuals.mean():+.3f}\nstd {residuals.std():.3f}\n"
        f"mean |residual| {np.abs(residuals).mean():.3f}\nn = {residuals.size}"
    )
    _corner_text(ax, stats)
    ax.set_title(title if title is not None else "Residuals (predicted − gold)")
    return fig


@_with_fonts
def plot_scatter(
    gold: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    scores: Mapping[str, float] | None = None,
) -> Path:
    """Save :func:`scatter_figure` as a PNG."""
    return _save(scatter_figure(gold, predicted, title=title, scores=scores), path)


@_with_fonts
def plot_residuals(
    gold: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Save :func:`residuals_figure` as a PNG."""
    return _save(residuals_figure(gold, predicted, title=title), path)


# --- NER --------------------------------------------------------------------------------------------

#: How the error kinds of :func:`tunelab.tasks.token_classification.metrics.ner_metrics` are shown.
NER_ERROR_KINDS = {
    "false_negative": ("missed", "#d62728"),
    "false_positive": ("spurious", "#ff7f0e"),
    "wrong_type": ("wrong type", "#9467bd"),
    "wrong_boundary": ("wrong boundary", "#17becf"),
}
_MAX_TABLE_ROWS = 15
_MAX_CELL_CHARS = 28


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


@_with_fonts
def plot_ner_errors(
    errors_by_type: Mapping[str, Mapping[str, int]] | None,
    errors: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path | None:
    """Save :func:`ner_errors_figure` as a PNG; None (and no file) when there is nothing to show."""
    fig = ner_errors_figure(errors_by_type, errors, title=title)
    return None if fig is None else _save(fig, path)


# --- training curves --------------------------------------------------------------------------------


def _is_count(name: str) -> bool:
    low = name.lower()
    return (
        low.startswith(("num_", "n_"))
        or low in {"support", "count", "examples"}
        or low.endswith(("_count", "_support"))
    )


def training_curves_figure(
    history: Sequence[Mapping[str, Any]],
    *,
    metric: str | None = None,
    best_step: int | None = None,
) -> Figure | None:
    """Loss, the selected dev metric, the other dev metrics on a 0-1 scale, and the learning rate
    against the optimizer step; None when there is nothing to plot.

    ``history`` mixes train records ``{"step", "train_loss", "learning_rate"}`` (``logs/train_log.jsonl``)
    and eval records ``{"step", "eval": {metric: value}}`` (or ``"metrics"``, as in ``tunelab.json``'s
    ``training.history``). Records without a numeric ``step`` and values that are not finite numbers
    are skipped. Dev loss is drawn with the train loss. ``metric`` (the one that selected the best
    checkpoint) gets its own panel, its best value marked (at ``best_step``, else at the last eval
    record marked ``"improved"``). Other metrics appear only when every value lies in [-1, 1] and the
    name is not a count (``num_examples``, ``support``): error metrics and counts would flatten them.
    """
    train: list[tuple[float, float]] = []
    rates: list[tuple[float, float]] = []
    evals: dict[str, list[tuple[float, float]]] = {}
    improved: list[float] = []
    for record in history:
        if not isinstance(record, Mapping):
            continue
        step = record.get("step")
        if not _is_number(step):
            continue
        at = float(cast(float, step))
        if _is_number(record.get("train_loss")):
            train.append((at, float(record["train_loss"])))
        if _is_number(record.get("learning_rate")):
            rates.append((at, float(record["learning_rate"])))
        metrics = record.get("eval", record.get("metrics"))
        if isinstance(metrics, Mapping):
            for name, value in metrics.items():
                if _is_number(value):
                    evals.setdefault(str(name), []).append((at, float(value)))
            if record.get("improved"):
                improved.append(at)

    eval_loss = {name: pts for name, pts in evals.items() if name in _LOSS_KEYS}
    selected = evals.get(metric) if metric and metric not in _LOSS_KEYS else None
    bounded = {
        name: pts
        for name, pts in sorted(evals.items())
        if name not in _LOSS_KEYS and name != metric and not _is_count(name) and all(-1.0 <= v <= 1.0 for _, v in pts)
    }
    panels = [
        name
        for name, present in (("loss", train or eval_loss), ("selected", selected), ("bounded", bounded), ("lr", rates))
        if present
    ]
    if not panels:
        return None

    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    fig = _new_figure(6.0 * columns, 4.0 * rows)
    for index, panel in enumerate(panels, start=1):
        ax = fig.add_subplot(rows, columns, index)
        if panel == "loss":
            if train:
                ax.plot(*zip(*sorted(train)), label="train loss", linewidth=1.2, color="#1f77b4")
            for name, pts in eval_loss.items():
                label = "dev loss" if name == "loss" else f"dev {name}"
                ax.plot(*zip(*sorted(pts)), marker="o", markersize=3, label=label, color="#ff7f0e")
            ax.set_ylabel("loss")
            ax.set_title("Loss: train and dev")
        elif panel == "selected":
            pts = sorted(cast(list, selected))
            ax.plot(*zip(*pts), marker="o", markersize=4, color="#2ca02c", label=f"dev {metric}")
            best = best_step if best_step is not None else (improved[-1] if improved else None)
            at_best = [(s, v) for s, v in pts if best is not None and s == float(best)]
            if at_best:
                s, v = at_best[-1]
                ax.plot(
                    [s],
                    [v],
                    marker="*",
                    markersize=14,
                    color="#d62728",
                    linestyle="none",
                    label=f"best {v:.4f} (step {int(s)})",
                )
            ax.set_ylabel(str(metric))
            ax.set_title(f"Dev {metric} (selects the best checkpoint)")
        elif panel == "bounded":
            for name, pts in bounded.items():
                ax.plot(*zip(*sorted(pts)), marker="o", markersize=2.5, linewidth=1.0, label=name)
            low = min(v for pts in bounded.values() for _, v in pts)
            ax.set_ylim(min(0.0, low) - 0.02, 1.02)
            ax.set_ylabel("value (0-1 scale)")
            ax.set_title("Other dev metrics")
        else:
            ax.plot(*zip(*sorted(rates)), color="#9467bd", linewidth=1.2, label="learning rate")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
            ax.set_ylabel("learning rate")
            ax.set_title("Learning rate")
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7 if panel == "bounded" else 8, ncol=2 if panel == "bounded" and len(bounded) > 5 else 1)
    return fig


@_with_fonts
def plot_training_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    metric: str | None = None,
    best_step: int | None = None,
) -> Path | None:
    """Save :func:`training_curves_figure` as a PNG; None (and no file) when there is nothing to plot."""
    fig = training_curves_figure(history, metric=metric, best_step=best_step)
    return None if fig is None else _save(fig, path)


# --- helpers ----------------------------------------------------------------------------------------


def _tick_font(n: int) -> int:
    return 10 if n <= 12 else 8 if n <= 30 else 6


def _pair_arrays(gold: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(gold, dtype=float).reshape(-1)
    y = np.asarray(predicted, dtype=float).reshape(-1)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError(f"gold and predicted must be non-empty and of one length, got {x.size} and {y.size}")
    return x, y


def _corner_text(ax: Any, text: str) -> None:
    ax.text(
        0.03, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "edgecolor": "#cccccc"},
    )  # fmt: skip


def _cell(value: Any) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= _MAX_CELL_CHARS else text[: _MAX_CELL_CHARS - 1] + "…"


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    fig.clear()
    atomic_write_bytes(buffer.getvalue(), target)
    return target


def _short(label: Any) -> str:
    text = str(label)
    return text if len(text) <= _MAX_TICK_CHARS else text[: _MAX_TICK_CHARS - 1] + "…"


def _label_margin(names: Sequence[str], font: float) -> float:
    """Inches taken by the longest tick label at ``font`` points (about 0.6 em per character)."""
    return max((len(name) for name in names), default=0) * font * 0.6 / 72


def _clip(inches: float, low: float = _MIN_INCHES, high: float = _MAX_INCHES) -> float:
    return float(min(max(inches, low), high))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (what Spearman's correlation correlates)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, dtype=float)
    ranks[order] = np.arange(values.size, dtype=float)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's correlation; NaN when either side is constant."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
