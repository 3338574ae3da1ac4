"""Relation readers: SemEval-2010 Task 8 blocks, FinRE/SanWen tab-separated lines, JSONL spans, and
inline markers; every bad input names the file, line and field."""

from __future__ import annotations

import json

import pytest

from tunelab.data.error_list import DataErrors
from tunelab.errors import DataError
from tunelab.tasks.relation_extraction.example import Entity
from tunelab.tasks.relation_extraction.inline import MarkerError, parse_marked
from tunelab.tasks.relation_extraction.readers import locate, read_relation_file

SEMEVAL = (
    '1\t"The system has an arrayed <e1>configuration</e1> of antenna <e2>elements</e2>."\r\n'
    "Component-Whole(e2,e1)\r\n"
    "Comment: Not a collection.\r\n"
    "\r\n"
    '2\t"The <e1>child</e1> was wrapped into the <e2>cradle</e2>."\r\n'
    "Other\r\n"
    "Comment:\r\n"
    "\r\n"
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_semeval_blocks(tmp_path):
    read = read_relation_file(write(tmp_path, "TRAIN_FILE.TXT", SEMEVAL))
    assert read.format == "semeval"
    first, second = read.examples
    assert first.text == "The system has an arrayed configuration of antenna elements."
    assert first.text[first.head.start : first.head.end] == "configuration"
    assert first.text[first.tail.start : first.tail.end] == "elements"
    assert (first.label, first.id, first.line) == ("Component-Whole(e2,e1)", "1", 1)
    assert (second.label, second.id, second.line) == ("Other", "2", 5)
    assert first.marked() == "The system has an arrayed <e1>configuration</e1> of antenna <e2>elements</e2>."


def test_semeval_test_file_without_keys_reads_for_prediction(tmp_path):
    path = write(
        tmp_path, "TEST_FILE.TXT", '8001\t"The <e1>a</e1> and <e2>b</e2>."\n8002\t"<e1>c</e1> in <e2>d</e2>"\n'
    )
    examples = read_relation_file(path, require_labels=False).examples
    assert [ex.label for ex in examples] == [None, None] and [ex.id for ex in examples] == ["8001", "8002"]
    with pytest.raises(DataError, match="no relation label") as err:
        read_relation_file(path)
    assert err.value.line == 1 and err.value.field == "relation"


def test_semeval_bad_markers_name_the_line(tmp_path):
    bad = SEMEVAL.replace("<e2>cradle</e2>", "cradle")
    with pytest.raises(DataError, match="no <e2>") as err:
        read_relation_file(write(tmp_path, "bad.txt", bad))
    assert err.value.path.endswith("bad.txt") and err.value.line == 5 and err.value.field == "sentence"


@pytest.mark.parametrize(
    "marked, message",
    [
        ("<e1>a</e1> b", "no <e2>"),
        ("<e1>a b <e2>c</e2>", "never closed"),
        ("a</e1> <e2>c</e2>", "not opened"),
        ("<e1></e1> <e2>c</e2>", "empty"),
        ("<e1>a</e1> <e1>b</e1> <e2>c</e2>", "twice"),
        ("<e1:PER>a</e1:ORG> <e2>c</e2>", "closed by"),
    ],
)
def test_inline_marker_errors(marked, message):
    with pytest.raises(MarkerError, match=message):
        parse_marked(marked)


def test_inline_typed_and_nested_markers():
    text, head, tail = parse_marked("<e1:PER>Bill</e1> founded <e2:ORG>Microsoft</e2>.")
    assert text == "Bill founded Microsoft."
    assert head == Entity(0, 4, "PER") and tail == Entity(13, 22, "ORG")
    text, head, tail = parse_marked("<e2><e1>母亲</e1><N>岁时</e2>姥姥")
    assert text == "母亲<N>岁时姥姥" and head == Entity(0, 2) and tail == Entity(0, 7)


def test_finre_tsv_with_blank_lines(tmp_path):
    sentence = "东方航空AH股临时停牌传将与上航合并"
    text = f"东方航空\t上航\tunknown\t{sentence}\n\n上航\t东方航空\t合并\t{sentence}\n"
    read = read_relation_file(write(tmp_path, "finre_train.txt", text))
    assert read.format == "tsv" and [ex.line for ex in read.examples] == [1, 3]
    first, second = read.examples
    assert (first.head, first.tail, first.label) == (Entity(0, 4), Entity(14, 16), "unknown")
    assert (second.head, second.tail) == (Entity(14, 16), Entity(0, 4))  # direction: head is e1


def test_tsv_head_not_in_sentence(tmp_path):
    path = write(
        tmp_path, "re.txt", "甲公司\t乙公司\t收购\t甲公司收购了乙公司\n丙公司\t乙公司\t收购\t甲公司收购了乙公司\n"
    )
    with pytest.raises(DataError, match="head '丙公司' is not in the sentence") as err:
        read_relation_file(path)
    assert err.value.line == 2 and err.value.field == "head"


def test_tsv_wrong_field_count_and_all_errors_at_once(tmp_path):
    path = write(tmp_path, "re.txt", "a\tb\tr\n甲\t乙\tr\t丁丙\nx\ty\tr\txy\n")
    with pytest.raises(DataErrors) as err:
        read_relation_file(path)
    found = [(e.line, e.field) for e in err.value.errors]
    assert found == [(1, None), (2, "head")]


def test_locate_prefers_the_closest_pair_apart():
    # the head is part of the tail's only occurrence: its second occurrence is used
    head, tail = locate("母亲说母亲<N>岁时", "母亲", "母亲<N>岁时")
    assert head == Entity(0, 2) and tail == Entity(3, 10)
    # repeated names: the closest pair
    head, tail = locate("A x x x B y A B", "A", "B")
    assert (head.start, tail.start) == (12, 14)
    # the same string as head and tail (a relation of a name with itself): overlapping spans
    head, tail = locate("公司自己", "公司", "公司")
    assert head == tail == Entity(0, 2)


def test_jsonl_spans_and_types(tmp_path):
    rows = [
        {
            "text": "Bill Gates founded Microsoft.",
            "head": {"start": 0, "end": 10, "type": "PER"},
            "tail": {"start": 19, "end": 28, "type": "ORG", "text": "Microsoft"},
            "relation": "founded",
        },
        {
            "text": "Paris is in France.",
            "head": {"start": 0, "end": 5},
            "tail": {"start": 12, "end": 18},
            "label": "located_in",
            "id": 7,
        },
    ]
    path = write(tmp_path, "re.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    first, second = read_relation_file(path).examples
    assert first.head == Entity(0, 10, "PER") and first.tail == Entity(19, 28, "ORG") and first.label == "founded"
    assert second.label == "located_in" and second.id == "7" and second.line == 2


@pytest.mark.parametrize(
    "head, message, field",
    [
        ({"start": 5, "end": 40}, "out of range", "head"),
        ({"start": 4, "end": 4}, "out of range", "head"),
        ({"start": -1, "end": 3}, "out of range", "head"),
        ({"start": 0}, "missing 'end'", "head.end"),
        ({"start": "0", "end": 3}, "integer", "head.start"),
        ({"start": 0, "end": 4, "text": "Paris"}, "holds 'Bill', not 'Paris'", "head"),
        ({"start": 0, "end": 4, "type": "a b"}, "type", "head.type"),
    ],
)
def test_jsonl_bad_spans(tmp_path, head, message, field):
    row = {"text": "Bill lives in Paris.", "head": head, "tail": {"start": 14, "end": 19}, "relation": "r"}
    path = write(
        tmp_path, "re.jsonl", json.dumps({**row, "head": {"start": 0, "end": 4}}) + "\n" + json.dumps(row) + "\n"
    )
    with pytest.raises(DataError, match=message) as err:
        read_relation_file(path)
    assert err.value.path.endswith("re.jsonl") and err.value.line == 2 and err.value.field == field


def test_unknown_layout_is_refused(tmp_path):
    with pytest.raises(DataError, match="cannot tell the format"):
        read_relation_file(write(tmp_path, "x.txt", "just a sentence\n"))
    # prediction input: one marked text a line
    path = write(tmp_path, "p.txt", "<e1>a</e1> b <e2>c</e2>\n\n<e1>d</e1> <e2>e</e2>\n")
    read = read_relation_file(path, require_labels=False)
    assert read.format == "marked" and [ex.line for ex in read.examples] == [1, 3]
