"""PNG plots for evaluation results and training history: the ``plot_*`` functions save the figures
that the modules of this package build (``base``, ``classification``, ``regression``, ``ner``, ``curves``).

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas, never through pyplot, so
no global figure state is created or leaked and no GUI backend is touched. Files are written
atomically: the PNG is rendered in memory and then moved over ``path`` in one ``os.replace``.
matplotlib is imported lazily so that importing :mod:`tunelab.evaluation` stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.evaluation.plots.base import (
    _MAX_ANNOTATED_LABELS,
    _new_figure,  # noqa: F401  (tunelab.workflow.compare draws with it)
    _save,
    _with_fonts,
)
from tunelab.evaluation.plots.classification import (  # noqa: F401
    confusion_focus_figure,
    confusion_matrix_figure,
    confusion_pairs,
    f1_bars_figure,
    multilabel_counts_figure,
)
from tunelab.evaluation.plots.curves import training_curves_figure  # noqa: F401
from tunelab.evaluation.plots.ner import NER_ERROR_KINDS, ner_errors_figure  # noqa: F401
from tunelab.evaluation.plots.regression import residuals_figure, scatter_figure  # noqa: F401

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
