"""Regression metrics against scipy and scikit-learn, JSON-ready, with undefined correlations guarded."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_absolute_error, mean_squared_error

from tunelab.tasks.text_regression.metrics import METRIC_DIRECTIONS, regression_metrics

GOLD = [0.0, 1.0, 2.5, 3.0, 4.2, 5.0, 1.5, 2.0]
PRED = [0.3, 0.8, 2.0, 3.5, 3.9, 4.4, 2.2, 2.1]


def test_metrics_match_scipy_and_sklearn():
    m = regression_metrics(GOLD, PRED)
    assert m["num_examples"] == 8
    assert m["pearson"] == pytest.approx(pearsonr(GOLD, PRED).statistic, abs=1e-12)
    assert m["spearman"] == pytest.approx(spearmanr(GOLD, PRED).statistic, abs=1e-12)
    assert m["mse"] == pytest.approx(mean_squared_error(GOLD, PRED), abs=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(GOLD, PRED)), abs=1e-12)
    assert m["mae"] == pytest.approx(mean_absolute_error(GOLD, PRED), abs=1e-12)
    assert (m["gold_mean"], m["gold_std"]) == pytest.approx((np.mean(GOLD), np.std(GOLD)))
    assert (m["predicted_mean"], m["predicted_std"]) == pytest.approx((np.mean(PRED), np.std(PRED)))
    assert "note" not in m


def test_known_values():
    m = regression_metrics([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])  # perfectly correlated, off by 1, 2, 3
    assert m["pearson"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["mse"] == pytest.approx(14 / 3) and m["mae"] == pytest.approx(2.0)
    m = regression_metrics([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    assert m["spearman"] == pytest.approx(-1.0)


def test_json_ready_builtin_types():
    m = regression_metrics(np.asarray(GOLD, dtype=np.float32), np.asarray(PRED, dtype=np.float32))
    assert json.loads(json.dumps(m)) == m
    for key, value in m.items():
        if key != "points":
            assert type(value) in (int, float), key


def test_constant_predictions_are_zero_with_a_note_not_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConstantInputWarning from scipy either
        m = regression_metrics(GOLD, [2.0] * len(GOLD))
    assert m["pearson"] == 0.0 and m["spearman"] == 0.0
    assert "predictions are all the same" in m["note"]
    assert m["mse"] == pytest.approx(mean_squared_error(GOLD, [2.0] * len(GOLD)))
    assert "gold values are all the same" in regression_metrics([1.0, 1.0], [0.5, 2.0])["note"]
    one = regression_metrics([3.0], [2.5])
    assert one["spearman"] == 0.0 and "fewer than 2" in one["note"] and one["mae"] == pytest.approx(0.5)


def test_points_are_kept_for_the_plot_and_thinned():
    m = regression_metrics(GOLD, PRED)
    assert m["points"] == {"gold": GOLD, "predicted": PRED}
    rng = np.random.default_rng(0)
    gold = rng.normal(size=5000)
    thinned = regression_metrics(gold, gold + rng.normal(scale=0.1, size=5000), points=100)["points"]
    assert len(thinned["gold"]) == len(thinned["predicted"]) == 100
    assert thinned["gold"][0] == pytest.approx(gold[0], abs=1e-5)
    assert thinned["gold"][-1] == pytest.approx(gold[-1], abs=1e-5)
    assert "points" not in regression_metrics(GOLD, PRED, points=0)


def test_bad_input():
    with pytest.raises(ValueError, match="different lengths"):
        regression_metrics([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="empty"):
        regression_metrics([], [])
    with pytest.raises(ValueError, match="finite"):
        regression_metrics([1.0, float("nan")], [1.0, 2.0])


def test_metric_directions():
    assert METRIC_DIRECTIONS == {
        "spearman": "max",
        "pearson": "max",
        "mse": "min",
        "mae": "min",
        "rmse": "min",
        "loss": "min",
    }
