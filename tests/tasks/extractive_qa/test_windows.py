"""Windows and span recovery: a gold answer survives encode -> labels -> decode for every question
of the shipped SQuAD data and for answers cut across a window boundary; the span search's limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from tunelab.data.batching import IGNORE_INDEX
from tunelab.tasks.extractive_qa.decode import answers, decode_windows, window_spans
from tunelab.tasks.extractive_qa.encode import encode_questions
from tunelab.tasks.extractive_qa.example import QaExample
from tunelab.tasks.extractive_qa.readers import read_qa_file

SHIPPED = Path(__file__).resolve().parents[3] / "data" / "squad"


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def round_trip(encoded, *, n_best=20, max_answer_length=10**6):
    """Decode one-hot logits at the training labels: what the model would answer if it learnt them."""
    width = max(encoded.lengths)
    start = np.full((len(encoded), width), -10.0)
    end = np.full((len(encoded), width), -10.0)
    for row, (s, e) in enumerate(encoded.labels):
        if s != IGNORE_INDEX:
            start[row, s], end[row, e] = 10.0, 10.0
    items = decode_windows(
        encoded, list(range(len(encoded))), start, end, n_best=n_best, max_answer_length=max_answer_length
    )
    return answers(encoded, items, n_best=n_best, abstains=False, threshold=0.0)


def within_tokens(context: str, gold: tuple[int, int], found: tuple[int, int]) -> bool:
    """The found span is the gold one widened only to whole tokens: no whitespace added."""
    (s, e), (a, b) = gold, found
    return a <= s and b >= e and not any(ch.isspace() for ch in context[a:s] + context[e:b])


def test_every_shipped_question_round_trips(tokenizer):
    examples = read_qa_file(SHIPPED / "train.json").examples + read_qa_file(SHIPPED / "dev.json").examples
    assert len(examples) == 7793  # the 36 public articles of the SQuAD v1.1 dev set
    encoded = encode_questions(tokenizer, examples, max_length=384, doc_stride=128, max_question_length=64)
    assert encoded.num_answers_outside == 0 and encoded.num_windowed > 0
    found = round_trip(encoded)
    exact = inside = 0
    for ex, answer in zip(examples, found):
        text, start = ex.answers[0]
        assert answer.text == ex.context[answer.start : answer.end]
        if (answer.start, answer.end) == (start, start + len(text)):
            exact += 1
        else:  # an answer that ends inside a word piece ("8" of "18"): the span widens to the piece
            assert within_tokens(ex.context, (start, start + len(text)), (answer.start, answer.end)), (text, answer)
            inside += 1
    assert exact + inside == len(examples) and inside < 0.005 * len(examples)


def sliding_examples(n_words=60):
    words = ["alpha", "beta", "gamma", "delta", "house", "river", "stone", "green", "table", "music"]
    context_words = [words[i % len(words)] for i in range(n_words)]
    out = []
    for at in range(0, n_words - 2):
        context = " ".join(context_words[:at] + ["paris", "london"] + context_words[at:])
        start = context.index("paris london")
        out.append(QaExample("where is it ?", context, (("paris london", start),), id=str(at)))
    return out


def test_answers_cut_across_window_boundaries(tokenizer):
    examples = sliding_examples()
    encoded = encode_questions(tokenizer, examples, max_length=24, doc_stride=6, max_question_length=8)
    assert encoded.num_windowed == len(examples) and encoded.num_answers_outside == 0
    # an answer cut by the end of a window: that window is labelled "no answer", the next one holds it
    cut = 0
    for w, (example, label) in enumerate(zip(encoded.item_example, encoded.labels)):
        offsets = encoded.item_offsets[w]
        last = offsets[offsets[:, 0] >= 0][-1]
        s, e = examples[example].spans[0]
        if s < last[1] < e:
            cut += 1
            assert label == [0, 0]  # [CLS]
    assert cut > 0
    for ex, answer in zip(examples, round_trip(encoded)):
        assert (answer.text, answer.start, answer.end) == ("paris london", *ex.spans[0])


def test_labels_for_unanswerable_text_only_and_unlabelled(tokenizer):
    context = "the river runs through the green valley"
    examples = [
        QaExample("what runs ?", context, ()),
        QaExample("what runs ?", context, (("lake", -1),)),
        QaExample("what runs ?", context, (("river", 4),)),
    ]
    encoded = encode_questions(tokenizer, examples, max_length=64, doc_stride=8, max_question_length=8)
    assert encoded.labels[0] == [0, 0] and encoded.labels[1] == [IGNORE_INDEX, IGNORE_INDEX]
    s, e = encoded.labels[2]
    assert s == e and tokenizer.convert_ids_to_tokens(encoded.input_ids[2][s]) == "river"
    unlabelled = encode_questions(
        tokenizer, [QaExample("q ?", context)], max_length=64, doc_stride=8, max_question_length=8
    )
    assert unlabelled.labels is None and len(unlabelled) == 1


def test_long_questions_are_cut(tokenizer):
    question = " ".join(["alpha"] * 40) + " ?"
    encoded = encode_questions(
        tokenizer,
        [QaExample(question, "the river runs", (("river", 4),))],
        max_length=32,
        doc_stride=4,
        max_question_length=8,
    )
    assert encoded.num_cut_questions == 1 and max(encoded.lengths) <= 32
    assert encoded.token_type_ids[0].count(0) == 1 + 8 + 1  # [CLS] 8 question tokens [SEP]


def test_span_search_limits():
    offsets = np.array([[-1, -1], [0, 3], [4, 7], [8, 11], [12, 15], [-1, -1]])  # [CLS] a b c d [SEP]
    start = np.array([5.0, 4.0, 0.0, 0.0, 1.0, 9.0])
    end = np.array([5.0, -2.0, -2.0, 0.0, 3.0, 9.0])
    spans = window_spans(start, end, offsets, 0, n_best=20, max_answer_length=30)
    assert spans.null == 10.0  # start[0] + end[0]
    best = spans.spans[0]
    assert best[0] == 7.0 and (best[1], best[2]) == (0, 15)  # start a (4) + end d (3); [SEP] never counts
    short = window_spans(start, end, offsets, 0, n_best=20, max_answer_length=2)
    assert (short.spans[0][1], short.spans[0][2]) == (12, 15)  # d alone: 1 + 3
    assert all(row[2] >= row[1] for row in spans.spans)  # never an end before its start
    assert len(window_spans(start, end, offsets, 0, n_best=2, max_answer_length=30).spans) <= 2
