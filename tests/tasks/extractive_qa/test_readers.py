"""Reading questions: SQuAD v1.1/v2.0 JSON and JSONL, bad answer offsets named by file and question
id, repaired offsets, and dev carved by article (no context in two splits)."""

from __future__ import annotations

import json

import pytest

from tunelab.config import load_config
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.extractive_qa.data import split_by_article
from tunelab.tasks.extractive_qa.readers import read_qa_file
from tunelab.tasks.extractive_qa.task import ExtractiveQaTask

CONTEXT = "Paris is the capital of France. It has 2 million people."


def squad(articles, version="1.1"):
    return {"version": version, "data": articles}


def article(title, paragraphs):
    return {"title": title, "paragraphs": paragraphs}


def paragraph(context, qas):
    return {"context": context, "qas": qas}


def qa(qid, question, answers, **extra):
    return {"id": qid, "question": question, "answers": answers, **extra}


def write(path, value):
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def test_squad_v11(tmp_path):
    path = write(
        tmp_path / "train.json",
        squad(
            [
                article(
                    "Paris",
                    [
                        paragraph(
                            CONTEXT,
                            [
                                qa("q1", "What is the capital of France?", [{"text": "Paris", "answer_start": 0}]),
                                qa(
                                    "q2",
                                    "How many people?",
                                    [{"text": "2 million", "answer_start": 39}, {"text": "2", "answer_start": 39}],
                                ),
                            ],
                        )
                    ],
                )
            ]
        ),
    )
    read = read_qa_file(path)
    assert read.format == "squad" and read.version == "1.1"
    first, second = read.examples
    assert first.answers == (("Paris", 0),) and first.id == "q1" and first.title == "Paris" and first.line == 1
    assert second.spans == [(39, 48), (39, 40)] and second.gold_texts == ["2 million", "2"] and second.line == 2
    assert not first.unanswerable and first.text == first.question and first.text_pair == CONTEXT


def test_squad_v2_unanswerable(tmp_path):
    plausible = [{"text": "Paris", "answer_start": 0}]
    path = write(
        tmp_path / "v2.json",
        squad(
            [
                article(
                    "Paris",
                    [
                        paragraph(
                            CONTEXT,
                            [
                                qa(
                                    "q1",
                                    "What is the capital of Spain?",
                                    [],
                                    is_impossible=True,
                                    plausible_answers=plausible,
                                )
                            ],
                        )
                    ],
                )
            ],
            "v2.0",
        ),
    )
    (example,) = read_qa_file(path).examples
    assert example.unanswerable and example.answers == () and example.gold_texts == [""] and example.spans == []


def test_bad_offset_names_file_and_question_id(tmp_path):
    bad = [{"text": "France", "answer_start": 3}]
    path = write(
        tmp_path / "bad.json", squad([article("Paris", [paragraph(CONTEXT, [qa("5733be28", "Where?", bad)])])])
    )
    with pytest.raises(DataError) as info:
        read_qa_file(path)
    message = str(info.value)
    assert str(path) in message and "question '5733be28'" in message and "answer_start 3" in message
    assert info.value.field == "answers" and "'France'" in message


