"""The official SQuAD and CMRC 2018 scorers against hand-computed cases, the no-answer threshold
search, and language detection."""

from __future__ import annotations

import pytest

from tunelab.tasks.extractive_qa.example import QaExample
from tunelab.tasks.extractive_qa.metrics import (
    best_threshold,
    cmrc_exact,
    cmrc_f1,
    detect_language,
    mixed_segmentation,
    normalize_answer,
    qa_metrics,
    score_question,
    squad_exact,
    squad_f1,
)


def test_squad_normalisation():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an Apple, a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # "the" only as a word


def test_squad_f1_and_em_by_hand():
    # gold tokens: cat sat on mat; predicted: cat sat -> P 1, R 1/2, F1 2/3
    assert squad_f1("the cat sat on the mat", "a cat sat") == pytest.approx(2 / 3)
    assert squad_exact("the cat sat on the mat", "cat sat on mat.") == 1.0
    assert squad_f1("cat cat dog", "cat dog dog") == pytest.approx(2 / 3)  # bags: common = cat, dog
    assert squad_f1("Paris", "London") == 0.0
    # the maximum over the gold answers
    assert score_question(["Denver Broncos", "Broncos"], "the Broncos", "en") == (1.0, 1.0)
    em, f1 = score_question(["Denver Broncos"], "Broncos", "en")
    assert em == 0.0 and f1 == pytest.approx(2 / 3)  # P 1, R 1/2


def test_squad_v2_no_answer_cases():
    assert score_question([""], "", "en") == (1.0, 1.0)
    assert score_question([""], "Paris", "en") == (0.0, 0.0)
    assert score_question(["Paris"], "", "en") == (0.0, 0.0)


def test_cmrc_by_hand():
    assert mixed_segmentation("2008年北京奥运会") == ["2008", "年", "北", "京", "奥", "运", "会"]
    assert mixed_segmentation("《红楼梦》", remove_punctuation=True) == ["红", "楼", "梦"]
    assert cmrc_f1("北京大学", "北京") == pytest.approx(2 / 3)  # P 2/2, R 2/4
    assert cmrc_f1("2008年北京奥运会", "北京奥运会") == pytest.approx(10 / 12)  # P 5/5, R 5/7
    # the longest common *contiguous* run: 甲乙 (2), not the subsequence 甲乙丙丁 (4): P 2/5, R 2/4
    assert cmrc_f1("甲乙丙丁", "甲乙戊丙丁") == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert cmrc_exact("《红楼梦》", "红楼梦") == 1.0 and cmrc_exact("红楼梦", "红楼") == 0.0
    assert cmrc_exact("Apple，", "apple") == 1.0  # lower-cased, listed punctuation removed
    assert cmrc_f1("北京", "上海") == 0.0
    assert score_question(["北京大学", "北京"], "北京", "zh") == (1.0, 1.0)


def test_best_threshold_by_hand():
    # q0 is unanswerable (margin 3); q1, q2 are answered right by their best span
    threshold, best = best_threshold([3.0, 1.0, -2.0], [0.0, 1.0, 1.0], [1.0, 0.0, 0.0])
    assert threshold == 2.0 and best == 1.0  # abstain iff margin > 2 (halfway from 3 to 1): only q0
    threshold, best = best_threshold([3.0, 1.0], [1.0, 1.0], [0.0, 0.0])  # abstaining never helps
    assert threshold == 3.0 and best == 1.0


def example(answers, context="c"):
    return QaExample("q", context, tuple((a, 0) for a in answers))


def test_qa_metrics_with_unanswerable():
    examples = [example(["Paris"]), example(["Denver Broncos"]), example([])]
    metrics = qa_metrics(
        examples, ["Paris", "Broncos", ""], "en", margins=[-1.0, -1.0, 2.0], best_spans=["Paris", "Broncos", "x"]
    )
    assert metrics["exact_match"] == pytest.approx(2 / 3) and metrics["f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert metrics["has_answer_count"] == 2 and metrics["no_answer_f1"] == 1.0
    assert metrics["has_answer_f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["best_f1_threshold"] == 0.5 and metrics["best_f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert metrics["num_examples"] == 3 and metrics["metric_language"] == "en"


def test_detect_language():
    assert detect_language(["《战国无双3》是由光荣和ω-force开发的战国无双系列的正统第三续作。"]) == "zh"
    assert detect_language(["Super Bowl 50 was an American football game."]) == "en"
