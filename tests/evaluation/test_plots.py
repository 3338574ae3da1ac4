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


# -- content: what each figure plots ------------------------------------------------------------------
from matplotlib.patches import Rectangle  # noqa: E402

from tunelab.evaluation import plots  # noqa: E402


def _axes_by_title(fig):
    return {ax.get_title(): ax for ax in fig.axes if ax.get_title()}


def _line(ax, label):
    [line] = [line for line in ax.get_lines() if line.get_label() == label]
    return list(map(float, line.get_xdata())), list(map(float, line.get_ydata()))


def _no_overlap(fig, labels, axis: str) -> None:
    """Tick labels of one axis do not overlap each other on the rendered canvas."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in labels if label.get_text()]
    spans = sorted((b.y0, b.y1) if axis == "y" else (b.x0, b.x1) for b in boxes)
    assert len(spans) > 1
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - 0.5, f"{axis} tick labels overlap: {end} > {start}"


HISTORY = [
    {"step": 10, "epoch": 0.5, "train_loss": 1.2, "learning_rate": 1e-4},
    {"step": 20, "epoch": 1.0, "train_loss": 0.9, "learning_rate": 2e-4},
    {
        "step": 20,
        "epoch": 1.0,
        "eval": {"num_examples": 1005, "loss": 0.8, "accuracy": 0.7, "macro_f1": 0.6, "mse": 3.5},
        "improved": True,
    },
    {"step": 30, "epoch": 1.5, "train_loss": 0.7, "learning_rate": 1e-4},
    {
        "step": 40,
        "epoch": 2.0,
        "eval": {"num_examples": 1005, "loss": 0.75, "accuracy": 0.65, "macro_f1": 0.66, "mse": 2.5},
        "improved": False,
    },
]


def test_training_curves_plot_loss_selected_metric_bounded_metrics_and_lr():
    fig = plots.training_curves_figure(HISTORY, metric="accuracy")
    axes = _axes_by_title(fig)
    assert set(axes) == {
        "Loss: train and dev",
        "Dev accuracy (selects the best checkpoint)",
        "Other dev metrics",
        "Learning rate",
    }
    loss = axes["Loss: train and dev"]
    assert _line(loss, "train loss") == ([10.0, 20.0, 30.0], [1.2, 0.9, 0.7])
    assert _line(loss, "dev loss") == ([20.0, 40.0], [0.8, 0.75])
    selected = axes["Dev accuracy (selects the best checkpoint)"]
    assert _line(selected, "dev accuracy") == ([20.0, 40.0], [0.7, 0.65])
    # no best_step given: the last eval record marked "improved" is the best
    assert _line(selected, "best 0.7000 (step 20)") == ([20.0], [0.7])
    other = axes["Other dev metrics"]
    # counts (num_examples) and metrics off the 0-1 scale (mse) are never drawn; accuracy has its own panel
    assert [line.get_label() for line in other.get_lines()] == ["macro_f1"]
    assert _line(other, "macro_f1") == ([20.0, 40.0], [0.6, 0.66])
    low, high = other.get_ylim()
    assert -0.05 <= low <= 0.0 and 1.0 <= high <= 1.05
    assert _line(axes["Learning rate"], "learning rate") == ([10.0, 20.0, 30.0], [1e-4, 2e-4, 1e-4])
    for ax in fig.axes:
        assert ax.get_xlabel() == "optimizer step"


def test_training_curves_best_step_and_tunelab_json_history(legacy_artifacts):
    from tunelab.workflow.report import training_facts

    metric, best_step, history = training_facts(legacy_artifacts / "classification")
    assert (metric, best_step) == ("accuracy", 18)  # as the artifact's tunelab.json records them
    assert history and all("metrics" in record for record in history)
    fig = plots.training_curves_figure(history, metric=metric, best_step=best_step)
    axes = _axes_by_title(fig)
    assert set(axes) == {"Loss: train and dev", "Dev accuracy (selects the best checkpoint)", "Other dev metrics"}
    steps, values = _line(axes["Dev accuracy (selects the best checkpoint)"], "dev accuracy")
    assert steps == [r["step"] for r in history] and values == [r["metrics"]["accuracy"] for r in history]
    best = history[-1]["metrics"]["accuracy"]
    assert _line(axes["Dev accuracy (selects the best checkpoint)"], f"best {best:.4f} (step 18)") == ([18.0], [best])
    assert "num_examples" not in [line.get_label() for line in axes["Other dev metrics"].get_lines()]
    assert training_facts(legacy_artifacts / "missing") == (None, None, [])


def test_confusion_matrix_plots_row_shares_and_outlines_the_most_confused_pairs():
    counts = np.array([[3, 2, 0], [0, 4, 0], [1, 0, 0]])
    fig = plots.confusion_matrix_figure(counts, ["a", "b", "c"], top_pairs=5)
    ax = fig.axes[0]
    [image] = ax.get_images()
    expected = np.array([[0.6, 0.4, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert np.allclose(image.get_array(), expected)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Predicted label", "True label")
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in expected.ravel()]
    outlined = [
        (p.get_x() + 0.5, p.get_y() + 0.5) for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == "pair"
    ]
    assert outlined == [(1.0, 0.0), (0.0, 2.0)]  # (column, row): a → b twice, then c → a once
    listed = "\n".join(t.get_text() for a in fig.axes for t in a.texts if "→" in t.get_text())
    assert listed == "1. a → b: 2 (40%)\n2. c → a: 1 (100%)"
    assert plots.confusion_pairs(counts, ["a", "b", "c"], 1) == [
        {"true": "a", "predicted": "b", "count": 2, "share": 0.4}
    ]
    # nothing confused: nothing outlined, no list
    perfect = plots.confusion_matrix_figure(np.eye(3) * 4, ["a", "b", "c"])
    assert len(perfect.axes) == 2  # the heatmap and its colorbar
    assert not [p for p in perfect.axes[0].patches if p.get_gid() == "pair"]


@pytest.mark.parametrize("n", [77, 150])
def test_confusion_matrix_many_labels_ticks_readable(n):
    rng = np.random.default_rng(n)
    labels = [f"intent_{i:03d}_" + "x" * (i % 20) for i in range(n)]
    counts = np.diag(rng.integers(5, 20, size=n))
    counts[3, 7] = 9  # the most confused pair
    counts[10, 2] = 4
    fig = plots.confusion_matrix_figure(counts, labels)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert not any(t.get_text() for t in ax.texts if "." in t.get_text())  # no cell values at this size
    width, height = fig.get_size_inches()
    assert 15 <= height <= 30 and width <= 45
    assert {t.get_fontsize() for t in ax.get_yticklabels()} == {6}
    _no_overlap(fig, ax.get_yticklabels(), "y")
    _no_overlap(fig, ax.get_xticklabels(), "x")
    listed = [t.get_text() for a in fig.axes for t in a.texts if "→" in t.get_text()][0].splitlines()
    assert listed[0].startswith("1. intent_003_xxx → intent_007_xxxxxxx: 9 (")
    assert listed[1].startswith("2. intent_010_xxxxxxxxxx → intent_002_xx: 4 (")


def test_confusion_focus_keeps_the_labels_with_the_most_errors():
    labels = [f"l{i}" for i in range(30)]
    counts = np.diag(np.full(30, 10))
    counts[5, 6], counts[6, 5], counts[20, 5] = 5, 2, 1
    counts[5, 5] = 5  # l5: 10 examples, half predicted l6
    fig = plots.confusion_focus_figure(counts, labels, max_labels=2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["l5", "l6"]  # l20 has fewer errors
    [image] = ax.get_images()
    # shares of all the true label's examples, not of the shown columns only
    assert np.allclose(image.get_array(), [[0.5, 0.5], [2 / 12, 10 / 12]])
    assert "2 labels with the most errors (of 30)" in ax.get_title()
    assert plots.confusion_focus_figure(np.eye(4), list("abcd")) is None


def test_f1_bars_sorted_worst_first_with_support():
    per_label = {
        "good": {"precision": 1.0, "recall": 0.8, "f1": 0.9, "support": 10},
        "bad": {"precision": 0.2, "recall": 0.5, "f1": 0.3, "support": 4},
        "mid": {"precision": 0.6, "recall": 0.6, "f1": 0.6, "support": 7},
    }
    fig = plots.f1_bars_figure(per_label, average=0.6)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    order = sorted(range(3), key=lambda i: bars[i].get_y())
    assert [round(bars[i].get_width(), 6) for i in order] == [0.3, 0.6, 0.9]
    ticks = {round(float(y)): t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels())}
    assert [ticks[0], ticks[1], ticks[2]] == ["bad", "mid", "good"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the first (worst) on top
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["F1 0.30  P 0.20 R 0.50  n=4", "F1 0.60  P 0.60 R 0.60  n=7", "F1 0.90  P 1.00 R 0.80  n=10"]
    assert "worst first" in ax.get_title() and "macro F1 0.600" in ax.get_title()
    assert [float(x) for x in ax.get_lines()[0].get_xdata()] == [0.6, 0.6]
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.f1_bars_figure({})


def test_f1_bars_77_labels_readable():
    rng = np.random.default_rng(1)
    per_label = {
        f"label_{i:02d}_" + "y" * (i % 15): {"precision": 0.5, "recall": 0.5, "f1": float(f), "support": int(s)}
        for i, (f, s) in enumerate(zip(rng.uniform(size=77), rng.integers(1, 30, size=77)))
    }
    fig = plots.f1_bars_figure(per_label)
    ax = fig.axes[0]
    worst = min(per_label, key=lambda k: per_label[k]["f1"])
    assert ax.get_yticklabels()[0].get_text() == worst
    _no_overlap(fig, ax.get_yticklabels(), "y")
    _no_overlap(fig, ax.texts, "y")


def test_scatter_and_residuals_plot_the_points():
    gold = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    predicted = np.array([0.5, 1.0, 1.5, 3.5, 4.0])
    scatter = plots.scatter_figure(gold, predicted, scores={"Spearman": 0.9})
    ax = scatter.axes[0]
    [points] = ax.collections
    assert np.allclose(points.get_offsets(), np.column_stack([gold, predicted]))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Gold value", "Predicted value")
    assert "Spearman 0.900\nn = 5" in [t.get_text() for t in ax.texts]

    residuals = plots.residuals_figure(gold, predicted, title="dev")
    ax = residuals.axes[0]
    heights = [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]
    assert sum(heights) == 5
    edges = sorted(p.get_x() for p in ax.patches if isinstance(p, Rectangle))
    assert edges[0] == pytest.approx(-0.5)  # the smallest residual, 1.5 - 2.0
    assert ax.get_xlabel() == "Residual (predicted − gold)" and ax.get_title() == "dev"
    [stats] = ax.texts
    assert stats.get_text() == "mean +0.100\nstd 0.374\nmean |residual| 0.300\nn = 5"


def test_ner_errors_bars_per_type_and_kind_and_table():
    from tunelab.tasks.token_classification.metrics import ner_metrics

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC", "I-LOC"], ["B-PER", "O", "O", "O"]]
    pred = [["B-PER", "O", "O", "B-ORG"], ["O", "O", "B-LOC", "I-LOC"], ["B-PER", "O", "B-LOC", "O"]]
    words = [["Ann", "Lee", "in", "Rome"], ["IBM", "at", "New", "York"], ["Bob", "is", "here", "now"]]
    m = ner_metrics(gold, pred, texts=words)
    by_type = m["errors_by_type"]
    assert by_type == {
        "LOC": {"false_negative": 0, "false_positive": 1, "wrong_type": 1, "wrong_boundary": 0},
        "ORG": {"false_negative": 1, "false_positive": 0, "wrong_type": 0, "wrong_boundary": 0},
        "PER": {"false_negative": 0, "false_positive": 0, "wrong_type": 0, "wrong_boundary": 1},
    }
    tp = round(m["precision"] * m["num_predicted"])
    totals = {k: sum(row[k] for row in by_type.values()) for k in plots.NER_ERROR_KINDS}
    paired = totals["wrong_type"] + totals["wrong_boundary"]
    assert m["num_entities"] - tp == paired + totals["false_negative"]
    assert m["num_predicted"] - tp == paired + totals["false_positive"]

    fig = plots.ner_errors_figure(by_type, m["errors"], title="dev errors")
    bars, table_ax = fig.axes
    assert bars.get_title() == "dev errors"
    types = [t.get_text() for t in bars.get_yticklabels()]
    drawn = {name: {} for name in types}
    for container in bars.containers:
        for typ, patch in zip(types, container.patches):
            drawn[typ][container.get_label()] = patch.get_width()
    names = {kind: name for kind, (name, _) in plots.NER_ERROR_KINDS.items()}
    assert drawn == {t: {names[k]: float(v) for k, v in by_type[t].items()} for t in by_type}
    assert types[0] == "LOC"  # the most errors first
    [table] = table_ax.tables
    cells = table.get_celld()
    assert [cells[0, c].get_text().get_text() for c in range(5)] == ["Kind", "Text", "Gold", "Predicted", "Count"]
    rows = {tuple(cells[r, c].get_text().get_text() for c in range(5)) for r in range(1, len(m["errors"]) + 1)}
    assert ("wrong type", "Rome", "LOC", "ORG", "1") in rows
    assert ("missed", "IBM", "ORG", "-", "1") in rows
    assert ("spurious", "here", "-", "LOC", "1") in rows
    assert ("wrong boundary", "Ann Lee", "PER", "PER", "1") in rows
    # an older report without errors_by_type still gets the table; nothing at all: no figure
    assert [a.tables != [] for a in plots.ner_errors_figure(None, m["errors"]).axes] == [True]
    assert plots.ner_errors_figure({}, []) is None
