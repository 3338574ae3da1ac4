"""head_c auto: the logistic head's C chosen by cross-validation on the training embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.config import load_config
from tunelab.errors import ConfigError
from tunelab.tasks.text_classification.few_shot import fit_logistic
from tunelab.tasks.text_classification.head_c import C_GRID, _folds, choose_c


def _clusters(labels: int, per_label: int, spread: float, seed: int = 0):
    """Unit vectors around ``labels`` random directions; ``spread``: the noise around each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(labels, 32))
    x = np.repeat(centres, per_label, axis=0) + spread * rng.normal(size=(labels * per_label, 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, [(i // per_label,) for i in range(labels * per_label)]


def _fit(labels: int, multi_label: bool = False):
    return lambda x, sets, *, c: fit_logistic(x, sets, labels, multi_label=multi_label, c=c)


def test_many_labels_on_unit_vectors_want_a_weaker_penalty_than_sklearns_default():
    x, sets = _clusters(40, 8, spread=1.0)
    c, scores = choose_c(_fit(40), x, sets, multi_label=False, seed=0)
    assert set(scores) == {f"{v:g}" for v in C_GRID}
    assert c > 1.0 and scores[f"{c:g}"] > scores["1"]  # C = 1 squeezes the logits of unit vectors
    assert scores[f"{c:g}"] == max(scores.values())


def test_ties_go_to_the_stronger_penalty():
    x, sets = _clusters(3, 6, spread=0.01)  # separable at any C
    c, scores = choose_c(_fit(3), x, sets, multi_label=False, seed=0)
    assert set(scores.values()) == {1.0} and c == min(C_GRID)


def test_folds_are_stratified_and_fall_back_when_a_label_has_one_text():
    sets = [(i // 3,) for i in range(12)]  # 4 labels x 3 texts: 3 folds, each label in each held-out part
    folds = _folds(sets, seed=1)
    assert len(folds) == 3
    for _, held in folds:
        assert sorted(sets[i][0] for i in held) == [0, 1, 2, 3]
    lonely = [*sets, (4,)]
    assert len(_folds(lonely, seed=1)) == 5  # plain k-fold: a one-text label cannot be stratified
    assert choose_c(_fit(5), np.eye(1, 32), [(0,)], multi_label=False, seed=0) == (1.0, {})


def test_multi_label_scores_micro_f1():
    x, sets = _clusters(4, 6, spread=0.5)
    multi = [(s[0], (s[0] + 1) % 4) for s in sets]
    c, scores = choose_c(_fit(4, multi_label=True), x, multi, multi_label=True, seed=0)
    assert c in C_GRID and all(0.0 <= v <= 1.0 for v in scores.values()) and max(scores.values()) > 0.5


def test_config_takes_auto_or_a_positive_number():
    assert load_config(None, ["data.train=x.csv"]).training.contrastive.head_c == "auto"
    assert load_config(None, ["data.train=x.csv", "training.contrastive.head_c=10"]).training.contrastive.head_c == 10
    with pytest.raises(ConfigError, match="head_c"):
        load_config(None, ["data.train=x.csv", "training.contrastive.head_c=0"])
