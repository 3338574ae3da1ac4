"""Out-of-scope detection: a score per text (higher: further from every label), a threshold, metrics.

Scorers, all on what one forward pass of the classifier gives (so torch, ONNX and the service
agree): ``msp`` 1 - the maximum softmax probability (Hendrycks & Gimpel 2017), ``energy`` minus
the logsumexp of the logits (Liu et al. 2020), ``mahalanobis`` the smallest squared Mahalanobis
distance of the pooled features to a class mean under one shared covariance (Lee et al. 2018;
Ledoit-Wolf shrinkage, since a few hundred texts estimate a 384 x 384 covariance badly), ``knn``
the cosine distance to the k-th nearest normalised training feature (Sun et al. 2022).
The feature scorers' statistics live in the artifact's ``out_of_scope.safetensors``.

The threshold: a text is out-of-scope when its score is above it. Tuned on dev: with dev rows
labelled out-of-scope, the one maximising (in-scope accuracy + out-of-scope recall) / 2, both
populations weighted equally whatever their sizes (in-scope accuracy counts a rejected in-scope
text as wrong); without them, the one that keeps ``in_scope_recall`` of the dev in-scope texts.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.errors import ArtifactLoadError, ConfigError
from tunelab.tasks.text_classification.oos_config import FEATURE_SCORERS, OutOfScopeConfig

STATS_FILE = "out_of_scope.safetensors"
OOS_TARGET = -100  # an out-of-scope row's target: cross-entropy's ignore index, so dev loss skips it
AUTO_ORDER = ("msp", "energy", "mahalanobis", "knn")
# auto without out-of-scope dev rows: Mahalanobis distance on the fine-tuned features, the most
# reliable of these scorers for fine-tuned transformers in Podolskiy et al. (2021, "Revisiting
# Mahalanobis distance for transformer-based out-of-domain detection": CLINC150, ROSTD, SNIPS);
# msp when the model gives no features.
AUTO_DEFAULT = "mahalanobis"
MAX_FEATURE_TEXTS = 50_000  # training texts whose features fit the statistics (a seeded sample beyond)
FPR_RECALL = 0.95
HISTOGRAM_BINS = 40


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    from scipy.special import logsumexp

    return np.asarray(logsumexp(np.asarray(logits, dtype=np.float64), axis=-1))


def msp_scores(probs: np.ndarray) -> np.ndarray:
    return 1.0 - np.asarray(probs, dtype=np.float64).max(axis=-1)


def energy_scores(logits: np.ndarray) -> np.ndarray:
    return -_logsumexp(logits)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class Mahalanobis:
    """Class means and a whitening matrix W (W W^T = the shared precision matrix)."""

    def __init__(self, means: np.ndarray, whitening: np.ndarray) -> None:
        self.means = np.asarray(means, dtype=np.float64)
        self.whitening = np.asarray(whitening, dtype=np.float64)
        self._white_means = self.means @ self.whitening

    @classmethod
    def fit(cls, features: np.ndarray, classes: np.ndarray) -> Mahalanobis:
        from sklearn.covariance import LedoitWolf

        x = np.asarray(features, dtype=np.float64)
        present = np.unique(classes)
        means = np.stack([x[classes == c].mean(axis=0) for c in present])
        centred = x - means[np.searchsorted(present, classes)]
        precision = LedoitWolf(assume_centered=True).fit(centred).precision_
        precision = (precision + precision.T) / 2
        try:
            whitening = np.linalg.cholesky(precision)
        except np.linalg.LinAlgError:  # not positive definite in floating point: the symmetric root
            values, vectors = np.linalg.eigh(precision)
            whitening = vectors * np.sqrt(np.clip(values, 0.0, None))
        return cls(means, whitening)

    def scores(self, features: np.ndarray) -> np.ndarray:
        z = np.asarray(features, dtype=np.float64) @ self.whitening
        m = self._white_means
        d2 = (z * z).sum(axis=1, keepdims=True) - 2.0 * z @ m.T + (m * m).sum(axis=1)[None, :]
        return np.maximum(d2.min(axis=1), 0.0)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"mahalanobis.means": self.means, "mahalanobis.whitening": self.whitening}


class Knn:
    """The normalised training features (the bank); the score is 1 - the k-th largest cosine."""

    def __init__(self, bank: np.ndarray, k: int) -> None:
        self.bank = _normalise(bank).astype(np.float32)
        self.k = max(1, min(int(k), len(self.bank)))

    def scores(self, features: np.ndarray, chunk: int = 1024) -> np.ndarray:
        query = _normalise(features).astype(np.float32)
        out = np.empty(len(query))
        for start in range(0, len(query), chunk):
            sims = query[start : start + chunk] @ self.bank.T
            out[start : start + chunk] = 1.0 - np.partition(sims, -self.k, axis=1)[:, -self.k]
        return out

    def tensors(self) -> dict[str, np.ndarray]:
        return {"knn.bank": self.bank}


class Scorer:
    """A fitted scorer: ``scores(logits, probs, features)`` -> one number per text."""

    def __init__(self, name: str, model: Mahalanobis | Knn | None = None) -> None:
        self.name, self.model = name, model

    @property
    def needs_features(self) -> bool:
        return self.name in FEATURE_SCORERS

    def scores(self, logits: np.ndarray, probs: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        if self.name == "msp":
            return msp_scores(probs)
        if self.name == "energy":
            return energy_scores(logits)
        if features is None or self.model is None:
            raise ConfigError(f"the {self.name} out-of-scope scorer needs the model's features; none were given")
        return self.model.scores(features)


def load_scorer(state: dict[str, Any], directory: str | Path | None) -> Scorer:
    """The fitted scorer of an artifact's ``out_of_scope`` state (its statistics from ``directory``)."""
    name = str(state["scorer"])
    if name not in FEATURE_SCORERS:
        return Scorer(name)
    path = Path(directory or ".") / STATS_FILE
    if directory is None or not path.is_file():
        raise ArtifactLoadError(
            f"{path} is missing: the {name} out-of-scope scorer keeps its statistics there; the artifact is incomplete"
        )
    from safetensors.numpy import load_file

    tensors = load_file(str(path))
    try:
        if name == "mahalanobis":
            return Scorer(name, Mahalanobis(tensors["mahalanobis.means"], tensors["mahalanobis.whitening"]))
        return Scorer(name, Knn(tensors["knn.bank"], int(state.get("k", 10))))
    except KeyError as err:
        raise ArtifactLoadError(f"{path} lacks {err}; the artifact is damaged") from None


