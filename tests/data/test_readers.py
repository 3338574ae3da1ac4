"""Format detection, decoding and the CSV/TSV/JSONL parsers."""

from __future__ import annotations

import pytest

from tunelab.data.readers import READERS, CsvReader, JsonlReader, TsvReader, detect_format, read_text
from tunelab.errors import DataError


def read(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    fmt = detect_format(path)
    return READERS[fmt]().read(read_text(path), path)


def lines_and_values(table):
    return [(record.line, record.values) for record in table.records]


# --- format detection -------------------------------------------------------------------------


def test_registry_maps_each_format_to_its_reader():
    assert {"csv": CsvReader, "tsv": TsvReader, "jsonl": JsonlReader} == READERS


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.tab", "tsv"),
        ("dir.v2/a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json-lines", "jsonl"),
    ],
)
def test_detect_format_from_extension(name, expected):
    assert detect_format(name) == expected


def test_unknown_extension_lists_supported_and_names_the_config_key():
    with pytest.raises(DataError) as info:
        detect_format("data/train.txt")
    message = str(info.value)
    assert message.startswith("data/train.txt: ")
    assert "'.txt'" in message
    for suffix in (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json-lines"):
        assert suffix in message
    assert "data.format" in message


def test_plain_json_extension_explains_json_lines():
    with pytest.raises(DataError, match="JSON Lines"):
        detect_format("train.json")


def test_no_extension_is_reported():
    with pytest.raises(DataError, match=r"'\(none\)'"):
        detect_format("train")


# --- reading and decoding ---------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError) as info:
        read_text(path)
    assert info.value.path == str(path)
    assert str(info.value) == f"{path}: file not found"


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(DataError, match="file not found: this path is a directory"):
        read_text(tmp_path)


@pytest.mark.parametrize("content", [b"", b"  \n\r\n\t \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_text(path)
    assert str(info.value) == f"{path}: file is empty"


def test_utf8_bom_is_stripped(tmp_path):
    table = read(tmp_path, "bom.csv", b"\xef\xbb\xbftext,label\nhi,a\n")
    assert table.columns == ["text", "label"]


def test_bom_only_file_is_empty(tmp_path):
    with pytest.raises(DataError, match="file is empty"):
        read(tmp_path, "bom.csv", b"\xef\xbb\xbf")


def test_invalid_utf8_reports_exact_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    # The bad byte is on physical line 5 (the quoted field spans lines 3-4), after "café ":
    # 5 characters (6 bytes), so column 6.
    path.write_bytes('text,label\nfine,a\n"two\nlines",b\ncafé '.encode() + b"\xff,c\n")
    with pytest.raises(DataError) as info:
        read_text(path)
    error = info.value
    assert error.line == 5
    assert error.message == (
        "bytes are not valid utf-8 (byte 0xff at column 6); re-save the file as UTF-8 or set data.encoding"
    )
    assert str(error).startswith(f"{path}:5: bytes are not valid utf-8")


def test_other_encoding_when_configured(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncafé,a\n".encode("latin-1"))
    with pytest.raises(DataError, match=r":2: bytes are not valid utf-8 \(byte 0xe9 at column 4\)"):
        read_text(path)
    assert read_text(path, "latin-1") == "text,label\ncafé,a\n"


def test_unknown_encoding(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text\nx\n")
    with pytest.raises(DataError, match="unknown encoding 'utf-99'; set data.encoding"):
        read_text(path, "utf-99")


# --- CSV / TSV --------------------------------------------------------------------------------


def test_csv_records_carry_the_line_they_start_on(tmp_path):
    content = 'text,label\r\n"first\r\nspans\r\nthree",a\r\n\r\nplain,b\r\n"x, y",c'
    table = read(tmp_path, "t.csv", content)
    assert table.columns == ["text", "label"]
    assert table.header_line == 1
    assert lines_and_values(table) == [
        (2, {"text": "first\r\nspans\r\nthree", "label": "a"}),
        (6, {"text": "plain", "label": "b"}),
        (7, {"text": "x, y", "label": "c"}),
    ]


def test_csv_leading_blank_lines_move_the_header(tmp_path):
    table = read(tmp_path, "t.csv", "\n\ntext,label\nhi,a\n")
    assert table.header_line == 3
    assert lines_and_values(table) == [(4, {"text": "hi", "label": "a"})]


def test_csv_doubled_quotes_and_surrounding_spaces_are_kept(tmp_path):
    table = read(tmp_path, "t.csv", 'text,label\n"say ""hi"" ", a\n')
    assert table.records[0].values == {"text": 'say "hi" ', "label": " a"}


def test_csv_header_but_no_rows(tmp_path):
    with pytest.raises(DataError, match=r"t\.csv: file has a header but no rows \(header: text, label\)"):
        read(tmp_path, "t.csv", "text,label\n\n")


def test_csv_field_count_mismatch_names_the_line(tmp_path):
    with pytest.raises(DataError) as info:
        read(tmp_path, "t.csv", "text,label\nok,a\nnot, ok,b\n")
    assert info.value.line == 3
    assert info.value.message.startswith("expected 2 fields, found 3; quote fields that contain commas")


def test_csv_too_few_fields(tmp_path):
    with pytest.raises(DataError) as info:
        read(tmp_path, "t.csv", "text,label\nonly text\n")
    assert (info.value.line, info.value.message) == (2, "expected 2 fields, found 1")


def test_csv_unclosed_quote_names_the_line_it_opens_on(tmp_path):
    # Without strict parsing the label column would silently swallow the rest of the file.
    with pytest.raises(DataError) as info:
        read(tmp_path, "t.csv", 'label,text\na,fine\nb,"never closed\nc,more\n')
    assert info.value.line == 3
    assert "quoted field starting on line 3 is never closed" in info.value.message


def test_csv_text_after_closing_quote_is_an_error(tmp_path):
    with pytest.raises(DataError) as info:
        read(tmp_path, "t.csv", 'text,label\nok,a\n"quoted"tail,a\n')
    assert info.value.line == 3
    assert info.value.message == (
        "bad quoting: a field that starts with '\"' must end with '\"' right before the next comma; "
        'inside a quoted field write a quote as two quotes ("")'
    )


def test_csv_duplicate_header_names(tmp_path):
    with pytest.raises(DataError, match=r":1: the header names column 'text' twice"):
        read(tmp_path, "t.csv", "text,text,label\na,b,c\n")


def test_tsv_commas_are_data_and_tabs_separate(tmp_path):
    table = read(tmp_path, "t.tsv", "sentence\tlabel\nhello, world\tgreet\n")
    assert lines_and_values(table) == [(2, {"sentence": "hello, world", "label": "greet"})]


def test_tsv_extra_tab_hint(tmp_path):
    with pytest.raises(DataError, match=r":2: expected 2 fields, found 3; a field contains a tab"):
        read(tmp_path, "t.tab", "text\tlabel\na\tb\tc\n")


# --- JSONL ------------------------------------------------------------------------------------


def test_jsonl_lines_blank_lines_and_columns_from_first_object(tmp_path):
    content = '{"text": "a", "label": 1}\r\n\n  \n{"label": "b", "text": "b", "extra": null}\n'
    table = read(tmp_path, "t.jsonl", content)
    assert table.columns == ["text", "label"]
    assert table.header_line == 1
    assert lines_and_values(table) == [
        (1, {"text": "a", "label": 1}),
        (4, {"label": "b", "text": "b", "extra": None}),
    ]


def test_jsonl_unicode_line_separator_inside_a_string_is_not_a_line_break(tmp_path):
    table = read(tmp_path, "t.jsonl", '{"text": "a\u2028b"}\n{"text": "c"}\n')
    assert [(r.line, r.values["text"]) for r in table.records] == [(1, "a\u2028b"), (2, "c")]


def test_jsonl_invalid_json_names_line_and_error(tmp_path):
    with pytest.raises(DataError) as info:
        read(tmp_path, "t.jsonl", '{"text": "a"}\n\n{"text": "b",}\n')
    assert info.value.line == 3
    assert info.value.message.startswith("not valid JSON: Expecting property name enclosed in double quotes")


@pytest.mark.parametrize("value, kind", [("[1, 2]", "an array"), ('"text"', "a string"), ("3", "a number")])
def test_jsonl_line_must_be_an_object(tmp_path, value, kind):
    with pytest.raises(DataError) as info:
        read(tmp_path, "t.ndjson", '{"text": "a"}\n' + value + "\n")
    assert (info.value.line, info.value.message) == (2, f"expected a JSON object ({{...}}) on each line, found {kind}")


def test_jsonl_only_blank_lines_is_empty(tmp_path):
    path = tmp_path / "t.jsonl"
    with pytest.raises(DataError, match="file is empty"):
        JsonlReader().read("\n \n", path)


# --- rows with extra trailing fields (no header, columns named by position) ---------------------


def test_headerless_tsv_accepts_extra_trailing_fields_when_columns_are_named_by_position(tmp_path):
    # STS-B as distributed: 7 columns, some rows with 2 extra trailing source columns.
    from tunelab.data.loading import read_examples

    path = tmp_path / "sts.csv"
    path.write_text(
        "g\ts\t2012\t0001\t5.000\tA plane.\tAn air plane.\n"
        "g\ts\t2016\t0002\t4\tDriver backs.\tDriver backs up.\tEurope Media Monitor\tEMM\n"
        'g\ts\t2012\t0003\t3.8\tA "quoted" dog.\tA dog.\n',
        encoding="utf-8",
    )
    loaded = read_examples(path, format="tsv", header="no", text_column="5", text_pair_column="6", label_column="4")
    assert [(e.line, e.label, e.text, e.text_pair) for e in loaded.examples] == [
        (1, "5.000", "A plane.", "An air plane."),
        (2, "4", "Driver backs.", "Driver backs up."),
        (3, "3.8", 'A "quoted" dog.', "A dog."),
    ]
    # the first row may be the wide one too, and prediction input needs no label column
    path.write_text("a\tb\tc\td\n1\t2\n", encoding="utf-8")
    assert [
        e.text for e in read_examples(path, format="tsv", header="no", text_column="1", require_labels=False).examples
    ] == ["b", "2"]


def test_headerless_rows_must_still_hold_the_named_columns(tmp_path):
    from tunelab.data.loading import read_examples

    path = tmp_path / "t.tsv"
    path.write_text("x\t1\ttext one\textra\ny\t2\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_examples(path, header="no", text_column="2", label_column="1")
    assert info.value.line == 2 and info.value.message.startswith(
        "expected 3 fields, found 2 (the columns named by position need at least 3; the file has no header)"
    )
    # columns detected from content (not all named): every row as wide as the first, as before
    path.write_text("some text\tpos\nmore text\tneg\textra\n", encoding="utf-8")
    with pytest.raises(DataError, match="expected 2 fields, found 3"):
        read_examples(path, header="no")
    # with a header, the header sets the width whatever the columns
    path.write_text("text\tlabel\na\tb\tc\n", encoding="utf-8")
    with pytest.raises(DataError, match="expected 2 fields, found 3"):
        read_examples(path, text_column="text", label_column="label")


def test_table_width_reads_leading_columns():
    rows = TsvReader().parse("a\tb\tc\n1\t2\t3\t4\t5\n", "t.tsv")
    table = TsvReader().table(rows, header=False, width=2)
    assert table.columns == ["0", "1"]
    assert [r.values for r in table.records] == [{"0": "a", "1": "b"}, {"0": "1", "1": "2"}]
