"""Regression metrics as a plain, JSON-ready dict (built-in floats and ints only).

Pearson and Spearman correlations are undefined when the predictions (or the gold values) are all
the same, or when there are fewer than two examples: they are then reported as 0.0 and ``note``
says why, rather than NaN (which JSON cannot hold) or an error. scipy and scikit-learn are
imported on first use to keep ``import tunelab`` fast.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

__all__ = ["METRIC_DIRECTIONS", "PLOTTED_POINTS", "regression_metrics"]

Direction = Literal["max", "min"]

#: Metrics that can select the best checkpoint, and whether higher ("max") or lower ("min") is better.
METRIC_DIRECTIONS: dict[str, Direction] = {
    "spearman": "max",
    "pearson": "max",
    "mse": "min",
    "mae": "min",
    "rmse": "min",
    "loss": "min",
}

#: At most this many (gold, predicted) points are kept in the metrics for the scatter plot; larger
#: sets are thinned to evenly spaced examples, so report.json stays small.
PLOTTED_POINTS = 2000


def regression_metrics(
    gold: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray, *, points: int = PLOTTED_POINTS
) -> dict[str, Any]:
    """Correlations and errors of ``predicted`` against ``gold`` (same length, at least one).

    ``points`` (gold, predicted) pairs go under ``points`` for plotting (0: none)."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    y = np.asarray(gold, dtype=np.float64).reshape(-1)
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"gold and predicted have different lengths: {y.size} != {p.size}")
    if y.size == 0:
        raise ValueError("no examples to evaluate: gold and predicted are empty")
    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise ValueError("gold and predicted values must be finite numbers")

    mse = float(mean_squared_error(y, p))
    result: dict[str, Any] = {
        "num_examples": int(y.size),
        "spearman": 0.0,
        "pearson": 0.0,
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(mean_absolute_error(y, p)),
        "gold_mean": float(y.mean()),
        "gold_std": float(y.std()),
        "predicted_mean": float(p.mean()),
        "predicted_std": float(p.std()),
    }
    undefined = _undefined(y, p)
    if undefined:
        result["note"] = f"{undefined}: pearson and spearman are undefined and reported as 0.0"
    else:
        with warnings.catch_warnings():  # nearly constant input: the value is still defined
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.filterwarnings("ignore", message=".*(constant|Constant).*")
            result["spearman"] = _finite(spearmanr(y, p).statistic)
            result["pearson"] = _finite(pearsonr(y, p).statistic)
    if points > 0:
        keep = np.unique(np.linspace(0, y.size - 1, min(points, y.size)).round().astype(int))
        result["points"] = {
            "gold": [round(float(v), 5) for v in y[keep]],
            "predicted": [round(float(v), 5) for v in p[keep]],
        }
    return result


def _undefined(y: np.ndarray, p: np.ndarray) -> str:
    if y.size < 2:
        return "fewer than 2 examples"
    if np.ptp(p) == 0:
        return "the predictions are all the same"
    if np.ptp(y) == 0:
        return "the gold values are all the same"
    return ""


def _finite(value: Any) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0
