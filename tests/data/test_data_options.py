"""data.mask_pii, data.delimiter, data.encoding per split, long fields and every data error at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunelab.config import validate_config
from tunelab.data import read_examples
from tunelab.data.readers import MAX_ERRORS, CsvReader, DataErrors, read_text, sniff_delimiter
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.text_classification.config import TextClassificationData
from tunelab.tasks.text_classification.data import load_splits
from tunelab.tasks.text_regression.config import TextRegressionData
from tunelab.tasks.text_regression.data import load_splits as load_regression
from tunelab.tasks.token_classification.config import TokenClassificationData
from tunelab.tasks.token_classification.data import load_ner_splits
from tunelab.tasks.token_classification.readers import read_ner_file

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, content: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return path


# --- data.mask_pii: config ----------------------------------------------------------------------


def test_mask_pii_config_values(tmp_path):
    assert TextClassificationData().mask_pii is False
    assert TextClassificationData(mask_pii=True).mask_pii is True
    assert TextClassificationData(mask_pii=["PHONE", "cn_id"]).mask_pii == ["phone", "cn_id"]
    assert TextClassificationData(mask_pii="email, ip").mask_pii == ["email", "ip"]
    assert TokenClassificationData(mask_pii=["card"]).mask_pii == ["card"]


def test_unknown_pii_type_is_a_config_error_naming_the_key_and_the_valid_types():
    with pytest.raises(ConfigError) as info:
        validate_config({"data": {"mask_pii": ["phone", "passport"]}})
    message = str(info.value)
    assert "data.mask_pii" in message and "'passport'" in message
    assert "email, phone, card, account, cn_id, ip" in message


# --- data.mask_pii: classification, regression, NER ----------------------------------------------


def test_classification_texts_of_every_split_are_masked_and_counted(tmp_path):
    rows = [f"call me on 1381234{i:04d},a" for i in range(8)] + [f"mail x{i}@example.com please,b" for i in range(8)]
    train = write(tmp_path, "train.csv", "text,label\n" + "\n".join(rows) + "\n")
    dev = write(tmp_path, "dev.csv", "text,label\n我的身份证是11010519491231002X,a\nip 10.0.0.1 and 8.8.8.8,b\n")
    splits = load_splits(TextClassificationData(train=train, dev=dev, mask_pii=True), multi_label=False)
    texts = {e.text for e in splits.train + splits.dev}
    assert "call me on <PHONE>" in texts and "mail <EMAIL> please" in texts
    assert {e.text for e in splits.dev} == {"我的身份证是<CN_ID>", "ip <IP> and <IP>"}
    reading = splits.describe()
    assert reading["mask_pii"] == {
        "types": ["email", "phone", "card", "account", "cn_id", "ip"],
        "masked": {"email": 8, "phone": 8, "cn_id": 1, "ip": 2},
    }


def test_only_the_listed_types_are_masked_and_default_is_off(tmp_path):
    train = write(tmp_path, "train.csv", "text,label\nmail a@b.io tel 13812345678,a\nplain text,b\n" * 3)
    splits = load_splits(TextClassificationData(train=train, mask_pii=["phone"], split={"dev": 0.0}), multi_label=False)
    assert splits.train[0].text == "mail a@b.io tel <PHONE>"
    assert splits.describe()["mask_pii"] == {"types": ["phone"], "masked": {"phone": 3}}
    plain = load_splits(TextClassificationData(train=train, split={"dev": 0.0}), multi_label=False)
    assert plain.train[0].text == "mail a@b.io tel 13812345678" and "mask_pii" not in plain.describe()


def test_regression_masks_both_texts_of_a_pair(tmp_path):
    rows = "".join(f"a@b.io said {i},call 555-123-4567,{i}.5\n" for i in range(6))
    train = write(tmp_path, "train.csv", "sentence1,sentence2,score\n" + rows)
    config = TextRegressionData(
        train=train,
        text_column="sentence1",
        text_pair_column="sentence2",
        label_column="score",
        mask_pii=True,
        split={"dev": 0.0},
    )
    splits = load_regression(config)
    assert (splits.train[0].text, splits.train[0].text_pair) == ("<EMAIL> said 0", "call <PHONE>")
    assert splits.describe()["mask_pii"]["masked"] == {"email": 6, "phone": 6}


def test_ner_conll_tokens_are_masked_one_for_one(tmp_path):
    conll = (
        "John B-PER\ncalls O\n+44 O\n20 O\n7946 O\n0958 O\n.\tO\n\n"
        "张 B-PER\n三 I-PER\n电 O\n话 O\n" + "".join(f"{d} O\n" for d in "13812345678") + "\n"
    )
    train = write(tmp_path, "train.conll", conll)
    config = TokenClassificationData(train=train, mask_pii=True, split={"dev": 0.0})
    splits = load_ner_splits(config)
    first, second = splits.train
    assert first.tokens == ("John", "calls", "<PHONE>", "<PHONE>", "<PHONE>", "<PHONE>", ".")
    assert first.tags == ("B-PER", "O", "O", "O", "O", "O", "O")
    assert second.tokens[:4] == ("张", "三", "电", "话") and set(second.tokens[4:]) == {"<PHONE>"}
    assert len(second.tokens) == len(second.tags) == 15
    assert splits.describe() == {
        "format": "conll",
        "tag_scheme": "iob2",
        "mask_pii": {"types": ["email", "phone", "card", "account", "cn_id", "ip"], "masked": {"phone": 2}},
    }


def test_ner_text_spans_move_with_the_masked_text(tmp_path):
    text = "张三的邮箱是zhang@corp.cn，住在北京"
    record = {
        "text": text,
        "entities": [
            {"start": 0, "end": 2, "type": "PER"},
            {"start": 6, "end": 19, "type": "MAIL"},
            {"start": 22, "end": 24, "type": "LOC"},
        ],
    }
    assert text[6:19] == "zhang@corp.cn" and text[22:24] == "北京"
    path = write(tmp_path, "t.jsonl", json.dumps(record, ensure_ascii=False) + "\n")
    from tunelab.data.pii import PiiMasker

    example = read_ner_file(path, mask_pii=PiiMasker()).examples[0]
    assert example.text == "张三的邮箱是<EMAIL>，住在北京"
    assert [(example.text[s.start : s.end], s.type) for s in example.spans or ()] == [
        ("张三", "PER"),
        ("<EMAIL>", "MAIL"),
        ("北京", "LOC"),
    ]


# --- data.delimiter ----------------------------------------------------------------------------


def test_semicolon_csv_reads_with_auto_detection(tmp_path):
    path = write(tmp_path, "t.csv", 'text;label\nhello, world;a\n"x;y";b\nbye;a\n')
    loaded = read_examples(path)
    assert [(e.text, e.label) for e in loaded.examples] == [("hello, world", "a"), ("x;y", "b"), ("bye", "a")]
    assert loaded.delimiter == ";"


@pytest.mark.parametrize(
    "content, expected",
    [
        ("text,label\nhello; there,a\nmore; text; here,b\n", ","),
        ("text|label\nhi, there|a\nbye|b\n", "|"),
        ("text\tlabel\nhi, there\ta\nbye\tb\n", "\t"),
        ("text\nonly one column\n", ","),
        ('text,label\n"a; b; c",x\n"d; e",y\n', ","),
        ("text\nhello; world\nfoo; bar\n", ","),  # one column of texts with a semicolon each
    ],
)
def test_sniff_delimiter(content, expected):
    assert sniff_delimiter(content) == expected


def test_configured_delimiter_and_its_validation(tmp_path):
    path = write(tmp_path, "t.csv", "text|label\nhi|a\nbye|b\n")
    assert [e.text for e in read_examples(path, delimiter="|").examples] == ["hi", "bye"]
    assert TextClassificationData(delimiter="tab").delimiter == "\t"
    assert TextClassificationData(delimiter="\\t").delimiter == "\t"
    with pytest.raises(ConfigError, match="data.delimiter"):
        validate_config({"data": {"delimiter": ";;"}})
    # The delimiter reaches the shared loading path from the config.
    splits = load_splits(TextClassificationData(train=path, delimiter="|", split={"dev": 0.0}), multi_label=False)
    assert [e.text for e in splits.train] == ["hi", "bye"] and splits.describe()["delimiter"] == "|"


def test_field_count_hint_names_the_delimiter_in_use(tmp_path):
    path = write(tmp_path, "t.csv", "text;label\nhi;a\nbye;b;extra\nok;a\n")
    with pytest.raises(DataError) as info:
        read_examples(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: expected 2 fields, found 3")
    assert "separated by semicolon" in message and "quote fields that contain it" in message
    assert "commas" not in message
    comma = write(tmp_path, "c.csv", "text,label\nhi,a\nbye,b,extra\nok,a\n")
    with pytest.raises(DataError, match="quote fields that contain commas"):
        read_examples(comma)


# --- long fields --------------------------------------------------------------------------------


def test_a_five_megabyte_text_field_reads(tmp_path):
    long_text = "word, " * 900_000  # 5.4 MB, with commas: quoted
    path = tmp_path / "t.csv"
    path.write_text(f'text,label\n"{long_text}",a\nshort,b\n', encoding="utf-8")
    loaded = read_examples(path)
    assert len(loaded.examples[0].text) == len(long_text) > 5_000_000
    assert CsvReader().read(read_text(path), path).records[0].values["text"] == long_text


# --- data.encoding per split ---------------------------------------------------------------------


def test_encoding_per_split(tmp_path):
    rows = "".join(f"中文句子{i},好\n英文{i},坏\n" for i in range(5))
    train = write(tmp_path, "train.csv", "text,label\n" + rows, "gb18030")
    dev = write(tmp_path, "dev.csv", "text,label\n中文,好\n英文,坏\n")
    config = TextClassificationData(train=train, dev=dev, encoding={"train": "gb18030"})
    splits = load_splits(config, multi_label=False)
    assert splits.train[0].text.startswith("中文句子") and {e.label for e in splits.dev} == {"好", "坏"}
    # One codec for every file (utf-8): the gb18030 train file is refused with its line.
    with pytest.raises(DataError) as info:
        load_splits(TextClassificationData(train=train, dev=dev), multi_label=False)
    assert str(info.value).startswith(f"{train}:2: bytes are not valid utf-8")


def test_encoding_mapping_validation_and_bad_codec(tmp_path):
    with pytest.raises(ConfigError, match="data.encoding"):
        validate_config({"data": {"encoding": {"training": "utf-8"}}})
    train = write(tmp_path, "train.csv", "text,label\na,b\n")
    with pytest.raises(DataError, match=r"unknown encoding 'utf-9'; set data.encoding.train to a Python codec"):
        read_examples(train, encoding={"train": "utf-9"}, split="train")
    with pytest.raises(DataError, match=r"unknown encoding 'nope'; set data.encoding to a Python codec"):
        read_examples(train, encoding="nope")


def test_ner_encoding_per_split(tmp_path):
    train = write(tmp_path, "train.conll", "北 B-LOC\n京 I-LOC\n好 O\n\n上 B-LOC\n海 I-LOC\n\n", "gb18030")
    dev = write(tmp_path, "dev.conll", "北 B-LOC\n京 I-LOC\n\n")
    splits = load_ner_splits(TokenClassificationData(train=train, dev=dev, encoding={"train": "gb18030"}))
    assert splits.train[0].tokens == ("北", "京", "好") and splits.dev[0].tokens == ("北", "京")


# --- every data error of a file at once ----------------------------------------------------------


def test_three_bad_rows_are_reported_together(tmp_path):
    path = write(tmp_path, "t.csv", "text,label\nok,a\n,b\nfine,a\nbad,b,extra\nalso,\nok,b\n")
    with pytest.raises(DataErrors) as info:
        read_examples(path)
    error = info.value
    assert isinstance(error, DataError) and len(error.errors) == 3
    lines = str(error).splitlines()
    assert lines[0] == "3 problems in the data:"
    assert lines[1] == f"  {path}:3: field 'text': empty text"
    assert lines[2].startswith(f"  {path}:5: expected 2 fields, found 3")
    assert lines[3] == f"  {path}:6: field 'label': empty label"


def test_one_bad_row_keeps_its_single_error_wording(tmp_path):
    path = write(tmp_path, "t.csv", "text,label\nok,a\n,b\n")
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert not isinstance(info.value, DataErrors)
    assert str(info.value) == f"{path}:3: field 'text': empty text"


def test_errors_are_capped(tmp_path):
    rows = "".join(",a\n" for _ in range(MAX_ERRORS + 7))
    path = write(tmp_path, "t.csv", "text,label\nok,a\n" + rows)
    with pytest.raises(DataErrors) as info:
        read_examples(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{MAX_ERRORS + 7} problems in the data:"
    assert len(lines) == MAX_ERRORS + 2 and lines[-1] == "  ... and 7 more"


def test_jsonl_errors_together(tmp_path):
    path = write(tmp_path, "t.jsonl", '{"text": "a", "label": "x"}\nnot json\n{"text": "", "label": "y"}\n[1]\n')
    with pytest.raises(DataErrors) as info:
        read_examples(path)
    assert [(e.line, e.field) for e in info.value.errors] == [(2, None), (3, "text"), (4, None)]


def test_ner_errors_together(tmp_path):
    path = write(tmp_path, "t.conll", "a B-PER\nb\nc O\n\nd O\ne\n\nf I-PER\ng X-\n\n")
    with pytest.raises(DataErrors) as info:
        read_ner_file(path, scheme="iob2")
    assert [e.line for e in info.value.errors] == [2, 6]
    jsonl = write(tmp_path, "t.jsonl", '{"tokens": ["a"], "tags": []}\n{"tokens": ["a"], "tags": ["O"]}\n{"x": 1}\n')
    with pytest.raises(DataErrors) as info:
        read_ner_file(jsonl)
    assert [(e.line, e.field) for e in info.value.errors] == [(1, "tags"), (3, None)]


def test_cli_reports_every_bad_row_and_exits_2(tmp_path):
    train = write(tmp_path, "train.csv", "text,label\nok,a\n,b\nfine,a\nbad,b,extra\nalso,\n")
    config = write(tmp_path, "config.yaml", f"task: text_classification\ndata:\n  train: {train}\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    code = "from tunelab.cli.app import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "train", str(config), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "3 problems in the data:" in result.stderr
    for line in (3, 5, 6):
        assert f"{train}:{line}:" in result.stderr