def test_every_bad_answer_of_a_file_reported(tmp_path):
    lines = [
        {"id": "a", "question": "Q?", "context": CONTEXT, "answers": [{"text": "Paris", "answer_start": 5}]},
        {"id": "b", "question": "Q?", "context": CONTEXT, "answers": [{"text": "Rome", "answer_start": 0}]},
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_qa_file(path)
    message = str(info.value)
    assert "2 problems" in message and f"{path}:1" in message and f"{path}:2" in message
    assert "question 'a'" in message and "question 'b'" in message


def test_repair_moves_offsets_and_keeps_text_only_answers(tmp_path):
    lines = [
        {"id": "a", "question": "Q?", "context": CONTEXT, "answers": [{"text": "France", "answer_start": 2}]},
        {"id": "b", "question": "Q?", "context": CONTEXT, "answers": [{"text": "Rome", "answer_start": -1}]},
    ]
    path = tmp_path / "fix.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in lines), encoding="utf-8")
    read = read_qa_file(path, answer_offsets="repair")
    assert read.repaired == 1 and read.text_only == 1
    moved, text_only = read.examples
    assert moved.answers == (("France", 24),) and CONTEXT[24:30] == "France"
    assert text_only.answers == (("Rome", -1),) and text_only.spans == [] and text_only.gold_texts == ["Rome"]


def test_jsonl_formats(tmp_path):
    rows = [
        {"question": "Capital?", "context": CONTEXT, "answers": [{"text": "Paris", "answer_start": 0}], "id": "x"},
        {"question": "Capital?", "context": CONTEXT, "answers": {"text": ["Paris"], "answer_start": [0]}},  # HF columns
        {"question": "Moon?", "context": CONTEXT, "answers": []},
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    read = read_qa_file(path)
    assert read.format == "jsonl" and [ex.line for ex in read.examples] == [1, 2, 3]
    assert read.examples[0].answers == read.examples[1].answers == (("Paris", 0),)
    assert read.examples[2].unanswerable and read.examples[1].id == ""
    unlabelled = tmp_path / "input.jsonl"
    unlabelled.write_text(json.dumps({"question": "Capital?", "context": CONTEXT}) + "\n", encoding="utf-8")
    assert read_qa_file(unlabelled, require_labels=False).examples[0].answers is None
    with pytest.raises(DataError, match="has no 'answers'"):
        read_qa_file(unlabelled)


def test_missing_fields_and_duplicate_ids(tmp_path):
    path = tmp_path / "bad.jsonl"
    rows = [
        {"question": "", "context": CONTEXT, "answers": []},
        {"question": "Q", "context": "", "answers": []},
        {"id": "d", "question": "Q", "context": CONTEXT, "answers": []},
        {"id": "d", "question": "Q", "context": CONTEXT, "answers": []},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_qa_file(path)
    message = str(info.value)
    assert "3 problems" in message and "'question'" in message and "'context'" in message and "used twice" in message


def make_articles(n_articles, per_article):
    examples = []
    for a in range(n_articles):
        context = f"Article {a} says the answer is word{a}."
        for q in range(per_article):
            examples.append(
                {"id": f"{a}-{q}", "question": f"q{q}?", "context": context, "title": f"T{a}",
                 "answers": [{"text": f"word{a}", "answer_start": context.index("word")}]}
            )  # fmt: skip
    return examples


def test_dev_is_carved_by_article(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in make_articles(20, 5)), encoding="utf-8")
    examples = read_qa_file(path).examples
    train, dev, test = split_by_article(examples, 0.2, 0.1, seed=13)
    assert len(dev) == 20 and len(test) == 10 and len(train) == 70
    titles = [{ex.title for ex in part} for part in (train, dev, test)]
    assert not (titles[0] & titles[1]) and not (titles[0] & titles[2]) and not (titles[1] & titles[2])
    assert [ex.line for ex in train] == sorted(ex.line for ex in train)  # file order kept
    assert split_by_article(examples, 0.2, 0.1, seed=13) == (train, dev, test)  # seeded


def test_read_splits_from_config(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in make_articles(10, 3)), encoding="utf-8")
    config = load_config(None, ["task.name=extractive_qa", f"data.train={path}", "data.split.dev=0.2"])
    splits = ExtractiveQaTask.read_splits(config.data, config.task)
    assert splits.dev_source == "split" and len(splits.dev) == 6 and len(splits.train) == 24
    assert not {ex.context for ex in splits.train} & {ex.context for ex in splits.dev}
    assert splits.describe()["format"] == "jsonl"
    masked = load_config(None, ["task.name=extractive_qa", f"data.train={path}", "data.mask_pii=true"])
    with pytest.raises(ConfigError, match="mask_pii"):
        ExtractiveQaTask.read_splits(masked.data, masked.task)


def test_window_settings_are_checked():
    with pytest.raises(ConfigError, match="doc_stride"):
        load_config(
            None, ["task.name=extractive_qa", "task.max_length=64", "task.max_question_length=16", "task.doc_stride=50"]
        )


def test_init_template_is_a_valid_config(tmp_path):
    from typer.testing import CliRunner

    from tunelab.cli.app import app

    result = CliRunner().invoke(app, ["init", "qa"])
    assert result.exit_code == 0, result.output
    (tmp_path / "qa.yaml").write_text(result.output, encoding="utf-8")
    config = load_config(tmp_path / "qa.yaml")
    assert config.task.name == "extractive_qa" and config.task.max_length == 384 and config.task.doc_stride == 128
    assert config.task.n_best == 20 and config.task.max_answer_length == 30 and config.training.metric == "f1"
