"""NER metrics (seqeval, strict and conlleval modes), error analysis and the rich report."""

from __future__ import annotations

import json
import random
import warnings

import pytest
from rich.console import Console

from tunelab.files import write_json
from tunelab.tasks.token_classification.metrics import METRIC_DIRECTIONS_NER, ner_metrics
from tunelab.tasks.token_classification.report import print_ner_report, render_ner_report

# 3 sentences, 2 types. Gold: PER = John, Mary, Paris Hilton (3); LOC = New York, Berlin, Rome,
# Berlin (4). Predicted: PER = John, Paris, visited (3); LOC = New York, Mary, Rome (3).
# Correct: John (PER), New York and Rome (LOC).
TEXTS = [
    ["John", "lives", "in", "New", "York"],
    ["Mary", "met", "Paris", "Hilton", "today"],
    ["Berlin", "and", "Rome", "visited", "Berlin"],
]
GOLD = [
    ["B-PER", "O", "O", "B-LOC", "I-LOC"],
    ["B-PER", "O", "B-PER", "I-PER", "O"],
    ["B-LOC", "O", "B-LOC", "O", "B-LOC"],
]
PRED = [
    ["B-PER", "O", "O", "B-LOC", "I-LOC"],
    ["B-LOC", "O", "B-PER", "O", "O"],  # Mary: wrong type; Paris Hilton: wrong boundary
    ["O", "O", "B-LOC", "B-PER", "O"],  # Berlin missed twice; "visited" a false positive
]


def _render(renderable) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(renderable)
    return console.export_text()


