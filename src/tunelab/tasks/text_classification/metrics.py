"""Text-classification metrics as a plain, JSON-ready dict.

Every number is a built-in ``float``/``int`` (never a numpy scalar), every label of the task is
reported (including labels with no support), and no scikit-learn warning is emitted: undefined
ratios (0/0) count as 0. scikit-learn is imported on first use to keep ``import tunelab`` fast.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

__all__ = ["METRIC_DIRECTIONS", "classification_metrics", "metric_direction"]

Direction = Literal["max", "min"]

#: Metrics that can select the best checkpoint, and whether higher ("max") or lower ("min") is better.
METRIC_DIRECTIONS: dict[str, Direction] = {
    "accuracy": "max",
    "macro_f1": "max",
    "micro_f1": "max",
    "weighted_f1": "max",
    "macro_precision": "max",
    "macro_recall": "max",
    "samples_f1": "max",
    "hamming_loss": "min",
    "loss": "min",
}


def metric_direction(name: str) -> Direction:
    """Return ``"max"`` or ``"min"`` for a selectable metric; ValueError naming the known ones otherwise."""
    try:
        return METRIC_DIRECTIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(METRIC_DIRECTIONS))
        raise ValueError(f"unknown metric {name!r}; known metrics: {known}") from None


def classification_metrics(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    labels: Sequence[str],
    *,
    multi_label: bool = False,
) -> dict[str, Any]:
    """Compute classification metrics for every label in ``labels``.

    Single-label: ``y_true``/``y_pred`` are label indices of shape (n,). Multi-label: 0/1 indicator
    arrays of shape (n, len(labels)); ``accuracy`` is then exact-match (subset) accuracy.
    Raises ValueError on mismatched lengths, wrong shapes or indices outside ``labels``.
    """
    # Imported here: scikit-learn takes ~1 s to import, which `tunelab --help` should not pay.
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        hamming_loss,
        multilabel_confusion_matrix,
        precision_recall_fscore_support,
    )

    names = _check_labels(labels)
    if multi_label:
        yt = _indicators(y_true, "y_true", len(names))
        yp = _indicators(y_pred, "y_pred", len(names))
    else:
        yt = _indices(y_true, "y_true", len(names))
        yp = _indices(y_pred, "y_pred", len(names))
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"y_true and y_pred have different lengths: {yt.shape[0]} != {yp.shape[0]}")
    if yt.shape[0] == 0:
        raise ValueError("no examples to evaluate: y_true and y_pred are empty")

    label_ids = list(range(len(names)))
    common = {"labels": label_ids, "zero_division": 0}
    precision, recall, f1, support = precision_recall_fscore_support(yt, yp, average=None, **common)
    averages: dict[str, float] = {}
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(yt, yp, average=average, **common)
        averages[f"{average}_precision"] = float(p)
        averages[f"{average}_recall"] = float(r)
        averages[f"{average}_f1"] = float(f)

    result: dict[str, Any] = {
        "num_examples": int(yt.shape[0]),
        "accuracy": float(accuracy_score(yt, yp)),
        "macro_f1": averages["macro_f1"],
        "micro_f1": averages["micro_f1"],
        "weighted_f1": averages["weighted_f1"],
        "macro_precision": averages["macro_precision"],
        "macro_recall": averages["macro_recall"],
        "micro_precision": averages["micro_precision"],
        "micro_recall": averages["micro_recall"],
        "weighted_precision": averages["weighted_precision"],
        "weighted_recall": averages["weighted_recall"],
        "per_label": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
    }
    if multi_label:
        result["hamming_loss"] = float(hamming_loss(yt, yp))
        # A sample with no true and no predicted label is a correct prediction, so it scores 1
        # (zero_division=1 only affects that 0/0 case: any tp/fp/fn makes the F1 well defined).
        result["samples_f1"] = float(f1_score(yt, yp, average="samples", zero_division=1.0))
        mcm = multilabel_confusion_matrix(yt, yp, labels=label_ids)
        result["per_label_confusion"] = {
            name: {
                "tp": int(mcm[i, 1, 1]),
                "fp": int(mcm[i, 0, 1]),
                "fn": int(mcm[i, 1, 0]),
                "tn": int(mcm[i, 0, 0]),
            }
            for i, name in enumerate(names)
        }
    else:
        cm = confusion_matrix(yt, yp, labels=label_ids)
        result["confusion_matrix"] = [[int(v) for v in row] for row in cm]
    return result


def _check_labels(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str):
        raise ValueError("labels must be a sequence of label names, not a single string")
    names = [str(label) for label in labels]
    if not names:
        raise ValueError("labels is empty: at least one label name is required")
    dupes = sorted(name for name, count in Counter(names).items() if count > 1)
    if dupes:
        raise ValueError(f"labels contains duplicate names: {', '.join(map(repr, dupes))}")
    return names


def _as_array(values: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{what} is not a rectangular array: {exc}") from None
    if arr.dtype == object:
        raise ValueError(f"{what} must contain numbers, got objects of mixed or unknown type")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must contain numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
        raise ValueError(f"{what} must contain whole numbers (label indices or 0/1 indicators)")
    return arr.astype(np.int64, copy=False)


def _indices(values: Any, what: str, num_labels: int) -> np.ndarray:
    arr = _as_array(values, what)
    if arr.ndim != 1:
        raise ValueError(
            f"{what} must be a 1-D sequence of label indices for single-label metrics, got shape "
            f"{arr.shape} (pass multi_label=True for indicator matrices)"
        )
    bad = (arr < 0) | (arr >= num_labels)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what}[{pos}] = {int(arr[pos])} is out of range: label indices must be in "
            f"[0, {num_labels - 1}] for {num_labels} labels ({int(bad.sum())} value(s) out of range)"
        )
    return arr


def _indicators(values: Any, what: str, num_labels: int) -> np.ndarray:
    arr = _as_array(values, what)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, num_labels)
    if arr.ndim != 2 or arr.shape[1] != num_labels:
        raise ValueError(
            f"{what} must be a 0/1 indicator matrix of shape (n, {num_labels}) for multi-label "
            f"metrics, got shape {arr.shape}"
        )
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{what}[{row}, {col}] = {int(arr[row, col])} is out of range: multi-label indicators must be 0 or 1"
        )
    return arr