# -- thresholds -------------------------------------------------------------------------------------
def tune_threshold(
    scores: np.ndarray, is_oos: np.ndarray, correct: np.ndarray, objective: str = "accuracy"
) -> tuple[float, float]:
    """(threshold, criterion): the threshold maximising the ``objective`` over every cut between two
    dev scores; ``correct``: the in-scope rows' closed-set prediction is right. ``accuracy``: the
    share of all dev rows handled right (an in-scope row accepted with the right label, an
    out-of-scope row rejected), so the dev mix of the two weighs as it will in use; ``balanced``:
    (in-scope accuracy + out-of-scope recall) / 2, both populations equal whatever their sizes.
    Several neighbouring cuts may be best (a gap between the two populations): the threshold lies
    in the middle of that range, as far from both sides as the dev scores allow."""
    s = np.asarray(scores, dtype=np.float64)
    oos = np.asarray(is_oos, dtype=bool)
    ok = np.asarray(correct, dtype=bool) & ~oos
    n_in, n_oos = int((~oos).sum()), int(oos.sum())
    cuts = np.unique(s)
    ok_sorted, oos_sorted = np.sort(s[ok]), np.sort(s[oos])
    accepted_ok = np.searchsorted(ok_sorted, cuts, side="right")  # right in-scope texts kept (score <= cut)
    rejected_oos = n_oos - np.searchsorted(oos_sorted, cuts, side="right")
    if objective == "balanced":
        criterion = (accepted_ok / max(n_in, 1) + rejected_oos / max(n_oos, 1)) / 2
        all_out = 0.5 if n_oos else 0.0  # the cut below every score rejects everything
    else:
        criterion = (accepted_ok + rejected_oos) / max(n_in + n_oos, 1)
        all_out = n_oos / max(n_in + n_oos, 1)
    value = float(criterion.max())
    if value < all_out:
        return float(cuts[0] - 1.0), all_out
    first = last = int(np.argmax(criterion))
    while last + 1 < len(cuts) and criterion[last + 1] >= value - 1e-12:
        last += 1
    upper = cuts[last + 1] if last + 1 < len(cuts) else cuts[last] + 1.0
    return float((cuts[first] + upper) / 2), value


