"""classification_metrics and metric directions, checked against values computed by hand."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from tunelab.tasks.text_classification.metrics import METRIC_DIRECTIONS, classification_metrics, metric_direction

LABELS = ["neg", "neu", "pos"]
# true:  neg neg neg neu neu pos pos pos
# pred:  neg neu neu neu pos pos pos pos
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 2, 2, 2]


def _plain_types(obj):
    """True when obj contains only built-in JSON types (no numpy scalars)."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain_types(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain_types(v) for v in obj)
    return type(obj) in (int, float, str, bool) or obj is None


def test_single_label_matches_hand_computed_values():
    m = classification_metrics(Y_TRUE, Y_PRED, LABELS)
    assert m["num_examples"] == 8
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["confusion_matrix"] == [[1, 2, 0], [0, 1, 1], [0, 0, 3]]
    # neg: tp=1, predicted 1, true 3; neu: tp=1, predicted 3, true 2; pos: tp=3, predicted 4, true 3
    assert list(m["per_label"]) == LABELS
    expected = {
        "neg": (1.0, 1 / 3, 0.5, 3),
        "neu": (1 / 3, 1 / 2, 0.4, 2),
        "pos": (3 / 4, 1.0, 6 / 7, 3),
    }
    for name, (p, r, f, s) in expected.items():
        row = m["per_label"][name]
        assert row["precision"] == pytest.approx(p)
        assert row["recall"] == pytest.approx(r)
        assert row["f1"] == pytest.approx(f)
        assert row["support"] == s
    assert m["macro_precision"] == pytest.approx(25 / 36)
    assert m["macro_recall"] == pytest.approx(11 / 18)
    assert m["macro_f1"] == pytest.approx(41 / 70)
    assert m["weighted_f1"] == pytest.approx(341 / 560)
    # single-label micro averages all equal accuracy
    assert m["micro_f1"] == m["micro_precision"] == m["micro_recall"] == pytest.approx(5 / 8)
    assert "hamming_loss" not in m and "per_label_confusion" not in m


def test_accepts_numpy_arrays_and_returns_plain_json_types():
    m = classification_metrics(np.array(Y_TRUE), np.array(Y_PRED, dtype=np.int32), LABELS)
    assert _plain_types(m)
    assert json.loads(json.dumps(m)) == m
    assert m == classification_metrics(Y_TRUE, Y_PRED, LABELS)


def test_zero_support_labels_are_reported_without_warnings():
    labels = ["a", "b", "c", "never"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics([0, 1, 1, 0], [0, 1, 2, 2], labels)
    assert list(m["per_label"]) == labels
    assert m["per_label"]["never"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # "c" is predicted twice but never true: precision 0 (0/2), recall 0/0 -> 0
    assert m["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["confusion_matrix"] == [[1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert m["accuracy"] == pytest.approx(0.5)
    # a: P=1 R=1/2 F=2/3; b: P=1 R=1/2 F=2/3; c, never: 0 -> macro over all 4 labels
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 4)
    assert m["macro_precision"] == pytest.approx(0.5)
    assert m["weighted_f1"] == pytest.approx(2 / 3)


def test_confusion_matrix_is_square_even_when_labels_are_unused():
    m = classification_metrics([1, 1], [1, 1], ["x", "y", "z"])
    assert m["confusion_matrix"] == [[0, 0, 0], [0, 2, 0], [0, 0, 0]]
    assert m["accuracy"] == 1.0


MULTI_LABELS = ["a", "b", "c"]
M_TRUE = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]]
M_PRED = [[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]]


