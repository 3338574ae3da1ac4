"""Calibration: temperature scaling (Guo et al. 2017) and expected calibration error.

One temperature T divides every logit (softmax(z / T)): the predicted class never changes, only
how sure the probabilities say the model is. T is fitted on the dev texts' logits by minimising the
negative log-likelihood of their labels (scipy's bounded scalar search on log T; one parameter needs
no gradient machinery). ECE: 15 equal-width confidence bins, the support-weighted mean gap between
each bin's accuracy and its mean confidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ECE_BINS = 15
LOG_T_BOUNDS = (-4.6, 4.6)  # T between 0.01 and 100


def scaled_nll(logits: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``gold`` under softmax(logits / temperature)."""
    from scipy.special import logsumexp

    z = np.asarray(logits, dtype=np.float64) / temperature
    gold = np.asarray(gold, dtype=np.int64)
    return float(np.mean(logsumexp(z, axis=-1) - z[np.arange(len(z)), gold]))


def fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The temperature minimising the dev NLL (1.0 when there is nothing to fit on)."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    if not len(logits):
        return 1.0
    result = minimize_scalar(
        lambda log_t: scaled_nll(logits, gold, float(np.exp(log_t))),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))


def _bin_of(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Bin i holds confidences in (i/bins, (i+1)/bins]; 0 goes to the first bin."""
    return np.clip(np.ceil(np.asarray(confidence, dtype=np.float64) * bins).astype(np.int64) - 1, 0, bins - 1)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """sum over bins of |bin| / n * |accuracy(bin) - mean confidence(bin)|."""
    conf = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    if not len(conf):
        return 0.0
    index = _bin_of(conf, bins)
    count = np.bincount(index, minlength=bins)
    gap = np.abs(np.bincount(index, right, minlength=bins) - np.bincount(index, conf, minlength=bins))
    return float(gap.sum() / len(conf)) if count.sum() else 0.0


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> dict[str, Any]:
    """Per bin: the texts, their mean confidence and their accuracy (None for an empty bin)."""
    conf = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    index = _bin_of(conf, bins)
    count = np.bincount(index, minlength=bins)
    sums = np.bincount(index, conf, minlength=bins)
    hits = np.bincount(index, right, minlength=bins)
    return {
        "bins": bins,
        "count": count.tolist(),
        "confidence": [float(s / c) if c else None for s, c in zip(sums, count)],
        "accuracy": [float(h / c) if c else None for h, c in zip(hits, count)],
    }
