"""report.html: one self-contained page (no URL, PNGs embedded), the report's numbers, the worst
errors found by each task, every user string escaped."""

from __future__ import annotations

import base64
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from helpers import make_ner_sentences, make_texts, tiny_overrides, write_csv
from tunelab.data.example import Example
from tunelab.inference.predictor import load
from tunelab.tasks.text_regression.errors import LargestResiduals
from tunelab.tasks.token_classification.example import NerExample
from tunelab.workflow.html_report import HTML_FILE, render_html_report, shown, write_html_report
from tunelab.workflow.report import build_report, write_report_files

SCRIPT = '<script>alert("x")</script>'


class Cells(HTMLParser):
    """The text of every cell, by its data-split/data-metric attributes and by table id, plus every
    src/href attribute and tag name seen."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[tuple[str, str], str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self.tags: set[str] = set()
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._key: tuple[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.links += [v for k, v in attrs.items() if k in ("src", "href") and v is not None]
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table or ""] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
            self._key = (attrs["data-split"], attrs["data-metric"]) if "data-metric" in attrs else None

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._key is not None:
                self.metrics[self._key] = text
            if self._table is not None and tag == "td":
                self.tables[self._table][-1].append(text)
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> Cells:
    cells = Cells()
    cells.feed(page)
    return cells


def scalar_metrics(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


def check_self_contained(page: str, directory: Path) -> Cells:
    """No URL anywhere, no script, every link a data URI, every PNG of the directory embedded."""
    cells = parse(page)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style and "font" in style.group(1) and "&#" not in style.group(1)  # CSS as written, not escaped
    assert not re.search(r"https?://", page), re.search(r".{60}https?://.{60}", page)
    assert "script" not in cells.tags and "link" not in cells.tags
    assert cells.links and all(link.startswith("data:image/png;base64,") for link in cells.links)
    pngs = sorted(directory.rglob("*.png"))
    assert pngs
    for png in pngs:
        assert base64.b64encode(png.read_bytes()).decode("ascii") in page, png
    return cells


def check_metrics(cells: Cells, report: dict) -> None:
    """Every scalar metric of every split is on the page, as report.json's value rounded."""
    expected = {
        (split, name): value
        for split, metrics in report["splits"].items()
        for name, value in scalar_metrics(metrics).items()
    }
    assert set(cells.metrics) == set(expected)
    for key, value in expected.items():
        if isinstance(value, str):
            assert cells.metrics[key] == value
        elif isinstance(value, int):
            assert int(cells.metrics[key]) == value, key
        else:
            assert float(cells.metrics[key]) == round(value, 4), key


def copy_legacy(legacy_artifacts: Path, name: str, tmp_path: Path) -> Path:
    return shutil.copytree(legacy_artifacts / name, tmp_path / name)