def _row(text: str, first: str) -> list[str]:
    """Cells of the table line whose first cell is ``first``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{text}")


@pytest.fixture
def example():
    return ner_metrics(GOLD, PRED, texts=TEXTS)


def test_hand_computed_scores(example):
    m = example
    # micro: tp 3, predicted 6, gold 7
    assert m["precision"] == pytest.approx(3 / 6)
    assert m["recall"] == pytest.approx(3 / 7)
    assert m["f1"] == pytest.approx(6 / 13)
    # PER: tp 1 of 3 predicted, 3 gold; LOC: tp 2 of 3 predicted, 4 gold
    assert m["per_type"] == {
        "LOC": {"precision": pytest.approx(2 / 3), "recall": 0.5, "f1": pytest.approx(4 / 7), "support": 4},
        "PER": {
            "precision": pytest.approx(1 / 3),
            "recall": pytest.approx(1 / 3),
            "f1": pytest.approx(1 / 3),
            "support": 3,
        },
    }
    assert list(m["per_type"]) == ["LOC", "PER"]
    assert m["macro_precision"] == pytest.approx(0.5)
    assert m["macro_recall"] == pytest.approx(5 / 12)
    assert m["macro_f1"] == pytest.approx(19 / 42)
    assert m["weighted_precision"] == pytest.approx(11 / 21)
    assert m["weighted_recall"] == pytest.approx(3 / 7)
    assert m["weighted_f1"] == pytest.approx(23 / 49)
    assert m["token_accuracy"] == pytest.approx(10 / 15)
    assert (m["num_sentences"], m["num_tokens"], m["num_entities"], m["num_predicted"]) == (3, 15, 7, 6)
    assert m["mode"] == "strict"


def test_errors_each_kind_sorted_by_count_then_text(example):
    assert example["errors"] == [
        {"kind": "false_negative", "text": "Berlin", "gold": "LOC", "predicted": None, "count": 2},
        {"kind": "wrong_type", "text": "Mary", "gold": "PER", "predicted": "LOC", "count": 1},
        {"kind": "wrong_boundary", "text": "Paris Hilton", "gold": "PER", "predicted": "PER", "count": 1},
        {"kind": "false_positive", "text": "visited", "gold": None, "predicted": "PER", "count": 1},
    ]


def test_errors_without_texts_group_by_kind_and_types():
    m = ner_metrics(GOLD, PRED)
    assert m["errors"] == [
        {"kind": "false_negative", "text": None, "gold": "LOC", "predicted": None, "count": 2},
        {"kind": "false_positive", "text": None, "gold": None, "predicted": "PER", "count": 1},
        {"kind": "wrong_boundary", "text": None, "gold": "PER", "predicted": "PER", "count": 1},
        {"kind": "wrong_type", "text": None, "gold": "PER", "predicted": "LOC", "count": 1},
    ]


def test_max_errors_truncates_most_frequent_first():
    assert ner_metrics(GOLD, PRED, texts=TEXTS, max_errors=1)["errors"] == [
        {"kind": "false_negative", "text": "Berlin", "gold": "LOC", "predicted": None, "count": 2}
    ]
    assert ner_metrics(GOLD, PRED, max_errors=0)["errors"] == []


def test_other_type_and_other_boundaries_is_false_positive_plus_false_negative():
    words = [["Bank", "of", "England"]]
    m = ner_metrics([["B-ORG", "I-ORG", "I-ORG"]], [["B-LOC", "O", "O"]], texts=words)
    assert sorted((e["kind"], e["text"], e["gold"], e["predicted"]) for e in m["errors"]) == [
        ("false_negative", "Bank of England", "ORG", None),
        ("false_positive", "Bank", None, "LOC"),
    ]


def test_wrong_boundary_pairs_one_to_one_with_leftmost_gold():
    # The prediction "A B C" overlaps gold "A" and gold "B C": paired with "A"; "B C" is missed.
    words = [["A", "B", "C"]]
    m = ner_metrics([["B-LOC", "B-LOC", "I-LOC"]], [["B-LOC", "I-LOC", "I-LOC"]], texts=words)
    assert sorted((e["kind"], e["text"]) for e in m["errors"]) == [
        ("false_negative", "B C"),
        ("wrong_boundary", "A"),
    ]
    assert (m["num_entities"], m["num_predicted"], m["f1"]) == (2, 1, 0.0)


def test_strict_ignores_orphan_inside_tag_conlleval_counts_it():
    gold = [["B-PER", "I-PER", "O", "O"]]
    pred = [["I-PER", "I-PER", "O", "I-LOC"]]  # invalid IOB2: no B- before either I-
    words = [["John", "Smith", "is", "here"]]
    strict = ner_metrics(gold, pred, texts=words)
    lenient = ner_metrics(gold, pred, texts=words, mode="conlleval")
    assert set(strict) == set(lenient)
    assert (strict["num_predicted"], strict["precision"], strict["recall"], strict["f1"]) == (0, 0.0, 0.0, 0.0)
    assert strict["errors"] == [
        {"kind": "false_negative", "text": "John Smith", "gold": "PER", "predicted": None, "count": 1}
    ]
    # conlleval reads "I-PER I-PER" as a PER entity (correct) and "I-LOC" as a LOC entity
    assert lenient["num_predicted"] == 2
    assert lenient["precision"] == pytest.approx(0.5)
    assert lenient["recall"] == 1.0
    assert lenient["f1"] == pytest.approx(2 / 3)
    assert lenient["per_type"]["PER"]["f1"] == 1.0
    assert lenient["errors"] == [
        {"kind": "false_positive", "text": "here", "gold": None, "predicted": "LOC", "count": 1}
    ]
    assert lenient["mode"] == "conlleval"
    # token accuracy does not depend on the mode
    assert strict["token_accuracy"] == lenient["token_accuracy"] == pytest.approx(2 / 4)


def test_strict_type_change_inside_entity():
    # "B-PER I-LOC": strict ends the PER entity at I-LOC and drops the orphan; conlleval makes 2.
    gold = [["B-PER", "I-PER"]]
    pred = [["B-PER", "I-LOC"]]
    assert ner_metrics(gold, pred)["num_predicted"] == 1
    assert ner_metrics(gold, pred, mode="conlleval")["num_predicted"] == 2


def test_cjk_spans_joined_without_spaces():
    texts = [["北", "京", "是", "首", "都"], ["東", "京", "タ", "ワ", "ー"], ["New", "York", "市"]]
    gold = [
        ["B-LOC", "I-LOC", "O", "O", "O"],
        ["B-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC"],
        ["B-LOC", "I-LOC", "I-LOC"],
    ]
    pred = [["O"] * 5, ["O"] * 5, ["O"] * 3]
    texts_out = {e["text"] for e in ner_metrics(gold, pred, texts=texts)["errors"]}
    assert texts_out == {"北京", "東京タワー", "New York 市"}


def test_no_entities_at_all_is_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ner_metrics([["O", "O"], []], [["O", "O"], []])
    assert m["per_type"] == {}
    assert (m["precision"], m["recall"], m["f1"], m["macro_f1"], m["weighted_f1"]) == (0.0,) * 5
    assert m["token_accuracy"] == 1.0
    assert m["errors"] == []


def test_undefined_ratios_are_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ner_metrics([["B-PER", "O"]], [["O", "B-LOC"]])
    assert m["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


@pytest.mark.parametrize(
    ("y_true", "y_pred", "kwargs", "match"),
    [
        ([["O"]], [["O"], ["O"]], {}, r"different numbers of sentences: 1 != 2"),
        ([["O"], ["O", "O"]], [["O"], ["O"]], {}, r"sentence 1: y_true has 2 tags but y_pred has 1"),
        ([["O"], ["O", "E-PER"]], [["O"], ["O", "O"]], {}, r"sentence 1, token 1: y_true has invalid IOB2 tag 'E-PER'"),
        ([["O"]], [["PER"]], {}, r"sentence 0, token 0: y_pred has invalid IOB2 tag 'PER'"),
        ([["B-"]], [["O"]], {}, r"invalid IOB2 tag 'B-'"),
        ([["B-PER-"]], [["O"]], {}, r"invalid IOB2 tag"),
        ([["O"], ["O"]], [["O"], [1]], {}, r"sentence 1, token 0: y_pred must contain strings"),
        (["B-PER O"], ["B-PER O"], {}, r"sentence 0: y_true must hold a list of strings"),
        ("O", "O", {}, r"y_true must be a list of sentences"),
        ([], [], {}, r"no sentences"),
        ([[]], [[]], {}, r"no tokens"),
        ([["O"]], [["O"]], {"texts": [["a"], ["b"]]}, r"texts has 2 sentences but y_true has 1"),
        ([["O"], ["O"]], [["O"], ["O"]], {"texts": [["a"], ["b", "c"]]}, r"sentence 1: texts has 2 tokens"),
        ([["O"]], [["O"]], {"mode": "lenient"}, r"mode must be one of"),
        ([["O"]], [["O"]], {"max_errors": -1}, r"max_errors must be an int >= 0"),
    ],
)
def test_validation_errors(y_true, y_pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ner_metrics(y_true, y_pred, **kwargs)


def test_tuples_are_accepted():
    m = ner_metrics([("B-PER", "O")], [("B-PER", "O")])
    assert m["f1"] == 1.0


def _walk(value):
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
    else:
        yield value


@pytest.mark.parametrize("mode", ["strict", "conlleval"])
def test_json_serialisable_plain_types(mode, tmp_path):
    m = ner_metrics(GOLD, PRED, texts=TEXTS, mode=mode)
    for value in _walk(m):
        assert value is None or type(value) in (str, int, float), (value, type(value))
    assert json.loads(json.dumps(m)) == m
    path = write_json(m, tmp_path / "metrics.json")
    assert json.loads(path.read_text(encoding="utf-8")) == m


def test_metric_directions():
    assert METRIC_DIRECTIONS_NER == {
        "f1": "max",
        "precision": "max",
        "recall": "max",
        "macro_f1": "max",
        "token_accuracy": "max",
        "loss": "min",
    }
    m = ner_metrics(GOLD, PRED)
    assert all(name in m for name in METRIC_DIRECTIONS_NER if name != "loss")


@pytest.mark.parametrize("mode", ["strict", "conlleval"])
def test_random_sequences_errors_account_for_every_mismatch(mode):
    """seqeval's counts and the error analysis agree: every non-exact span is one error."""
    rng = random.Random(0)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    for _ in range(50):
        lengths = [rng.randint(0, 8) for _ in range(rng.randint(1, 5))]
        gold = [[rng.choice(tags) for _ in range(n)] for n in lengths]
        pred = [[rng.choice(tags) for _ in range(n)] for n in lengths]
        if not sum(lengths):
            continue
        m = ner_metrics(gold, pred, mode=mode, max_errors=10_000)
        assert sum(row["support"] for row in m["per_type"].values()) == m["num_entities"]
        tp = round(m["precision"] * m["num_predicted"])
        assert tp == round(m["recall"] * m["num_entities"]) or m["num_entities"] == 0
        kinds = dict.fromkeys(("false_positive", "false_negative", "wrong_type", "wrong_boundary"), 0)
        for record in m["errors"]:
            kinds[record["kind"]] += record["count"]
        paired = kinds["wrong_type"] + kinds["wrong_boundary"]
        assert m["num_predicted"] - tp == paired + kinds["false_positive"]
        assert m["num_entities"] - tp == paired + kinds["false_negative"]


