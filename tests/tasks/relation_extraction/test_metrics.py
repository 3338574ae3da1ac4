"""The relation scorers against hand-computed cases: the official SemEval-2010 Task 8 score
(direction counted, Other excluded) and micro/macro F1 without the no-relation label."""

from __future__ import annotations

import pytest

from tunelab.tasks.relation_extraction.metrics import (
    SEMEVAL_LABELS,
    detect_no_relation,
    is_semeval,
    relation_metrics,
    semeval_official,
)

CE12, CE21, CW12, CW21 = (
    "Cause-Effect(e1,e2)",
    "Cause-Effect(e2,e1)",
    "Component-Whole(e1,e2)",
    "Component-Whole(e2,e1)",
)


def test_official_score_counts_direction():
    gold = [CE12, CE12, CE21, CW12, "Other", "Other"]
    pred = [CE12, CE21, CE21, "Other", CW21, "Other"]
    scores = semeval_official(gold, pred)
    # Cause-Effect: 2 exact of 3 gold; 3 predicted in either direction (one the wrong direction)
    ce = scores["official_per_relation"]["Cause-Effect"]
    assert (ce["correct"], ce["predicted"], ce["support"], ce["wrong_direction"]) == (2, 3, 3, 1)
    assert ce["precision"] == pytest.approx(2 / 3) and ce["recall"] == pytest.approx(2 / 3)
    # Component-Whole: its one gold missed, one wrong prediction (gold Other): P = R = F1 = 0
    cw = scores["official_per_relation"]["Component-Whole"]
    assert (cw["correct"], cw["predicted"], cw["support"]) == (0, 1, 1) and cw["f1"] == 0.0
    assert "Other" not in scores["official_per_relation"]
    assert scores["official_f1"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert scores["official_precision"] == pytest.approx(1 / 3) and scores["official_recall"] == pytest.approx(1 / 3)
    assert scores["official_micro_f1"] == pytest.approx(0.5)  # 2 correct of 4 predicted, of 4 gold
    assert scores["wrong_direction"] == 1


def test_official_score_averages_over_the_gold_relations_only():
    # a relation that is predicted but absent from the key is not averaged (as in the perl scorer)
    scores = semeval_official([CE12, "Other"], [CE12, "Message-Topic(e1,e2)"])
    assert list(scores["official_per_relation"]) == ["Cause-Effect"]
    assert scores["official_f1"] == 1.0 and scores["official_micro_f1"] == 1.0


def test_every_direction_wrong_scores_zero():
    scores = semeval_official([CE12, CW21], [CE21, CW12])
    assert scores["official_f1"] == 0.0 and scores["wrong_direction"] == 2


def test_generic_scores_leave_out_no_relation():
    labels = ["NA", "born_in", "works_for"]
    gold, pred = [1, 1, 2, 0, 0], [1, 0, 2, 2, 0]
    m = relation_metrics(gold, pred, labels, no_relation="NA", semeval=False)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["micro_precision"] == pytest.approx(2 / 3) and m["micro_recall"] == pytest.approx(2 / 3)
    assert m["micro_f1"] == pytest.approx(2 / 3)
    assert m["macro_precision"] == pytest.approx(0.75) and m["macro_recall"] == pytest.approx(0.75)
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[1, 0, 1], [1, 1, 0], [0, 0, 1]]
    assert m["no_relation"] == "NA" and "official_f1" not in m
    # without a no-relation label every label counts: micro F1 is the accuracy
    every = relation_metrics(gold, pred, labels, no_relation=None, semeval=False)
    assert every["micro_f1"] == pytest.approx(0.6)


def test_directed_labels_are_different_classes():
    labels = ["Other", CE12, CE21]
    m = relation_metrics([1, 2], [2, 1], labels, no_relation="Other", semeval=True)
    assert m["micro_f1"] == 0.0 and m["official_f1"] == 0.0 and m["wrong_direction"] == 2


def test_semeval_metrics_are_added_for_semeval_labels():
    labels = sorted(["Other", CE12, CE21])
    gold = [labels.index(x) for x in (CE12, CE21, "Other")]
    m = relation_metrics(gold, gold, labels, no_relation="Other", semeval=True)
    assert m["official_f1"] == 1.0 and m["micro_f1"] == 1.0


def test_detection():
    assert is_semeval(["Other", CE12]) and len(SEMEVAL_LABELS) == 19
    assert not is_semeval(["Other"]) and not is_semeval(["Other", "born_in"])
    assert detect_no_relation(["born_in", "unknown"]) == "unknown"
    assert detect_no_relation(["na", "x"]) == "na"
    assert detect_no_relation(["Other", "NA"]) == "Other"
    assert detect_no_relation(["a", "b"]) is None
