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

__all__ = ["plot_confusion_matrix", "plot_multilabel_counts", "plot_scatter", "plot_training_curves"]

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


@_with_fonts
def plot_confusion_matrix(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Save a confusion-matrix heatmap (rows = true, columns = predicted) as a PNG.

    With ``normalize`` each row is divided by its total (rows with no examples stay 0). Cell values
    are written only for up to 20 labels; the figure grows ~0.22 inch per label (5 to 30 inches).
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

    font = 10 if n <= 12 else 8 if n <= 30 else 6
    margin = _label_margin(names, font)
    side = _clip(_INCH_PER_LABEL * n + margin + 1.0)
    fig = _new_figure(side + 1.2, side)  # + room for the colorbar
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    # ~0.3 inch wide however large the figure (fraction is relative to the heatmap's width)
    cbar = fig.colorbar(image, ax=ax, fraction=min(0.046, 0.35 / side), aspect=max(20.0, 2.5 * side), pad=0.02)
    cbar.ax.tick_params(labelsize=8)
    if normalize:
        cbar.set_label("share of true label", fontsize=9)

    ticks = np.arange(n)
    if n > 8:
        ax.set_xticks(ticks, names, fontsize=font, rotation=90)
    else:
        ax.set_xticks(ticks, names, fontsize=font, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, names, fontsize=font)
    ax.set_xlabel("Predicted", fontsize=11)
    ax.set_ylabel("True", fontsize=11)
    default_title = "Confusion matrix (row-normalised)" if normalize else "Confusion matrix"
    ax.set_title(title if title is not None else default_title, fontsize=12)

    if n <= _MAX_ANNOTATED_LABELS:
        cell_font = 9 if n <= 8 else 7 if n <= 14 else 6
        for (i, j), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{int(round(value))}"
            color = "white" if value > 0.5 * vmax else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=cell_font, color=color)
    return _save(fig, path)


@_with_fonts
def plot_multilabel_counts(
    per_label_confusion: Mapping[str, Mapping[str, int]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Save a horizontal stacked bar chart of TP / FP / FN per label (multi-label tasks)."""
    if not per_label_confusion:
        raise ValueError("per_label_confusion is empty: nothing to plot")
    names = [_short(label) for label in per_label_confusion]
    counts = {
        key: np.array([int(c.get(key, 0)) for c in per_label_confusion.values()], dtype=float)
        for key in ("tp", "fp", "fn")
    }
    n = len(names)
    font = 10 if n <= 12 else 8 if n <= 30 else 6
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
    ax.invert_yaxis()  # first label on top
    ax.set_xlabel("Examples")
    ax.set_ylim(n - 0.5, -0.5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title if title is not None else "Per-label TP / FP / FN")
    return _save(fig, path)


@_with_fonts
def plot_scatter(
    gold: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    scores: Mapping[str, float] | None = None,
) -> Path:
    """Save a scatter plot of predicted against gold values (regression) as a PNG.

    The dashed diagonal marks perfect predictions. ``scores`` (e.g. ``{"Spearman": 0.87}``) are
    written in the upper-left corner; when None, Pearson's and Spearman's correlations of the
    points themselves are. Points are drawn translucent, so dense regions show.
    """
    x = np.asarray(gold, dtype=float).reshape(-1)
    y = np.asarray(predicted, dtype=float).reshape(-1)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError(f"gold and predicted must be non-empty and of one length, got {x.size} and {y.size}")
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
    ax.set_xlabel("Gold")
    ax.set_ylabel("Predicted")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    shown = [f"{name} {value:.3f}" for name, value in scores.items() if _is_number(value)]
    shown.append(f"n = {x.size}")
    ax.text(
        0.03,
        0.97,
        "\n".join(shown),
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "edgecolor": "#cccccc"},
    )
    ax.set_title(title if title is not None else "Predicted against gold")
    return _save(fig, path)


@_with_fonts
def plot_training_curves(history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path | None:
    """Save train loss and eval metrics against the optimizer step; None when nothing to plot.

    ``history`` mixes train records ``{"step", "epoch", "train_loss"}`` and eval records
    ``{"step", "epoch", "eval": {metric: value}}``. Records without a numeric ``step``, and values
    that are not finite numbers, are skipped. Eval loss is drawn with the train loss; the other eval
    metrics share the second panel.
    """
    train: list[tuple[float, float]] = []
    evals: dict[str, list[tuple[float, float]]] = {}
    for record in history:
        if not isinstance(record, Mapping):
            continue
        step = record.get("step")
        if not _is_number(step):
            continue
        at = float(cast(float, step))
        if _is_number(record.get("train_loss")):
            train.append((at, float(record["train_loss"])))
        metrics = record.get("eval")
        if isinstance(metrics, Mapping):
            for name, value in metrics.items():
                if _is_number(value):
                    evals.setdefault(str(name), []).append((at, float(value)))

    eval_loss = {name: pts for name, pts in evals.items() if name in _LOSS_KEYS}
    other = {name: pts for name, pts in evals.items() if name not in _LOSS_KEYS}
    panels = (["loss"] if train or eval_loss else []) + (["metrics"] if other else [])
    if not panels:
        return None

    fig = _new_figure(6.0 * len(panels), 4.2)
    for index, panel in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), index)
        if panel == "loss":
            if train:
                ax.plot(*zip(*sorted(train)), label="train loss", linewidth=1.2)
            for name, pts in eval_loss.items():
                ax.plot(*zip(*sorted(pts)), marker="o", markersize=3, label=f"eval {name}")
            ax.set_ylabel("loss")
            ax.set_title("Loss")
        else:
            for name, pts in sorted(other.items()):
                ax.plot(*zip(*sorted(pts)), marker="o", markersize=3, label=name)
            ax.set_ylabel("value")
            ax.set_title("Evaluation metrics")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


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
