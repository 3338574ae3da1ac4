"""Regression: predicted against gold, and the residuals."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tunelab.evaluation.plots.base import (
    _corner_text,
    _correlation,
    _is_number,
    _new_figure,
    _pair_arrays,
    _ranks,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
