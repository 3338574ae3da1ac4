"""Temperature scaling and expected calibration error on hand-made numbers; a calibrated task."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.tasks.base import softmax
from tunelab.tasks.text_classification.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability,
    scaled_nll,
)
from tunelab.tasks.text_classification.config import TextClassificationConfig
from tunelab.tasks.text_classification.task import TextClassificationTask


def _overconfident(temperature: float, n: int = 4000, seed: int = 0):
    """Labels drawn from softmax(z); the model's logits are z * temperature (too sure when > 1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, (n, 5))
    p = softmax(z)
    gold = np.array([rng.choice(5, p=row) for row in p])
    return z * temperature, gold


@pytest.mark.parametrize("true_t", [0.5, 1.0, 3.0])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    logits, gold = _overconfident(true_t)
    fitted = fit_temperature(logits, gold)
    assert fitted == pytest.approx(true_t, rel=0.08)
    assert scaled_nll(logits, gold, fitted) <= scaled_nll(logits, gold, 1.0) + 1e-9


def test_fit_temperature_without_data_is_one():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_ece_on_hand_made_bins():
    conf = np.full(10, 0.9)
    assert expected_calibration_error(conf, np.arange(10) < 9) == pytest.approx(0.0)
    assert expected_calibration_error(conf, np.ones(10, dtype=bool)) == pytest.approx(0.1)
    # two bins of 5: confidence 0.95 all right (gap 0.05), confidence 0.55 one right (gap 0.35)
    conf = np.array([0.95] * 5 + [0.55] * 5)
    correct = np.array([1] * 5 + [1, 0, 0, 0, 0], dtype=bool)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.5 * 0.05 + 0.5 * 0.35)
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_reliability_bins():
    curve = reliability(np.array([0.0, 1 / 15, 0.5, 1.0]), np.array([0, 1, 1, 1], dtype=bool))
    assert curve["bins"] == 15 and sum(curve["count"]) == 4
    assert curve["count"][0] == 2 and curve["count"][7] == 1 and curve["count"][14] == 1  # 0 and 1/15 share a bin
    assert curve["accuracy"][0] == 0.5 and curve["confidence"][14] == 1.0 and curve["accuracy"][3] is None


def test_a_calibrated_task_scales_probabilities_not_decisions():
    config = TextClassificationConfig(calibration="temperature")
    task = TextClassificationTask.from_state(config, {"labels": ["a", "b", "c"], "temperature": 2.0})
    logits = np.array([[3.0, 0.0, -1.0], [0.0, 0.5, 4.0]])
    items = task.decode_batch(None, [0, 1], {"logits": logits})
    assert task.class_probabilities(items) == pytest.approx(softmax(logits / 2.0))
    assert task.predictions(None, items) == ["a", "c"]
    assert task.state()["temperature"] == 2.0 and task.describe()["temperature"] == 2.0
    # the unscaled confidence travels with each item, for ece_uncalibrated
    assert np.stack(items)[:, -1] == pytest.approx(softmax(logits).max(axis=1))
    # the temperature of a state is ignored when calibration is off (an older config)
    plain = TextClassificationTask.from_state(
        TextClassificationConfig(), {"labels": ["a", "b", "c"], "temperature": 2.0}
    )
    assert plain.temperature == 1.0
