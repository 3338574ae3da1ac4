"""The plots of out-of-scope detection and calibration, drawn from what the metrics keep:
``oos_histogram`` (the score distributions of in-scope and out-of-scope texts, the threshold) and
``reliability`` (accuracy against confidence per bin, before and after temperature scaling)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OOS_SCORES_FILE = "oos_scores.png"
RELIABILITY_FILE = "reliability.png"


def oos_scores_figure(histogram: Mapping[str, Any], *, title: str) -> Figure:
    from tunelab.evaluation.plots.base import _new_figure

    edges = np.asarray(histogram["edges"], dtype=np.float64)
    widths = np.diff(edges)
    fig = _new_figure(7.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for key, name, colour in (("in_scope", "in-scope", "#4c72b0"), ("out_of_scope", "out-of-scope", "#dd8452")):
        counts = np.asarray(histogram.get(key) or [0] * len(widths), dtype=np.float64)
        total = counts.sum()
        if total:  # shares, so a small out-of-scope set is as visible as the in-scope one
            ax.bar(edges[:-1], counts / total, width=widths, align="edge", alpha=0.55, color=colour, label=name)
    ax.axvline(float(histogram["threshold"]), color="black", linestyle="--", label="threshold")
    ax.set_xlabel(f"{histogram.get('scorer', '')} score (higher: out-of-scope)")
    ax.set_ylabel("share of texts")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def reliability_figure(curves: Mapping[str, Mapping[str, Any]], *, title: str) -> Figure:
    from tunelab.evaluation.plots.base import _new_figure

    fig = _new_figure(5.4, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    styles = {"uncalibrated": ("#dd8452", "s"), "calibrated": ("#4c72b0", "o"), "model": ("#4c72b0", "o")}
    for name, curve in curves.items():
        points = [
            (c, a) for c, a, n in zip(curve["confidence"], curve["accuracy"], curve["count"]) if n and c is not None
        ]
        if not points:
            continue
        colour, marker = styles.get(name, ("#55a868", "^"))
        ax.plot(*zip(*points), color=colour, marker=marker, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def write_post_training_plots(directory: Path, metrics: Mapping[str, Any], *, split: str = "dev") -> list[Path]:
    """oos_scores.png and reliability.png, when the metrics hold their data."""
    from tunelab.evaluation.plots.base import _save

    written: list[Path] = []
    histogram = metrics.get("oos_histogram")
    if isinstance(histogram, Mapping) and histogram.get("edges"):
        auroc = metrics.get("oos_auroc")
        extra = f", AUROC {float(auroc):.3f}" if isinstance(auroc, float) else ""
        title = f"Out-of-scope scores ({split}{extra})"
        written.append(_save(oos_scores_figure(histogram, title=title), directory / OOS_SCORES_FILE))
    curves = metrics.get("reliability")
    if isinstance(curves, Mapping) and curves:
        eces = [f"ECE {float(metrics['ece']):.3f}"] if isinstance(metrics.get("ece"), float) else []
        if isinstance(metrics.get("ece_uncalibrated"), float):
            eces.append(f"before scaling {float(metrics['ece_uncalibrated']):.3f}")
        title = f"Reliability ({split}{'; ' + ', '.join(eces) if eces else ''})"
        written.append(_save(reliability_figure(curves, title=title), directory / RELIABILITY_FILE))
    return written