# -- classification, from a format-1 artifact (no training) -------------------------------------
def test_classification_page_holds_metrics_errors_and_every_plot(legacy_artifacts, tmp_path):
    directory = copy_legacy(legacy_artifacts, "classification", tmp_path)
    predictor = load(directory)
    dev = [Example(text, label=label, line=i + 2) for i, (text, label) in enumerate(make_texts(30, seed=2))]
    test = [Example(text, label=label, line=i + 2) for i, (text, label) in enumerate(make_texts(24, seed=3))]
    test[0] = Example(f"my invoice {SCRIPT} & <b>bold</b>", label="billing", line=2)
    report = build_report(predictor, {"dev": dev, "test": test}, {"dev": "data/dev.csv", "test": "data/test.csv"})
    # plots in subfolders and a tracker's byte-identical copy of a plot
    (directory / "logs" / "more").mkdir(parents=True)
    written = write_report_files(directory, report, predictor.task)
    assert (directory / "confusion_matrix.png").is_file() and directory / HTML_FILE in written
    shutil.copy(directory / "confusion_matrix.png", directory / "logs" / "more" / "copy.png")
    shutil.copy(directory / "confusion_matrix.png", directory / "logs" / "more" / "other.png")
    with (directory / "logs" / "more" / "other.png").open("ab") as fh:
        fh.write(b"\0")  # a different file: embedded on its own
    write_html_report(directory, report)
    page = (directory / HTML_FILE).read_text(encoding="utf-8")

    cells = check_self_contained(page, directory)
    distinct = {png.read_bytes() for png in directory.rglob("*.png")}
    assert len(cells.links) == len(distinct) == len(list(directory.rglob("*.png"))) - 1  # the copy once...
    assert "also saved as logs/more/copy.png" in page  # ...and named
    saved = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    check_metrics(cells, saved)

    # the worst errors: wrong predictions, surest first, each score the model's own probability
    found = saved["worst_errors"]
    assert found["split"] == "test" and found["description"]
    rows = found["rows"]
    wrong = round((1 - saved["metrics"]["accuracy"]) * len(test))
    assert len(rows) == min(20, wrong) > 0
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    by_line = {ex.line: ex for ex in test}
    for row in rows:
        assert row["gold"] != row["predicted"] and row["gold"] == by_line[row["line"]].label
        probs = predictor.predict_proba([by_line[row["line"]].text])[0]
        labels = predictor.labels
        assert row["predicted"] == labels[int(np.argmax(probs))]
        assert row["score"] == round(float(probs.max()), 4)
        assert row["gold_score"] == round(float(probs[labels.index(row["gold"])]), 4)
    errors_table = cells.tables["errors-table"]
    assert len(errors_table) == len(rows) + 1  # the header row has no td
    assert [cells[2] for cells in errors_table[1:]] == [r["gold"] for r in rows]

    # user text is escaped wherever it shows, never markup
    assert SCRIPT not in page and "<b>bold</b>" not in page
    assert any(r["line"] == 2 for r in rows)  # the deterministic legacy model gets it wrong
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page

    # the per-label table, worst F1 first
    per_label = cells.tables["per-class-table"][1:]
    assert [r[0] for r in per_label] == sorted(
        saved["metrics"]["per_label"], key=lambda k: (saved["metrics"]["per_label"][k]["f1"], k)
    )
    # the model's facts and the file names, never the directories above them
    assert "data/test.csv" not in page and "test.csv" in page
    assert "BertForSequenceClassification" in page and "Licence" in page


def test_pair_rows_show_both_texts(legacy_artifacts, tmp_path):
    directory = copy_legacy(legacy_artifacts, "pair_classification", tmp_path)
    predictor = load(directory)
    dev = [
        Example(text, text_pair=text.split()[0], label=label, line=i + 2)
        for i, (text, label) in enumerate(make_texts(24, seed=4))
    ]
    report = build_report(predictor, {"dev": dev}, {"dev": "dev.csv"})
    rows = report["worst_errors"]["rows"]
    assert rows and all(row["text_pair"] == row["text"].split()[0] for row in rows)
    page = render_html_report(directory, report, predictor.meta)
    assert "text_pair" in page


# -- NER ------------------------------------------------------------------------------------------
def test_ner_rows_are_the_sentences_with_most_errors(legacy_artifacts, tmp_path):
    directory = copy_legacy(legacy_artifacts, "ner", tmp_path)
    predictor = load(directory)
    sentences = make_ner_sentences(20, seed=5)
    dev = [
        NerExample(tokens=tuple(w for w, _ in s), tags=tuple(t for _, t in s), line=i + 1)
        for i, s in enumerate(sentences)
    ]
    report = build_report(predictor, {"dev": dev}, {"dev": "dev.conll"}, worst_errors=50)
    rows = report["worst_errors"]["rows"]
    assert rows and [r["errors"] for r in rows] == sorted((r["errors"] for r in rows), reverse=True)
    by_line = {ex.line: ex for ex in dev}
    predicted = predictor.predict(tokens=[list(ex.tokens) for ex in dev])
    for row in rows:
        example = by_line[row["line"]]
        listed = [part for part in (row["missed"], row["spurious"]) if part]
        assert row["errors"] == sum(len(part.split("; ")) for part in listed) > 0
        assert row["text"] == " ".join(example.tokens)
        entities = predicted[dev.index(example)]
        found = {f"{e['text']} ({e['type']})" for e in entities}
        assert all(item in found for item in row["spurious"].split("; ") if row["spurious"])
    # every sentence with an error is listed (the limit is above the count)
    listed_lines = {r["line"] for r in rows}
    for ex, entities in zip(dev, predicted):
        gold = sorted(e for e in ex_entities(ex))
        mine = sorted((e["text"], e["type"]) for e in entities)
        assert (gold != mine) == (ex.line in listed_lines), ex
    page = render_html_report(directory, report, predictor.meta)
    cells = parse(page)
    assert len(cells.tables["errors-table"]) == len(rows) + 1
    assert "per-class-table" in cells.tables and "frequent-errors-table" in cells.tables


