"""`tunelab predict` as a Unix tool: standard input and output, plain text files, passed-through
columns, empty input, and outputs that never replace a file unasked (format-1 fixture artifacts:
no training)."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from helpers import write_csv, write_jsonl
from tunelab.cli.app import main
from tunelab.errors import OutputError
from tunelab.files import atomic_writer, check_output_file, safetensors_problem


@pytest.fixture
def clf(legacy_artifacts) -> str:
    return str(legacy_artifacts / "classification")


def run(monkeypatch, capsys, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tunelab", *args])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_stdin_text_lines_to_stdout(monkeypatch, capsys, clf):
    code, out, err = run(monkeypatch, capsys, "predict", clf, "-i", "-", "-o", "-", stdin=b"my invoice\n\n  \nparcel\n")
    assert code == 0, err
    records = json_lines(out)  # stdout holds JSON lines and nothing else
    assert [r["text"] for r in records] == ["my invoice", "parcel"]
    assert all(r["label"] in ("account", "billing", "shipping") for r in records)


def test_stdin_predictions_equal_inline_ones(monkeypatch, capsys, clf):
    _, inline, _ = run(monkeypatch, capsys, "predict", clf, "my invoice", "parcel", "--json")
    _, piped, _ = run(monkeypatch, capsys, "predict", clf, "-i", "-", "-o", "-", stdin=b"my invoice\nparcel\n")
    assert json_lines(piped) == json_lines(inline)


def test_stdin_json_lines_pass_columns_through(monkeypatch, capsys, clf):
    lines = b'{"id": 7, "text": "my invoice", "lang": "en"}\n\n{"id": 9, "text": "parcel", "lang": "en"}\n'
    code, out, err = run(monkeypatch, capsys, "predict", clf, "-i", "-", "-o", "-", stdin=lines)
    assert code == 0, err
    records = json_lines(out)
    assert [(r["id"], r["lang"], r["text"]) for r in records] == [(7, "en", "my invoice"), (9, "en", "parcel")]
    assert list(records[0])[:2] == ["id", "lang"]


def test_stdin_lines_that_are_not_all_objects_are_texts(monkeypatch, capsys, clf):
    code, out, _ = run(monkeypatch, capsys, "predict", clf, "-i", "-", "-o", "-", stdin=b'{"text": "a"}\n[1, 2]\n')
    assert code == 0 and [r["text"] for r in json_lines(out)] == ['{"text": "a"}', "[1, 2]"]


def test_txt_file_one_text_a_line(monkeypatch, capsys, clf, tmp_path):
    source = tmp_path / "texts.txt"
    source.write_text("my invoice\n\nwhere is my parcel\r\n", encoding="utf-8")
    out = tmp_path / "p.jsonl"
    code, stdout, err = run(monkeypatch, capsys, "predict", clf, "-i", str(source), "-o", str(out))
    assert code == 0 and stdout == "" and f"wrote 2 predictions to {out}" in err
    assert [r["text"] for r in json_lines(out.read_text())] == ["my invoice", "where is my parcel"]


def test_csv_columns_passed_through_to_csv_and_jsonl(monkeypatch, capsys, clf, tmp_path):
    source = write_csv(
        tmp_path / "in.csv",
        [("a1", "my invoice", "billing"), ("a2", "parcel", "shipping")],
        header=("id", "text", "label"),
    )
    out = tmp_path / "p.csv"
    assert run(monkeypatch, capsys, "predict", clf, "-i", str(source), "-o", str(out))[0] == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["id", "text", "label", "score"]  # the gold label is not passed through
    assert [r["id"] for r in rows] == ["a1", "a2"]
    out = tmp_path / "p.jsonl"
    assert run(monkeypatch, capsys, "predict", clf, "-i", str(source), "-o", str(out))[0] == 0
    assert [r["id"] for r in json_lines(out.read_text())] == ["a1", "a2"]


def test_jsonl_file_columns_passed_through(monkeypatch, capsys, clf, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "my invoice", "meta": {"k": 1}}, {"text": "x", "meta": None}])
    out = tmp_path / "p.tsv"
    assert run(monkeypatch, capsys, "predict", clf, "-i", str(source), "-o", str(out))[0] == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8"), delimiter="\t"))
    assert rows[0]["meta"] == '{"k": 1}' and rows[1]["meta"] == ""


@pytest.mark.parametrize("content", [b"", b"\n  \n", b"text,label\n"])
def test_empty_input_gives_empty_output(content, monkeypatch, capsys, clf, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    code, out, err = run(monkeypatch, capsys, "predict", clf, "-i", str(source), "-o", "-")
    assert code == 0 and out == "", err
    target = tmp_path / "p.jsonl"
    code, _, _ = run(monkeypatch, capsys, "predict", clf, "-i", str(source), "-o", str(target))
    assert code == 0 and target.read_text() == ""
    if b"," not in content:  # standard input is text lines or JSON lines, not CSV
        code, out, _ = run(monkeypatch, capsys, "predict", clf, "-i", "-", "-o", "-", stdin=content)
        assert code == 0 and out == ""


def test_existing_output_needs_overwrite(monkeypatch, capsys, clf, tmp_path):
    out = tmp_path / "p.jsonl"
    out.write_text("precious\n")
    code, _, err = run(monkeypatch, capsys, "predict", clf, "hello", "-o", str(out))
    assert code == 2 and "--overwrite" in err and out.read_text() == "precious\n"
    code, _, _ = run(monkeypatch, capsys, "predict", clf, "hello", "-o", str(out), "--overwrite")
    assert code == 0 and json_lines(out.read_text())[0]["text"] == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]  # no temporary file left


def test_output_that_is_the_input_is_refused_even_with_overwrite(monkeypatch, capsys, clf, tmp_path):
    source = write_csv(tmp_path / "data.csv", [("my invoice", "billing")])
    before = source.read_bytes()
    link = tmp_path / "link.csv"
    link.symlink_to(source)
    hard = tmp_path / "hard.csv"
    hard.hardlink_to(source)
    for target in (source, tmp_path / "." / "data.csv", link, hard):
        code, _, err = run(monkeypatch, capsys, "predict", clf, "-i", str(source), "-o", str(target), "--overwrite")
        assert code == 2 and "input file" in err, target
    assert source.read_bytes() == before


def test_evaluate_json_needs_overwrite_and_never_replaces_the_data(monkeypatch, capsys, clf, tmp_path):
    data = write_csv(tmp_path / "dev.csv", [("my invoice", "billing"), ("parcel", "shipping")])
    report = tmp_path / "e.json"
    report.write_text("{}")
    code, _, err = run(monkeypatch, capsys, "evaluate", clf, str(data), "--json", str(report))
    assert code == 2 and "--overwrite" in err and report.read_text() == "{}"
    code, _, err = run(monkeypatch, capsys, "evaluate", clf, str(data), "--json", str(report), "--overwrite")
    assert code == 0, err
    assert json.loads(report.read_text())["evaluated_on"]["num_examples"] == 2
    code, _, err = run(monkeypatch, capsys, "evaluate", clf, str(data), "--json", str(data), "--overwrite")
    assert code == 2 and "input file" in err and data.read_text().startswith("text,label")


# -- tunelab.files -------------------------------------------------------------------------------
def test_atomic_writer_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write("half")
        raise RuntimeError("disk gone")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_writer(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"


def test_check_output_file(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_output_file(tmp_path / "d", overwrite=True)
    assert check_output_file(tmp_path / "new" / "x.csv", overwrite=False) == tmp_path / "new" / "x.csv"


def test_safetensors_problem(tmp_path, legacy_artifacts):
    good = legacy_artifacts / "classification" / "model.safetensors"
    assert safetensors_problem(good) is None
    blob = good.read_bytes()
    cases = {
        "empty": b"",
        "short header": blob[:100],
        "missing tensor bytes": blob[:-10],
        "not json": (8).to_bytes(8, "little") + b"not json",
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        problem = safetensors_problem(path)
        assert problem is not None and str(path) in problem, name


def test_ner_predicts_unlabelled_jsonl(monkeypatch, capsys, legacy_artifacts, tmp_path):
    """Texts to tag carry no tags or entities yet: tokens, or a text, per line (a field set to null
    counts as absent); evaluate still requires them."""
    ner = str(legacy_artifacts / "ner")
    path = write_jsonl(
        tmp_path / "to_tag.jsonl",
        [
            {"id": "a", "tokens": ["john", "lives", "in", "paris"]},
            {"id": "b", "text": "mary met peter", "entities": None},
        ],
    )
    code, out, err = run(monkeypatch, capsys, "predict", ner, "-i", str(path), "-o", "-")
    assert code == 0, err
    records = json_lines(out)
    assert [r["id"] for r in records] == ["a", "b"]
    assert all("entities" in r for r in records)
    code, _, err = run(monkeypatch, capsys, "evaluate", ner, str(path))
    assert code == 2 and "to_tag.jsonl" in err
