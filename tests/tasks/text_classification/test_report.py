"""Rich report table and atomic JSON writing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from rich.console import Console

from tunelab.files import write_json
from tunelab.tasks.text_classification.metrics import classification_metrics
from tunelab.tasks.text_classification.report import print_classification_report, render_classification_report


def _render(renderable) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture
def single():
    return classification_metrics([0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 2, 2, 2], ["neg", "neu", "pos"])


def _row(text: str, first: str) -> list[str]:
    """Cells of the table line whose first cell is ``first``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{text}")


def test_report_shows_labels_and_numbers(single):
    text = _render(render_classification_report(single, title="dev"))
    assert "dev" in text
    assert _row(text, "neg") == ["neg", "1.0000", "0.3333", "0.5000", "3"]
    assert _row(text, "neu") == ["neu", "0.3333", "0.5000", "0.4000", "2"]
    assert _row(text, "pos") == ["pos", "0.7500", "1.0000", "0.8571", "3"]
    assert _row(text, "accuracy") == ["accuracy", "", "", "0.6250", "8"]
    assert _row(text, "macro avg") == ["macro avg", "0.6944", "0.6111", "0.5857", "8"]
    # weighted: P = (3*1 + 2/3 + 3*3/4)/8, R = (1 + 1 + 3)/8, F1 = 341/560
    assert _row(text, "weighted avg") == ["weighted avg", "0.7396", "0.6250", "0.6089", "8"]
    assert _row(text, "micro avg") == ["micro avg", "0.6250", "0.6250", "0.6250", "8"]
    lines = text.splitlines()
    names = ("neg", "neu", "pos", "accuracy")
    order = [next(i for i, line in enumerate(lines) if f" {name} " in line) for name in names]
    assert order == sorted(order)


def test_report_works_after_json_round_trip(single):
    restored = json.loads(json.dumps(single))
    restored.pop("weighted_precision")
    restored.pop("weighted_recall")  # older files: weighted P/R recomputed from per-label rows
    text = _render(render_classification_report(restored))
    assert _row(text, "weighted avg") == ["weighted avg", "0.7396", "0.6250", "0.6089", "8"]


def test_max_labels_keeps_worst_f1_in_label_order_and_says_how_many_are_hidden(single):
    text = _render(render_classification_report(single, max_labels=2))
    assert _row(text, "neg")[3] == "0.5000"
    assert _row(text, "neu")[3] == "0.4000"
    with pytest.raises(AssertionError):
        _row(text, "pos")
    assert "1 of 3 labels hidden" in text
    assert text.index(" neg ") < text.index(" neu ")
    # no caption when everything fits
    assert "hidden" not in _render(render_classification_report(single, max_labels=3))


def test_multi_label_report_has_subset_accuracy_samples_and_hamming():
    m = classification_metrics(
        [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]],
        [[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]],
        ["a", "b", "c"],
        multi_label=True,
    )
    text = _render(render_classification_report(m))
    assert _row(text, "subset accuracy") == ["subset accuracy", "", "", "0.5000", "4"]
    assert _row(text, "samples avg")[3] == "0.7917"
    assert _row(text, "hamming loss")[3] == "0.2500"
    assert _row(text, "micro avg") == ["micro avg", "0.7500", "0.6000", "0.6667", "5"]


def test_label_names_are_not_treated_as_markup():
    m = classification_metrics([0, 1], [0, 1], ["[bold]x[/bold]", "plain"])
    assert "[bold]x[/bold]" in _render(render_classification_report(m))


def test_print_classification_report_uses_given_console(single):
    console = Console(record=True, width=120, color_system=None)
    print_classification_report(single, console=console, title="test split", max_labels=1)
    text = console.export_text()
    assert "test split" in text and "neu" in text and "2 of 3 labels hidden" in text


def test_write_json_round_trips_atomically(tmp_path, single):
    target = tmp_path / "nested" / "metrics.json"
    payload = {"metrics": single, "name": "café ☕", "arr": np.arange(3), "x": np.float32(0.5)}
    payload["p"] = tmp_path
    assert write_json(payload, target) == target
    text = target.read_text(encoding="utf-8")
    assert "café ☕" in text  # ensure_ascii=False
    assert text.startswith('{\n  "metrics"')  # indent=2, insertion order
    loaded = json.loads(text)
    assert loaded["metrics"] == single
    assert loaded["arr"] == [0, 1, 2] and loaded["x"] == 0.5 and loaded["p"] == str(tmp_path)
    # overwrite in place; no temp files are left behind
    write_json({"v": 2}, target)
    assert json.loads(target.read_text()) == {"v": 2}
    assert os.listdir(target.parent) == ["metrics.json"]


def test_write_json_failure_keeps_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "out.json"
    write_json({"ok": True}, target)
    with pytest.raises(TypeError):
        write_json({"bad": object()}, target)
    assert json.loads(target.read_text()) == {"ok": True}
    assert os.listdir(tmp_path) == ["out.json"]
