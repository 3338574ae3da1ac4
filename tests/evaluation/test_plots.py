"""PNG plots: files are real PNGs, sizes scale with labels, pyplot is never touched."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from tunelab.evaluation import plot_confusion_matrix, plot_multilabel_counts, plot_training_curves
from tunelab.tasks.text_classification.metrics import classification_metrics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_shape(path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG_MAGIC
    height, width = imread(path).shape[:2]
    return height, width


def test_confusion_matrix_png_and_size_grows_with_labels(tmp_path):
    small = plot_confusion_matrix([[3, 1, 0], [0, 2, 0], [1, 0, 0]], ["a", "b", "c"], tmp_path / "small.png")
    rng = np.random.default_rng(0)
    labels = [f"intent_{i:02d}" for i in range(77)]
    big_matrix = rng.integers(0, 5, size=(77, 77))
    big_matrix[5] = 0  # a label with no examples: normalisation must not divide by zero
    big = plot_confusion_matrix(big_matrix, labels, tmp_path / "sub" / "big.png", title="77 intents")
    assert small == tmp_path / "small.png" and big.parent.name == "sub"
    small_h, small_w = _png_shape(small)
    big_h, big_w = _png_shape(big)
    assert (small_h, small_w) >= (5 * 110, 5 * 110)  # at least 5 inches at dpi 110
    assert big_h > 2.5 * small_h and big_w > 2.5 * small_w
    assert max(big_h, big_w) <= 32 * 110
    assert sorted(os.listdir(tmp_path / "sub")) == ["big.png"]  # no temp files left


def test_confusion_matrix_raw_counts_and_empty_rows(tmp_path):
    path = plot_confusion_matrix(np.zeros((4, 4)), list("abcd"), tmp_path / "cm.png", normalize=False)
    assert _png_shape(path)[0] > 0


def test_confusion_matrix_shape_must_match_labels(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        plot_confusion_matrix([[1, 0, 0], [0, 1, 0], [0, 0, 1]], ["a", "b"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_multilabel_counts_png(tmp_path):
    m = classification_metrics([[1, 0, 1], [0, 1, 0]], [[1, 1, 0], [0, 1, 0]], ["a", "b", "c"], multi_label=True)
    few = plot_multilabel_counts(m["per_label_confusion"], tmp_path / "few.png", title="counts")
    many_counts = {f"label {i}": {"tp": i, "fp": 1, "fn": 2, "tn": 0} for i in range(60)}
    many = plot_multilabel_counts(many_counts, tmp_path / "many.png")
    assert _png_shape(many)[0] > _png_shape(few)[0]
    with pytest.raises(ValueError, match="empty"):
        plot_multilabel_counts({}, tmp_path / "none.png")


def test_training_curves_two_panels(tmp_path):
    history = [
        {"step": 10, "epoch": 0.5, "train_loss": 1.2},
        {"step": 20, "epoch": 1.0, "train_loss": 0.9},
        {"step": 20, "epoch": 1.0, "eval": {"loss": 0.8, "accuracy": 0.7, "macro_f1": 0.6}},
        {"epoch": 1.2, "train_loss": 0.7},  # no step: skipped
        {"step": 30, "train_loss": float("nan")},  # not finite: skipped
        {"step": 40, "epoch": 2.0, "eval": {"accuracy": 0.8, "macro_f1": 0.75, "note": "text"}},
    ]
    both = plot_training_curves(history, tmp_path / "curves.png")
    only_loss = plot_training_curves(history[:2], tmp_path / "loss.png")
    only_eval = plot_training_curves(history[5:], tmp_path / "eval.png")
    width = _png_shape(both)[1]
    assert _png_shape(only_loss)[1] < width and _png_shape(only_eval)[1] < width


@pytest.mark.parametrize(
    "history",
    [[], [{"epoch": 1.0}], [{"step": 1}], [{"step": 1, "eval": {}}], [{"train_loss": 1.0}], ["junk"]],
)
def test_training_curves_nothing_to_plot_returns_none(tmp_path, history):
    assert plot_training_curves(history, tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()


def test_plots_do_not_import_pyplot(tmp_path):
    code = (
        "import sys; from tunelab.evaluation import plot_confusion_matrix, plot_training_curves; "
        f"plot_confusion_matrix([[1]], ['only'], {str(tmp_path / 'one.png')!r}); "
        f"plot_training_curves([{{'step': 1, 'train_loss': 1.0}}], {str(tmp_path / 'c.png')!r}); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'"
    )
    env = {**os.environ, "MPLBACKEND": "TkAgg"}  # a GUI default must not matter: Agg canvas is explicit
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    assert (tmp_path / "one.png").read_bytes()[:8] == PNG_MAGIC


def test_scatter_png_with_diagonal_and_scores(tmp_path):
    from tunelab.evaluation.plots import plot_scatter

    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, size=300)
    path = plot_scatter(
        gold,
        gold + rng.normal(scale=0.5, size=300),
        tmp_path / "sub" / "scatter.png",
        title="dev",
        scores={"Spearman": 0.9, "Pearson": float("nan")},
    )
    assert path == tmp_path / "sub" / "scatter.png"
    height, width = _png_shape(path)
    assert height > 400 and width > 400
    assert sorted(os.listdir(tmp_path / "sub")) == ["scatter.png"]
    # scores computed from the points when not given; constant values and a single point draw too
    assert plot_scatter([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], tmp_path / "flat.png").is_file()
    assert plot_scatter([1.0], [1.0], tmp_path / "one.png").is_file()
    with pytest.raises(ValueError, match="one length"):
        plot_scatter([1.0, 2.0], [1.0], tmp_path / "bad.png")