def test_multi_label_matches_hand_computed_values():
    m = classification_metrics(M_TRUE, M_PRED, MULTI_LABELS, multi_label=True)
    assert m["num_examples"] == 4
    assert m["accuracy"] == pytest.approx(0.5)  # rows 1 and 3 match exactly
    assert m["hamming_loss"] == pytest.approx(3 / 12)
    assert m["per_label_confusion"] == {
        "a": {"tp": 2, "fp": 0, "fn": 0, "tn": 2},
        "b": {"tp": 1, "fp": 0, "fn": 1, "tn": 2},
        "c": {"tp": 0, "fp": 1, "fn": 1, "tn": 2},
    }
    assert m["per_label"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert m["per_label"]["b"]["recall"] == pytest.approx(0.5)
    assert m["per_label"]["b"]["f1"] == pytest.approx(2 / 3)
    assert m["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["micro_precision"] == pytest.approx(3 / 4)  # tp=3 fp=1
    assert m["micro_recall"] == pytest.approx(3 / 5)  # tp=3 fn=2
    assert m["micro_f1"] == pytest.approx(2 / 3)
    assert m["macro_precision"] == pytest.approx(2 / 3)
    assert m["macro_recall"] == pytest.approx(1 / 2)
    assert m["macro_f1"] == pytest.approx(5 / 9)
    assert m["weighted_f1"] == pytest.approx(2 / 3)
    # per-sample F1: 2/3, 1, 1/2, and 1 for the row with no true and no predicted label
    assert m["samples_f1"] == pytest.approx(19 / 24)
    assert "confusion_matrix" not in m
    assert _plain_types(m)
    json.dumps(m)


def test_multi_label_accepts_bool_arrays():
    m = classification_metrics(np.array(M_TRUE, bool), np.array(M_PRED, bool), MULTI_LABELS, multi_label=True)
    assert m == classification_metrics(M_TRUE, M_PRED, MULTI_LABELS, multi_label=True)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "kwargs", "match"),
    [
        ([0, 1, 2], [0, 1], LABELS, {}, r"different lengths: 3 != 2"),
        ([0, 3, 1], [0, 1, 1], LABELS, {}, r"y_true\[1\] = 3 is out of range.*\[0, 2\]"),
        ([0, 1], [0, -1], LABELS, {}, r"y_pred\[1\] = -1 is out of range"),
        ([0, 1.5], [0, 1], LABELS, {}, r"whole numbers"),
        (["neg", "pos"], [0, 1], LABELS, {}, r"must contain numbers"),
        ([[0, 1], [1, 0]], [0, 1], LABELS, {}, r"1-D sequence.*multi_label=True"),
        ([], [], LABELS, {}, r"no examples"),
        ([0], [0], [], {}, r"labels is empty"),
        ([0], [0], ["a", "b", "a"], {}, r"duplicate names: 'a'"),
        ([[1, 0, 0]], [[1, 0]], LABELS, {"multi_label": True}, r"y_pred must be a 0/1 indicator.*\(n, 3\)"),
        ([[1, 0, 2]], [[1, 0, 0]], LABELS, {"multi_label": True}, r"y_true\[0, 2\] = 2 is out of range"),
        ([[1, 0, 0]], [[1, 0, 0], [0, 0, 1]], LABELS, {"multi_label": True}, r"different lengths: 1 != 2"),
        ([0, 1], [0, 1], LABELS, {"multi_label": True}, r"indicator matrix"),
    ],
)
def test_invalid_inputs_raise_value_error(y_true, y_pred, labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y_true, y_pred, labels, **kwargs)


def test_metric_directions():
    assert metric_direction("accuracy") == "max"
    assert metric_direction("macro_f1") == "max"
    assert metric_direction("samples_f1") == "max"
    assert metric_direction("hamming_loss") == "min"
    assert metric_direction("loss") == "min"
    assert set(METRIC_DIRECTIONS) == {
        "accuracy",
        "macro_f1",
        "micro_f1",
        "weighted_f1",
        "macro_precision",
        "macro_recall",
        "samples_f1",
        "hamming_loss",
        "loss",
    }
    assert set(METRIC_DIRECTIONS.values()) == {"max", "min"}


def test_unknown_metric_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown metric 'f1'.*accuracy.*hamming_loss.*macro_f1"):
        metric_direction("f1")


def test_selectable_metrics_are_computed():
    single = classification_metrics(Y_TRUE, Y_PRED, LABELS)
    multi = classification_metrics(M_TRUE, M_PRED, MULTI_LABELS, multi_label=True)
    for name in METRIC_DIRECTIONS:
        if name == "loss":
            continue  # comes from the trainer, not from predictions
        assert name in multi
        if name not in ("samples_f1", "hamming_loss"):
            assert name in single