def test_report_shows_types_numbers_and_errors(example):
    text = _render(render_ner_report(example, title="dev"))
    assert "dev" in text
    assert _row(text, "LOC") == ["LOC", "0.6667", "0.5000", "0.5714", "4"]
    assert _row(text, "PER") == ["PER", "0.3333", "0.3333", "0.3333", "3"]
    assert _row(text, "micro avg") == ["micro avg", "0.5000", "0.4286", "0.4615", "7"]
    assert _row(text, "macro avg") == ["macro avg", "0.5000", "0.4167", "0.4524", "7"]
    assert _row(text, "weighted avg") == ["weighted avg", "0.5238", "0.4286", "0.4694", "7"]
    assert _row(text, "token accuracy") == ["token accuracy", "", "", "0.6667", "15"]
    assert "strict IOB2" in text
    assert "most frequent errors" in text
    assert _row(text, "false_negative") == ["false_negative", "Berlin", "LOC", "-", "2"]
    assert _row(text, "wrong_type") == ["wrong_type", "Mary", "PER", "LOC", "1"]
    assert _row(text, "wrong_boundary") == ["wrong_boundary", "Paris Hilton", "PER", "PER", "1"]
    assert _row(text, "false_positive") == ["false_positive", "visited", "-", "PER", "1"]
    lines = text.splitlines()
    assert lines.index(next(x for x in lines if "token accuracy" in x)) < lines.index(
        next(x for x in lines if "most frequent errors" in x)
    )