def recall_threshold(scores: np.ndarray, recall: float) -> float:
    """The smallest score that keeps at least ``recall`` of ``scores`` (in-scope texts) at or below it."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("no in-scope scores to set a recall threshold on")
    kept = min(ordered.size, max(1, math.ceil(recall * ordered.size - 1e-9)))
    return float(ordered[kept - 1])


# -- fitting ----------------------------------------------------------------------------------------
def fit_out_of_scope(
    config: OutOfScopeConfig,
    *,
    logits: np.ndarray,
    probs: np.ndarray,
    gold: np.ndarray,
    features: np.ndarray | None,
    train_features: np.ndarray | None,
    train_classes: np.ndarray | None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the ``out_of_scope`` state, the tensors of its statistics file) fitted on the dev rows
    (``gold``: class ids, OOS_TARGET for out-of-scope rows) and the training features."""
    from sklearn.metrics import roc_auc_score

    gold = np.asarray(gold)
    is_oos = gold == OOS_TARGET
    has_features = features is not None and train_features is not None and train_classes is not None
    if config.scorer in FEATURE_SCORERS and not has_features:
        raise ConfigError(
            f"task.out_of_scope.scorer {config.scorer} needs the pooled features the classifier reads, and this "
            "model's head gives none (no linear classifier layer); use msp or energy"
        )
    names = (
        [config.scorer]
        if config.scorer != "auto"
        else [n for n in AUTO_ORDER if has_features or n not in FEATURE_SCORERS]
    )
    fitted: dict[str, Scorer] = {}
    for name in names:
        model: Mahalanobis | Knn | None = None
        if name == "mahalanobis":
            model = Mahalanobis.fit(train_features, train_classes)  # type: ignore[arg-type]
        elif name == "knn":
            model = Knn(train_features, config.knn_k)  # type: ignore[arg-type]
        fitted[name] = Scorer(name, model)
    dev_scores = {name: scorer.scores(logits, probs, features) for name, scorer in fitted.items()}
    both = bool(is_oos.any() and (~is_oos).any())
    auroc = {name: float(roc_auc_score(is_oos, s)) for name, s in dev_scores.items()} if both else {}
    chosen: str
    if config.scorer != "auto":
        chosen, how = config.scorer, "set by task.out_of_scope.scorer"
    elif both:
        chosen = max(auroc, key=lambda n: auroc[n])
        shown = ", ".join(f"{n} {v:.4f}" for n, v in auroc.items())
        how = f"auto: the best dev AUROC ({shown})"
    else:
        chosen = AUTO_DEFAULT if has_features else "msp"
        how = f"auto: no dev rows labelled '{config.label}', so the default {chosen}" + (
            "" if has_features else " (the model gives no features)"
        )
    scores = dev_scores[chosen]
    correct = np.asarray(probs).argmax(axis=-1) == gold
    if config.threshold is not None:
        threshold, rule = float(config.threshold), "set by task.out_of_scope.threshold"
    elif both:
        threshold, value = tune_threshold(scores, is_oos, correct, config.objective)
        what = (
            "(in-scope accuracy + out-of-scope recall) / 2"
            if config.objective == "balanced"
            else "accuracy over all of them (out-of-scope rows rejected, in-scope rows right)"
        )
        rule = (
            f"tuned on {int(is_oos.sum())} out-of-scope and {int((~is_oos).sum())} in-scope dev rows: max "
            f"{what} = {value:.4f}"
        )
    elif (~is_oos).any():
        threshold = recall_threshold(scores[~is_oos], config.in_scope_recall)
        rule = f"keeps {config.in_scope_recall:.0%} of the {int((~is_oos).sum())} in-scope dev rows"
    else:
        raise ConfigError("task.out_of_scope needs in-scope dev rows to tune the threshold; set its threshold")
    state: dict[str, Any] = {
        "label": config.label,
        "scorer": chosen,
        "threshold": threshold,
        "chosen_by": how,
        "threshold_rule": rule,
        "dev_auroc": auroc,
    }
    tensors: dict[str, np.ndarray] = {}
    model = fitted[chosen].model
    if model is not None:
        tensors = model.tensors()
        state["feature_size"] = int(np.asarray(features).shape[-1])
        state["k"] = config.knn_k
        digest = hashlib.sha256()
        for key in sorted(tensors):
            digest.update(np.ascontiguousarray(tensors[key]).tobytes())
        state["stats_sha256"] = digest.hexdigest()
    return state, tensors