def ex_entities(example: NerExample) -> list[tuple[str, str]]:
    out, current = [], None
    for word, tag in zip(example.tokens, example.tags or ()):
        if tag.startswith("B-"):
            current = [word, tag[2:]]
            out.append(current)
        elif tag.startswith("I-") and current is not None:
            current[0] += " " + word
        else:
            current = None
    return [(text, type_) for text, type_ in out]


# -- regression -----------------------------------------------------------------------------------
def test_regression_keeps_the_largest_residuals():
    examples = [Example(f"text {i}", label=str(i), line=i + 1) for i in range(8)]
    gold = [float(i) for i in range(8)]
    finder = LargestResiduals(gold, SimpleNamespace(examples=examples), limit=3)
    finder.add([0, 1, 2, 3], [0.5, 1.0, 4.0, 2.0])  # residuals 0.5, 0, 2, -1
    finder.add([4, 5, 6, 7], [4.25, 1.0, 6.0, 7.0])  # 0.25, -4, 0, 0
    rows = finder.result()
    assert [r["line"] for r in rows] == [6, 3, 4]
    assert [r["residual"] for r in rows] == [-4.0, 2.0, -1.0]
    assert rows[0] == {"line": 6, "text": "text 5", "gold": 5.0, "predicted": 1.0, "residual": -4.0}


def test_multi_label_rows_most_wrong_labels_first():
    from tunelab.tasks.text_classification.errors import ConfidentErrors

    labels = ["a", "b", "c"]
    task = SimpleNamespace(labels=labels, multi_label=True, decode=lambda probs: (probs >= 0.5).astype(np.int64))
    examples = [Example(f"t{i}", label=(), line=i + 1) for i in range(4)]
    gold = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]])
    probs = np.array([[0.9, 0.1, 0.2], [0.2, 0.3, 0.9], [0.1, 0.6, 0.4], [0.6, 0.1, 0.45]])
    finder = ConfidentErrors(task, SimpleNamespace(examples=examples, labels=list(gold)), limit=5)
    finder.add([0, 1], list(probs[:2]))
    finder.add([2, 3], list(probs[2:]))
    rows = finder.result()  # t0 and t3 are right; t1 has 3 wrong labels, t2 two
    assert [(r["line"], r["wrong_labels"]) for r in rows] == [(2, 3), (3, 2)]
    assert rows[0]["gold"] == "a|b" and rows[0]["predicted"] == "c" and rows[0]["score"] == 0.9
    assert rows[1]["score"] == 0.6


# -- escaping and rounding, on a synthetic report -----------------------------------------------
def test_every_user_string_is_escaped(tmp_path):
    evil = '<img src="https://evil.example/x.png" onerror="alert(1)">'
    report = {
        "task": "text_classification",
        "labels": [SCRIPT, "ok"],
        "splits": {"dev": {"num_examples": 3, "accuracy": 2 / 3, "per_label": {SCRIPT: {"f1": 0.5, "support": 2}}}},
        "metrics": {"num_examples": 3, "accuracy": 2 / 3, "per_label": {SCRIPT: {"f1": 0.5, "support": 2}}},
        "evaluated_on": {"split": "dev", "file": f"/home/someone/{SCRIPT}.csv", "num_examples": 3},
        "worst_errors": {"split": "dev", "rows": [{"line": 4, "text": evil, "gold": SCRIPT, "predicted": "ok"}]},
    }
    page = render_html_report(tmp_path, report)
    assert "<script" not in page and '<img src="https' not in page and "/home/someone" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=&#34;https://evil.example/x.png&#34; onerror=&#34;alert(1)&#34;&gt;" in page
    cells = parse(page)
    assert cells.metrics == {("dev", "num_examples"): "3", ("dev", "accuracy"): "0.6667"}
    assert cells.links == [] and "The artifact holds no plots." in page


