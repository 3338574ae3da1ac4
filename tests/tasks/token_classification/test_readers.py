"""NER readers (CoNLL, JSONL, CLUENER) and read_ner_file: parsing, line numbers, errors, repair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunelab.errors import ConfigError, DataError
from tunelab.tasks.token_classification.example import Span
from tunelab.tasks.token_classification.readers import (
    detect_ner_format,
    read_cluener,
    read_conll,
    read_ner_file,
    read_ner_jsonl,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ner"


def write(tmp_path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def where(info) -> tuple[int | None, str | None]:
    return info.value.line, info.value.field


def test_ner_conll_two_columns_wnut_style(tmp_path):
    path = write(tmp_path, "a.conll", "@paul\tO\nEmpire\tB-location\nState\tI-location\n\t\n\nHi\tO\n")
    first, second = read_conll(path)
    assert first.tokens == ("@paul", "Empire", "State")
    assert first.tags == ("O", "B-location", "I-location")
    assert (first.line, second.line, second.tokens) == (1, 6, ("Hi",))
    assert first.source == str(path) and first.text is None


def test_ner_conll_hash_lines(tmp_path):
    content = (
        "# sent_id = 1\n# text = # rocks\n#\tO\nrocks\tO\n\n"  # comments, then the token "#"
        "#NFL\tO\nwins\tO\n#\tO\n\n"  # hashtag at sentence start, "#" inside a sentence
        "# newdoc\nC\tB-TITLE\n#\tI-TITLE\n"
    )
    examples = read_conll(write(tmp_path, "h.conll", content))
    assert [e.tokens for e in examples] == [("#", "rocks"), ("#NFL", "wins", "#"), ("C", "#")]
    assert [e.line for e in examples] == [3, 6, 11]


def test_ner_conll_four_columns_and_docstart():
    examples = read_conll(FIXTURES / "conll2003_iob1.txt")
    assert len(examples) == 3
    assert examples[0].tokens[:3] == ("Acme", "Corp", "hires")
    assert examples[0].tags[:3] == ("I-ORG", "I-ORG", "O")
    assert [e.line for e in examples] == [3, 12, 19]
    pos = read_conll(FIXTURES / "conll2003_iob1.txt", tag_column=1)
    assert pos[1].tags == ("NNP", "NNP", "VBP", ".")


def test_ner_conll_chinese_characters_space_separated():
    examples = read_conll(FIXTURES / "resume_bmes.char.bmes")
    assert [len(e.tokens) for e in examples] == [12, 12]
    assert examples[1].tokens[6:9] == ("C", "#", "工")
    assert examples[1].tags[6:9] == ("B-TITLE", "M-TITLE", "M-TITLE")


def test_ner_conll_keeps_unicode_spaces_crlf_and_bom(tmp_path):
    content = "\ufeff北\tB-LOC\r\n\u3000\tO\r\n京 I-LOC\r\n"
    (example,) = read_conll(write(tmp_path, "c.txt", content))
    assert example.tokens == ("北", "\u3000", "京")
    assert example.tags == ("B-LOC", "O", "I-LOC")


def test_ner_conll_one_column_line_is_an_error(tmp_path):
    path = write(tmp_path, "a.conll", "a\tO\n\nb\tO\nlonely\nc\tO\n")
    with pytest.raises(DataError, match="one column \\('lonely'\\)") as info:
        read_conll(path)
    assert where(info) == (4, "tag")
    assert str(info.value).startswith(f"{path}:4:")


def test_ner_conll_mixed_column_counts(tmp_path):
    path = write(tmp_path, "a.conll", "EU NNP B-ORG\nrejects O\n\nx NN B-NP O\n")
    assert [e.tags for e in read_conll(path)] == [("B-ORG", "O"), ("O",)]
    with pytest.raises(DataError, match="has 2 columns") as info:
        read_conll(path, tag_column=2)
    assert info.value.line == 2


@pytest.mark.parametrize("content", ["\n\n  \n", "-DOCSTART- -X- O\n\n# just a comment\n"])
def test_ner_conll_without_sentences(tmp_path, content):
    with pytest.raises(DataError, match="file is empty|no sentences found"):
        read_conll(write(tmp_path, "e.conll", content))
    with pytest.raises(DataError, match="file not found"):
        read_conll(tmp_path / "nope.conll")


def jsonl(tmp_path, *objects, name="d.jsonl") -> Path:
    return write(tmp_path, name, "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects))


def test_ner_jsonl_token_and_text_records(tmp_path):
    path = jsonl(
        tmp_path,
        {"tokens": ["Ann", "sings"], "tags": ["B-PER", "O"]},
        {"tokens": ["Rome"], "ner_tags": ["B-LOC"]},
        {"text": "Ann in Rome", "entities": [{"start": 7, "end": 11, "type": "LOC", "text": "Rome"}]},
        {"text": "Bo", "spans": [{"start": 0, "end": 2, "label": "PER"}]},
    )
    a, b, c, d = read_ner_jsonl(path)
    assert (a.tokens, a.tags, a.line) == (("Ann", "sings"), ("B-PER", "O"), 1)
    assert b.tags == ("B-LOC",)
    assert (c.text, c.spans, c.tokens, c.tags, c.line) == ("Ann in Rome", (Span(7, 11, "LOC"),), (), None, 3)
    assert d.spans == (Span(0, 2, "PER"),)
    inclusive = jsonl(tmp_path, {"text": "Ann", "entities": [{"start": 0, "end": 2, "type": "P"}]}, name="i.jsonl")
    assert read_ner_jsonl(inclusive, end_inclusive=True)[0].spans == (Span(0, 3, "P"),)


@pytest.mark.parametrize(
    "record, field, fragment",
    [
        ({"tokens": ["a", "b"], "tags": ["O"]}, "tags", "2 tokens but 1 tags"),
        ({"tokens": ["a"]}, "tags", "missing field"),
        ({"tokens": ["a"], "ner_tags": [3]}, "ner_tags", "not class ids"),
        ({"tokens": ["a", ""], "tags": ["O", "O"]}, "tokens", "item 1 should be a non-empty string"),
        ({"tokens": [], "tags": []}, "tokens", "empty sentence"),
        ({"tokens": "a b", "tags": ["O"]}, "tokens", "expected a list of strings, found a string"),
        ({"text": "abc"}, "entities", "found null"),
        ({"text": "abc", "entities": [{"start": 0, "end": 5, "type": "X"}]}, "entities[0]", "outside the text"),
        ({"text": "abc", "entities": [{"start": 1, "end": 1, "type": "X"}]}, "entities[0]", "empty"),
        ({"text": "abc", "entities": [{"start": 0, "end": 1}]}, "entities[0]", "found null"),
        ({"text": "abc", "entities": [{"start": 0, "end": 2, "type": "A B"}]}, "entities[0]", "'A B'"),
        ({"text": "abc", "entities": [{"start": "0", "end": 2, "type": "X"}]}, "entities[0]", "integer"),
        ({"text": "abc", "spans": [{"start": 0, "end": 2, "type": "X", "text": "abc"}]}, "spans[0]", "'ab'"),
        ({"text": "  ", "entities": []}, "text", "empty text"),
        ({"sentence": "abc"}, None, "found keys: sentence"),
    ],
)
def test_ner_jsonl_errors_name_line_and_field(tmp_path, record, field, fragment):
    path = jsonl(tmp_path, {"tokens": ["ok"], "tags": ["O"]}, record)
    with pytest.raises(DataError) as info:
        read_ner_jsonl(path)
    assert where(info) == (2, field)
    assert fragment in info.value.message


CLUENER = """{
  "text": "浙商银行叶老桂",
  "label": {"name": {"叶老桂": [[4, 6]]}, "company": {"浙商银行": [[0, 3]]}}
}
{"text": "无实体", "label": {}}
{
  "text": "在上海和上海",
  "label": {
    "address": {"上海": [[1, 2], [4, 5]]}
  }
}
"""


def test_ner_cluener_concatenated_objects(tmp_path):
    a, b, c = read_cluener(write(tmp_path, "train.json", CLUENER))
    assert [e.line for e in (a, b, c)] == [1, 5, 6]
    assert a.spans == (Span(0, 4, "company"), Span(4, 7, "name"))  # end exclusive, sorted
    assert a.text[4:7] == "叶老桂"
    assert b.spans == ()
    assert c.spans == (Span(1, 3, "address"), Span(4, 6, "address"))


def test_ner_cluener_offset_mismatch_names_the_objects_line(tmp_path):
    bad = CLUENER.replace("[[4, 6], [4, 5]]", "").replace("[[1, 2], [4, 5]]", "[[1, 2], [3, 4]]")
    with pytest.raises(DataError, match="entity '上海' does not match the text at \\[3, 5\\): '和上'") as info:
        read_cluener(write(tmp_path, "train.json", bad))
    assert where(info) == (6, "label.address")


def test_ner_cluener_errors(tmp_path):
    with pytest.raises(DataError, match="not valid JSON") as info:
        read_cluener(write(tmp_path, "a.json", '{"text": "a", "label": {}}\n{"text": "b",\n "label": }\n'))
    assert info.value.line == 3
    with pytest.raises(DataError, match="unlabelled") as info:
        read_cluener(write(tmp_path, "b.json", '{"text": "a", "label": {}}\n\n{"text": "b"}'))
    assert where(info) == (3, "label")
    with pytest.raises(DataError, match="integer pairs"):
        read_cluener(write(tmp_path, "c.json", '{"text": "ab", "label": {"x": {"a": [0, 0]}}}'))


def test_ner_file_conll2003_iob1_is_converted_to_iob2():
    nf = read_ner_file(FIXTURES / "conll2003_iob1.txt")
    assert (nf.format, nf.scheme, nf.repairs) == ("conll", "iob1", 0)
    assert nf.examples[0].tags == ("B-ORG", "I-ORG", "O", "B-PER", "I-PER", "O", "B-LOC", "O")
    assert nf.examples[1].tags == ("B-ORG", "B-ORG", "O", "O")  # two adjacent ORG entities
    assert nf.examples[2].entities() == [("PER", 2, 3), ("PER", 4, 5)]
    assert nf.entity_types == ["LOC", "ORG", "PER"]


def test_ner_file_bmes_is_converted_to_iob2():
    nf = read_ner_file(FIXTURES / "resume_bmes.char.bmes")
    assert nf.scheme == "bmes"
    assert nf.examples[0].entities() == [("NAME", 0, 2), ("ORG", 5, 9), ("TITLE", 9, 11)]
    assert nf.examples[1].tags[:2] == ("B-NAME", "O")
    assert nf.examples[1].tags[5:12] == ("O", "B-TITLE", "I-TITLE", "I-TITLE", "I-TITLE", "I-TITLE", "O")


def test_ner_file_invalid_tag_names_the_exact_line(tmp_path):
    path = write(tmp_path, "a.conll", "a\tB-X\nb\tI-X\n\nc\tO\nd\tO\ne\tI-X\nf\tB-Y\n")
    with pytest.raises(DataError) as info:
        read_ner_file(path)
    assert where(info) == (6, "tag")
    message = str(info.value)
    assert "'I-X' continues an entity, but the previous tag is 'O'" in message
    assert "token 3 of the sentence starting on line 4" in message
    assert message.endswith("set data.repair_tags: true to repair")
    nf = read_ner_file(path, repair=True)
    assert nf.repairs == 1
    assert nf.examples[1].tags == ("O", "O", "B-X", "B-Y")


def test_ner_file_bmes_errors_and_repair(tmp_path):
    path = write(tmp_path, "r.bmes", "张 B-NAME\n伟 M-NAME\n\n王 M-ORG\n五 E-ORG\n")
    with pytest.raises(DataError, match="'M-NAME' is the last token of its entity") as info:
        read_ner_file(path)
    assert info.value.line == 2
    nf = read_ner_file(path, repair=True)
    assert (nf.scheme, nf.repairs) == ("bmes", 2)
    assert [e.tags for e in nf.examples] == [("B-NAME", "I-NAME"), ("B-ORG", "I-ORG")]


def test_ner_file_unreadable_tag_cannot_be_repaired(tmp_path):
    path = write(tmp_path, "a.conll", "a\tO\nb\tX-PER\n")
    for repair in (False, True):
        with pytest.raises(DataError, match="unknown prefix 'X-'.*fix the tag") as info:
            read_ner_file(path, repair=repair)
        assert info.value.line == 2


def test_ner_file_mixed_schemes_point_at_the_rarer_tag(tmp_path):
    path = write(tmp_path, "a.conll", "a B-X\nb M-X\nc E-X\n\nd B-X\ne M-X\nf E-X\n\ng B-Y\nh I-Y\n")
    with pytest.raises(DataError, match="mix schemes") as info:
        read_ner_file(path)
    assert info.value.line == 10
    nf = read_ner_file(path, scheme="BMES", repair=True)
    assert nf.examples[2].tags == ("B-Y", "I-Y")
    assert nf.repairs == 2  # "I-" is not BMES, and the entity does not end with "E-"


def test_ner_file_explicit_scheme_and_bad_options(tmp_path):
    path = write(tmp_path, "a.conll", "a\tI-X\nb\tI-X\n")
    assert read_ner_file(path, scheme="io").examples[0].tags == ("B-X", "I-X")
    with pytest.raises(DataError, match="first tag of the sentence"):
        read_ner_file(path, scheme="iob2")
    with pytest.raises(ConfigError, match="unknown tag scheme"):
        read_ner_file(path, scheme="iob3")
    with pytest.raises(ConfigError, match="unknown NER data format"):
        read_ner_file(path, format="xml")


def test_ner_file_jsonl_errors_name_the_record_line(tmp_path):
    path = jsonl(tmp_path, {"tokens": ["a"], "tags": ["B-X"]}, {"tokens": ["a", "b"], "tags": ["O", "I-X"]})
    with pytest.raises(DataError, match="tag 'I-X' \\(token 2\\)") as info:
        read_ner_file(path)
    assert where(info) == (2, "tags")


def test_ner_file_cluener_overlap_is_an_error_unless_repaired(tmp_path):
    nested = {"text": "《招商银行》", "label": {"book": {"《招商银行》": [[0, 5]]}, "company": {"招商银行": [[1, 4]]}}}
    content = CLUENER + json.dumps(nested, ensure_ascii=False) + "\n"
    path = write(tmp_path, "train.json", content)
    with pytest.raises(DataError, match="entities overlap: 'book' \\[0, 6\\)") as info:
        read_ner_file(path)
    assert info.value.line == 12
    nf = read_ner_file(path, repair=True)
    assert (nf.format, nf.scheme, nf.repairs) == ("cluener", "spans", 1)
    assert nf.examples[3].spans == (Span(0, 6, "book"),)
    assert nf.examples[0].char_tags()[:5] == ["B-company", "I-company", "I-company", "I-company", "B-name"]


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("a.conll", "a O\n", "conll"),
        ("a.BIO", "a O\n", "conll"),
        ("a.tsv", "a\tO\n", "conll"),
        ("a.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n', "jsonl"),
        ("a.json", CLUENER, "cluener"),
    ],
)
def test_ner_format_detection(tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    assert detect_ner_format(path) == expected
    assert read_ner_file(path).format == expected


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("a.json", '[{"text": "a", "label": {}}]', "convert it to JSON Lines"),
        ("a.json", '{"tokens": ["a"], "tags": ["O"]}\n', "rename it to .jsonl"),
        ("a.xml", "<a/>", "extension '.xml'"),
    ],
)
def test_ner_format_detection_errors(tmp_path, name, content, fragment):
    with pytest.raises(DataError, match=fragment):
        read_ner_file(write(tmp_path, name, content))


def test_ner_format_from_content_when_the_extension_says_nothing(tmp_path):
    path = write(tmp_path, "eng.testa", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\n")
    assert detect_ner_format(path) == "conll"
    assert read_ner_file(path).examples[0].tokens == ("EU", "rejects")
    with pytest.raises(DataError, match="extension '.testb'"):
        read_ner_file(write(tmp_path, "one.testb", "single\n"))