def test_report_shows_first_ten_errors_and_keeps_markup_literal():
    n = 12
    words = [[f"[bold]w{i:02d}"] for i in range(n)]
    m = ner_metrics([["O"]] * n, [["B-PER"]] * n, texts=words)
    assert len(m["errors"]) == n
    text = _render(render_ner_report(m))
    assert "[bold]w00" in text and "[bold]w09" in text and "w10" not in text
    assert "showing 10 of 12" in text


def test_report_without_errors_and_after_json_round_trip():
    m = ner_metrics([["B-PER", "O"]], [["B-PER", "O"]], mode="conlleval")
    restored = json.loads(json.dumps(m))
    for key in ("macro_precision", "macro_recall", "weighted_precision", "weighted_recall"):
        restored.pop(key)  # recomputed from the per-type rows
    text = _render(render_ner_report(restored))
    assert _row(text, "PER") == ["PER", "1.0000", "1.0000", "1.0000", "1"]
    assert _row(text, "macro avg") == ["macro avg", "1.0000", "1.0000", "1.0000", "1"]
    assert "most frequent errors: none" in text
    assert "conlleval" in text


def test_print_ner_report_uses_console(example):
    console = Console(record=True, width=120, color_system=None)
    print_ner_report(example, console, title="test split")
    text = console.export_text()
    assert "test split" in text and "LOC" in text and "0.4615" in text