@pytest.mark.parametrize(("value", "text"), [(3, "3"), (0.92736318, "0.9274"), (1.0, "1.0000"), ("strict", "strict")])
def test_numbers_are_rounded(value, text):
    assert shown(value) == text


# -- tunelab evaluate --html ----------------------------------------------------------------------
def run_main(monkeypatch, capsys, *args):
    from tunelab.cli.app import main

    monkeypatch.setattr("sys.argv", ["tunelab", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr()


def test_evaluate_writes_a_page_of_its_own_evaluation(legacy_artifacts, tmp_path, monkeypatch, capsys):
    artifact = copy_legacy(legacy_artifacts, "classification", tmp_path)
    rows = make_texts(24, seed=6)
    rows[1] = (f"refund {SCRIPT}", "billing")
    data = write_csv(tmp_path / "data" / "eval.csv", rows)
    page_file, json_file = tmp_path / "out" / "eval.html", tmp_path / "out" / "eval.json"
    page_file.parent.mkdir()
    args = ["evaluate", str(artifact), str(data), "--json", str(json_file), "--html", str(page_file)]
    code, _ = run_main(monkeypatch, capsys, *args)
    assert code == 0
    page = page_file.read_text(encoding="utf-8")
    saved = json.loads(json_file.read_text(encoding="utf-8"))
    cells = parse(page)
    # this evaluation's own numbers and plots (drawn for it, not the artifact's training-time ones)
    assert {k: v for (split, k), v in cells.metrics.items()} == {
        k: shown(v) for k, v in scalar_metrics(saved["metrics"]).items()
    }
    assert {split for split, _ in cells.metrics} == {"eval.csv"}
    assert cells.links and all(link.startswith("data:image/png;base64,") for link in cells.links)
    assert not re.search(r"https?://", page) and "<script" not in page
    assert not list(artifact.glob("*.png")) and not (artifact / HTML_FILE).exists()  # the artifact is untouched
    errors = saved["worst_errors"]["rows"]
    assert errors and all(r["gold"] != r["predicted"] for r in errors)
    assert any(SCRIPT in r["text"] for r in errors)  # the deterministic legacy model gets it wrong
    # shown as text (the parser decodes the escaped page), never as markup
    assert any(SCRIPT in cell for row in cells.tables["errors-table"][1:] for cell in row)
    assert "refund &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "Evaluated on eval.csv (24 examples)." in page
    # an existing page is kept without --overwrite; a file of the artifact is never replaced
    code, captured = run_main(monkeypatch, capsys, *args[:3], "--html", str(page_file))
    assert code == 2 and "--overwrite" in captured.err + captured.out
    code, captured = run_main(monkeypatch, capsys, *args[:3], "--html", str(artifact / "tunelab.json"), "--overwrite")
    assert code == 2 and page_file.read_text(encoding="utf-8") == page


# -- a trained artifact -------------------------------------------------------------------------
@pytest.mark.train
def test_trained_artifact_has_a_self_contained_report(tiny_model_dir, toy_data, tmp_path):
    from tunelab.config import load_config
    from tunelab.workflow.train import train

    cfg = load_config(None, tiny_overrides(tiny_model_dir, toy_data, **{"training.epochs": 2, "output.plots": True}))
    cfg.data.test = str(toy_data["test"])
    out = train(cfg, output_dir=tmp_path / "out", console=Console(quiet=True)).output_dir
    page = (out / HTML_FILE).read_text(encoding="utf-8")
    cells = check_self_contained(page, out)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    check_metrics(cells, report)
    assert {"training_curves.png", "confusion_matrix.png"} <= {p.name for p in out.rglob("*.png")}
    assert report["worst_errors"]["split"] == "test"
    assert len(cells.tables.get("errors-table", [[]])) == len(report["worst_errors"]["rows"]) + 1
    for fact in ("full", "120 train / 30 dev / 30 test", "learning rate", "train.csv"):
        assert fact in page, fact
    assert str(tmp_path) not in page
