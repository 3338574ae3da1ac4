"""CSV/TSV files without a header row: data.header (auto, yes, no), columns by position and content,
the auto decision and its limits, exact line numbers, and an artifact reading another such file."""

from __future__ import annotations

import io
import random
from collections import Counter
from pathlib import Path

import pytest

from tunelab.config import load_config
from tunelab.data import read_examples
from tunelab.data.columns import guess_header
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.text_classification.config import TextClassificationData as DataConfig
from tunelab.tasks.text_classification.data import load_splits

HINT = "set data.header: no if the file has no header row"

POS = [
    "房间很干净，服务也很周到，下次还会再来。",
    "性价比很高，早餐丰富，推荐大家入住！",
    "位置方便，前台热情，整体非常满意。",
]
NEG = [
    "房间太小，隔音很差，晚上根本睡不着。",
    "服务态度恶劣，等了半小时才办好入住。",
    '卫生间有异味，"五星级"名不副实。',
]
TNEWS_LABELS = [
    "news_story", "news_culture", "news_entertainment", "news_sports", "news_finance", "news_house", "news_car",
    "news_edu", "news_tech", "news_military", "news_travel", "news_world", "news_stock", "news_agriculture",
    "news_game",
]  # fmt: skip


def write(tmp_path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def chnsenticorp_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Like ChnSentiCorp's LUGE TSV: "text<TAB>label", label positive|negative, no header."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        text = rng.choice(POS if label == "positive" else NEG) + f"第{i}条评论。"
        rows.append((text, label))
    return rows


def tsv(rows) -> str:
    return "".join("\t".join(row) + "\n" for row in rows)


def error_of(path, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        read_examples(path, **kwargs)
    return info.value


# --- auto: files without a header ---------------------------------------------------------------


def test_headerless_chnsenticorp_like_tsv(tmp_path):
    rows = chnsenticorp_rows(40)
    path = write(tmp_path, "dev.tsv", tsv(rows))
    loaded = read_examples(path)
    assert (loaded.header, loaded.text_column, loaded.text_pair_column, loaded.label_column) == (False, "0", None, "1")
    assert len(loaded.examples) == 40  # the first row is data, not eaten as a header
    assert [(e.line, e.text, e.label) for e in loaded.examples[:2]] == [(1, *rows[0]), (2, *rows[1])]
    assert Counter(e.label for e in loaded.examples) == {"positive": 20, "negative": 20}
    # A field that opens with a quote in plain TSV is text, not CSV quoting.
    assert any(e.text.count('"') == 2 for e in loaded.examples)


def test_headerless_tnews_like_tsv_with_15_labels(tmp_path):
    rng = random.Random(3)
    rows = [(f"标题{i}：" + "新闻" * rng.randint(3, 12), TNEWS_LABELS[(i * 7) % 15]) for i in range(300)]
    # Plain TSV (as in CLUE's files): a quote opens a field but never closes it where CSV wants.
    rows[5] = ('"老公不要面，一个月给10万"，这种要求过分吗？', rows[5][1])
    path = write(tmp_path, "train.tsv", tsv(rows))
    loaded = read_examples(path)
    assert (loaded.header, loaded.text_column, loaded.label_column) == (False, "0", "1")
    assert len(loaded.examples) == 300 and len({e.label for e in loaded.examples}) == 15
    assert loaded.examples[5].text == rows[5][0] and loaded.examples[5].line == 6


def test_a_rare_first_label_still_counts_when_it_recurs_far_down(tmp_path):
    rows = (
        [("第一条很长的新闻标题内容", "news_stock")]
        + [(f"另一条很长很长的新闻标题{i}", "news_tech" if i % 2 else "news_game") for i in range(999)]
        + [("最后一条新闻标题", "news_stock")]
    )
    loaded = read_examples(write(tmp_path, "t.tsv", tsv(rows)))
    assert loaded.header is False and len(loaded.examples) == 1001


def test_short_chinese_texts_and_longer_label_names(tmp_path):
    rows = [("很好", "positive"), ("太吵", "negative"), ("满意", "positive"), ("一般般", "negative"),
            ("推荐", "positive"), ("不推荐", "negative"), ("干净", "positive"), ("很差", "negative")]  # fmt: skip
    loaded = read_examples(write(tmp_path, "t.tsv", tsv(rows)))
    assert (loaded.header, loaded.text_column, loaded.label_column) == (False, "0", "1")
    assert [(e.text, e.label) for e in loaded.examples] == rows


def test_text_is_the_longest_column_and_label_the_fewest_distinct(tmp_path):
    # id, text, label: the id is unique and short, the text is long.
    rows = [(str(1000 + i), f"review number {i} was rather good", "pos" if i % 3 else "neg") for i in range(12)]
    loaded = read_examples(write(tmp_path, "t.csv", "".join(",".join(r) + "\n" for r in rows)))
    assert (loaded.header, loaded.text_column, loaded.label_column) == (False, "1", "2")
    assert loaded.examples[0].text == "review number 0 was rather good"


def test_headerless_pair_column_only_when_named(tmp_path):
    rows = [(f"premise number {i} is long", f"hypothesis {i}", "entail" if i % 2 else "contra") for i in range(10)]
    path = write(tmp_path, "nli.tsv", tsv(rows))
    assert read_examples(path).text_pair_column is None
    loaded = read_examples(path, text_pair_column="1")
    assert (loaded.text_column, loaded.text_pair_column, loaded.label_column) == ("0", "1", "2")
    assert loaded.examples[0].text_pair == "hypothesis 0"


def test_headerless_multi_label(tmp_path):
    rows = [(f"text number {i}", "a|b" if i % 3 == 0 else "a") for i in range(9)]
    loaded = read_examples(write(tmp_path, "t.tsv", tsv(rows)), multi_label=True)
    assert loaded.header is False
    assert [e.label for e in loaded.examples[:2]] == [("a", "b"), ("a",)]


def test_pandas_header_of_unnamed_columns(tmp_path):
    # DataFrame(rows).to_csv(index=False) writes "0,1" as the header.
    rows = [(f"review number {i} was good", "pos" if i % 2 else "neg") for i in range(10)]
    path = write(tmp_path, "t.csv", "0,1\n" + "".join(",".join(r) + "\n" for r in rows))
    loaded = read_examples(path)
    assert (loaded.header, loaded.text_column, loaded.label_column) == (True, "0", "1")
    assert len(loaded.examples) == 10 and loaded.examples[0].line == 2


# --- auto: files with a header -----------------------------------------------------------------


def test_headered_file_keeps_working(tmp_path):
    # ChnSentiCorp_htl_all.csv: "label,review", labels 1/0; "review" is a text candidate.
    rows = [("1" if i % 2 else "0", f'"评论{i}：房间""不错"",推荐"') for i in range(10)]
    path = write(tmp_path, "htl.csv", "label,review\n" + "".join(",".join(r) + "\n" for r in rows))
    loaded = read_examples(path)
    assert (loaded.header, loaded.text_column, loaded.label_column) == (True, "review", "label")
    assert len(loaded.examples) == 10
    assert (loaded.examples[0].line, loaded.examples[0].text, loaded.examples[0].label) == (
        2,
        '评论0：房间"不错",推荐',
        "0",
    )


def test_a_configured_column_name_marks_the_header(tmp_path):
    rows = [(f"review number {i} was good", "pos" if i % 2 else "neg") for i in range(10)]
    path = write(tmp_path, "t.csv", "body_text,polarity\n" + "".join(",".join(r) + "\n" for r in rows))
    loaded = read_examples(path, text_column="body_text", label_column="polarity")
    assert (loaded.header, len(loaded.examples), loaded.examples[0].line) == (True, 10, 2)


def test_header_with_unknown_names_is_an_error_with_the_hint(tmp_path):
    rows = [(f"review number {i} was good", "pos" if i % 2 else "neg") for i in range(10)]
    path = write(tmp_path, "t.csv", "body_text,polarity\n" + "".join(",".join(r) + "\n" for r in rows))
    error = error_of(path)
    assert error.line == 1
    assert "cannot find the text column among the columns: body_text, polarity" in error.message
    assert "Set data.text_column" in error.message and HINT in error.message


# --- auto cannot decide ------------------------------------------------------------------------


def test_undecidable_first_row_is_a_header_and_the_error_suggests_header_no(tmp_path):
    # The first row's label occurs nowhere else: it could be a header's column name.
    path = write(tmp_path, "t.csv", "a long first text here,first\nsecond text,b\nthird text,b\nfourth,c\nfifth,c\n")
    error = error_of(path)
    assert error.line == 1 and HINT in error.message
    assert "a long first text here, first" in error.message
    loaded = read_examples(path, header="no", label_column="1")
    assert [(e.line, e.label) for e in loaded.examples] == [(1, "first"), (2, "b"), (3, "b"), (4, "c"), (5, "c")]


def test_single_row_file(tmp_path):
    path = write(tmp_path, "t.tsv", "只有一行的评论\tpositive\n")
    error = error_of(path)
    assert "file has a header but no rows" in error.message and HINT in error.message
    loaded = read_examples(path, header="no", label_column="1")
    assert [(e.line, e.text, e.label) for e in loaded.examples] == [(1, "只有一行的评论", "positive")]


def test_header_repeated_by_concatenated_files_is_not_evidence_of_data(tmp_path):
    rows = "".join(f"review number {i} was good,{'pos' if i % 2 else 'neg'}\n" for i in range(6))
    path = write(tmp_path, "t.csv", "body,polarity\n" + rows + "body,polarity\n" + rows)
    assert HINT in error_of(path).message


def test_guess_header_reasons():
    data = [["这间酒店不错", "positive"], ["太吵了", "negative"], ["很好", "positive"], ["一般", "negative"],
            ["不推荐", "negative"], ["还会再来", "positive"]]  # fmt: skip
    assert guess_header(data).header is False
    assert guess_header([["text", "label"], *data]).reason == "the first row names the column 'text'"
    assert guess_header([["评论", "类别"], *data]).decided is False  # a header in unknown names: undecided
    assert guess_header([["x", "y"], ["a", "1"]], configured=["y"]).header is True
    # Positions configured for a file without a header are no header names.
    assert guess_header([["我很喜欢", "1"], ["a", "0"], ["b", "0"], ["c", "0"]], configured=["0", "1"]).decided is False
    # Known labels (from train or the model) decide a short file.
    assert guess_header([["很好", "positive"]], label_column="1", known_labels={"positive"}).header is False
    assert (
        guess_header(
            [["好", "a|b"]], label_column="1", known_labels={"a", "b"}, label_parts=lambda v: v.split("|")
        ).header
        is False
    )


# --- explicit yes / no -------------------------------------------------------------------------


def test_explicit_header_yes_is_todays_behaviour(tmp_path):
    path = write(tmp_path, "dev.tsv", tsv(chnsenticorp_rows(10)))
    error = error_of(path, header="yes")
    assert error.line == 1 and HINT in error.message
    assert error_of(path, header=True).message == error.message
    error = error_of(path, header="yes", text_column="0")
    assert "columns are named by position only in a file without a header" in error.message


def test_explicit_header_no(tmp_path):
    path = write(tmp_path, "t.csv", "text,label\n" + "".join(f"text {i},{'a' if i % 2 else 'b'}\n" for i in range(8)))
    loaded = read_examples(path, header="no")
    assert (loaded.header, loaded.text_column, loaded.label_column) == (False, "0", "1")
    assert (loaded.examples[0].line, loaded.examples[0].text, loaded.examples[0].label) == (1, "text", "label")
    assert read_examples(path, header=False).examples == loaded.examples
    error = error_of(path, header="no", text_column="text")
    assert (error.field, error.line) == ("text", None)
    assert "columns are named by position" in error.message and "data.header: yes" in error.message


def test_headerless_label_column_that_cannot_be_found(tmp_path):
    path = write(tmp_path, "t.tsv", tsv([(f"text number {i}", f"unique {i}") for i in range(6)]))
    error = error_of(path, header="no")
    assert "cannot find the label column" in error.message and "1: 6 of 6" in error.message
    assert 'data.label_column to its position, e.g. "1"' in error.message
    loaded = read_examples(path, header="no", require_labels=False)
    assert (loaded.text_column, loaded.label_column) == ("0", None)


def test_jsonl_ignores_the_header_setting(tmp_path):
    path = write(tmp_path, "t.jsonl", '{"text": "a", "label": "x"}\n')
    for header in ("auto", "yes", "no"):
        loaded = read_examples(path, header=header)
        assert (loaded.header, loaded.text_column, loaded.examples[0].line) == (None, "text", 1)


def test_bad_header_setting(tmp_path):
    with pytest.raises(ConfigError, match="data.header must be auto, yes or no"):
        read_examples(write(tmp_path, "t.csv", "text,label\na,b\n"), header="maybe")


def test_config_header_and_positions_from_yaml(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  header: no\n  text_column: 0\n  label_column: 1\n")
    data = load_config(config).data
    assert (data.header, data.text_column, data.label_column) == ("no", "0", "1")
    assert load_config(None, ["data.header=yes"]).data.header == "yes"
    assert load_config(None, ["data.header=false"]).data.header == "no"
    assert DataConfig().header == "auto"
    with pytest.raises(ConfigError):
        load_config(None, ["data.header=maybe"])


# --- line numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, line, message",
    [
        (
            "一条\tpositive\textra\n",
            4,
            "expected 2 fields, found 3 (as many as the first row, line 1; the file has no header)",
        ),
        ("   \tnegative\n", 4, "empty text"),
        ("没有标签的评论\t\n", 4, "empty label"),
    ],
)
def test_errors_in_a_headerless_file_name_the_exact_line(tmp_path, bad, line, message):
    rows = chnsenticorp_rows(20)
    path = write(tmp_path, "t.tsv", tsv(rows[:3]) + bad + tsv(rows[3:]))
    error = error_of(path)
    assert error.line == line and error.message.startswith(message)


def test_line_numbers_with_blank_lines_and_crlf(tmp_path):
    rows = chnsenticorp_rows(6)
    path = write(tmp_path, "t.tsv", "\r\n" + tsv(rows[:2]).replace("\n", "\r\n") + "\r\n" + tsv(rows[2:]))
    loaded = read_examples(path)
    assert [e.line for e in loaded.examples] == [2, 3, 5, 6, 7, 8]
    assert loaded.examples[0].text == rows[0][0]


def test_plain_tsv_row_with_an_extra_tab_is_reported_at_its_line(tmp_path):
    rows = chnsenticorp_rows(6)
    rows[1] = ('"引号开头"的评论', rows[1][1])
    path = write(tmp_path, "t.tsv", tsv(rows) + "多了一个\tpositive\tx\n")
    error = error_of(path)
    assert error.line == 7
    assert "quotes are read as plain characters" in error.message and "(line 2: bad quoting" in error.message


def test_quoted_tsv_still_reads_quoted_fields(tmp_path):
    path = write(tmp_path, "t.tsv", 'text\tlabel\n"multi\nline"\ta\n"say ""hi"""\tb\n')
    assert [(e.line, e.text) for e in read_examples(path).examples] == [(2, "multi\nline"), (4, 'say "hi"')]


# --- splits ------------------------------------------------------------------------------------


def test_load_splits_headerless_train_and_a_short_dev(tmp_path):
    train = write(tmp_path, "train.tsv", tsv(chnsenticorp_rows(40)))
    # Too short to see a label recur, but train knows the labels: the first row is data.
    dev = write(tmp_path, "dev.tsv", tsv([("还不错", "positive"), ("很差", "negative")]))
    splits = load_splits(DataConfig(train=train, dev=dev), multi_label=False)
    assert (splits.header, splits.text_column, splits.label_column) == (False, "0", "1")
    assert [(e.line, e.label) for e in splits.dev] == [(1, "positive"), (2, "negative")]
    assert len(splits.train) == 40


def test_load_splits_with_explicit_header_no(tmp_path):
    train = write(tmp_path, "train.tsv", tsv(chnsenticorp_rows(20)))
    config = DataConfig.model_validate({"train": train, "header": False, "text_column": 0, "label_column": 1})
    splits = load_splits(config, multi_label=False)
    assert (splits.header, len(splits.train) + len(splits.dev)) == (False, 20)


def test_load_splits_headered_train_reports_header(tmp_path):
    train = write(tmp_path, "train.csv", "text,label\n" + "".join(f"t{i},{'a' if i % 2 else 'b'}\n" for i in range(20)))
    assert load_splits(DataConfig(train=train), multi_label=False).header is True


# --- end to end: train on a headerless file, evaluate and predict another ----------------------


@pytest.mark.train
def test_train_and_evaluate_headerless_tsv(tiny_model_dir, tmp_path):
    from rich.console import Console

    from helpers import make_texts, tiny_overrides
    from tunelab.inference.predictor import load
    from tunelab.workflow.evaluate import evaluate_artifact, read_for_artifact
    from tunelab.workflow.train import train

    data = {name: write(tmp_path, f"{name}.tsv", tsv(make_texts(n, seed=seed)))
            for name, n, seed in (("train", 90, 1), ("dev", 24, 2), ("test", 24, 3))}  # fmt: skip
    config = load_config(None, tiny_overrides(tiny_model_dir, data, **{"training.epochs": 2}))
    out = io.StringIO()
    result = train(config, output_dir=tmp_path / "model", console=Console(file=out, width=200))
    assert "text column '0', label column '1' (no header)" in out.getvalue()
    assert result.meta["data"]["reading"]["columns"] == {"text": "0", "text_pair": None, "label": "1"}
    assert result.meta["data"]["counts"] == {"train": 90, "dev": 24, "test": 0}

    report = evaluate_artifact(tmp_path / "model", data["test"])
    assert report["evaluated_on"]["num_examples"] == 24
    predictor = load(tmp_path / "model")
    expected = predictor.evaluate(read_examples(data["test"], header="no", label_column="1").examples)
    assert report["metrics"] == expected
    # Prediction input of the same shape, labels ignored; the first row is not eaten.
    examples = read_for_artifact(predictor, data["test"], require_labels=False)
    assert len(examples) == 24 and examples[0].line == 1