def describe(state: dict[str, Any]) -> str:
    """One line: the scorer, the threshold and how each was chosen."""
    return (
        f"out-of-scope: scorer {state['scorer']} ({state.get('chosen_by', '')}), threshold "
        f"{float(state['threshold']):.6g} ({state.get('threshold_rule', '')}); label '{state.get('label', 'oos')}'"
    )


# -- metrics ----------------------------------------------------------------------------------------
def fpr_at_recall(in_scope: np.ndarray, out_of_scope: np.ndarray, recall: float = FPR_RECALL) -> float:
    """The share of out-of-scope texts accepted when the threshold keeps ``recall`` of the in-scope ones."""
    cut = recall_threshold(in_scope, recall)
    return float((np.asarray(out_of_scope) <= cut).mean())


def out_of_scope_metrics(
    *, is_oos: np.ndarray, rejected: np.ndarray, correct: np.ndarray, scores: np.ndarray, threshold: float, scorer: str
) -> dict[str, Any]:
    """in_scope_accuracy (a rejected in-scope text counts as wrong), oos_recall, oos_precision, oos_f1,
    oos_auroc (sklearn's roc_auc_score of the scores), oos_fpr_at_95_recall, the share of in-scope
    texts rejected, and a histogram of the scores (the plot's data)."""
    from sklearn.metrics import roc_auc_score

    is_oos, rejected = np.asarray(is_oos, dtype=bool), np.asarray(rejected, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    inside = ~is_oos
    out: dict[str, Any] = {"num_in_scope": int(inside.sum()), "num_out_of_scope": int(is_oos.sum())}
    if inside.any():
        out["in_scope_accuracy"] = float((np.asarray(correct, dtype=bool) & ~rejected)[inside].mean())
        out["in_scope_rejected"] = float(rejected[inside].mean())
    if is_oos.any():
        hits = int((rejected & is_oos).sum())
        recall = hits / int(is_oos.sum())
        precision = hits / int(rejected.sum()) if rejected.any() else 0.0
        out["oos_recall"] = float(recall)
        out["oos_precision"] = float(precision)
        out["oos_f1"] = float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0
    if inside.any() and is_oos.any():
        out["oos_auroc"] = float(roc_auc_score(is_oos, s))
        out["oos_fpr_at_95_recall"] = fpr_at_recall(s[inside], s[is_oos])
    out["oos_histogram"] = histogram(s, is_oos, threshold, scorer)
    return out


def histogram(scores: np.ndarray, is_oos: np.ndarray, threshold: float, scorer: str) -> dict[str, Any]:
    """Counts of the in-scope and out-of-scope scores in HISTOGRAM_BINS equal bins (the plot's data)."""
    s = np.asarray(scores, dtype=np.float64)
    finite = s[np.isfinite(s)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    low, high = min(low, threshold), max(high, threshold)
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    counts = {
        name: np.histogram(s[mask & np.isfinite(s)], bins=edges)[0].tolist()
        for name, mask in (("in_scope", ~is_oos), ("out_of_scope", is_oos))
    }
    return {"scorer": scorer, "threshold": float(threshold), "edges": edges.tolist(), **counts}


def sample_rows(n: int, limit: int = MAX_FEATURE_TEXTS, seed: int = 0) -> Sequence[int]:
    """All row indices, or a seeded sorted sample of ``limit`` of them."""
    if n <= limit:
        return range(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False)).tolist()
