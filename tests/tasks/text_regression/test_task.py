"""The regression task on its own: scaling round trip, clipping, targets and their collation, the
loss, decoding, records, agreement, state, pair checks, the report table and the starter config."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from rich.console import Console
from typer.testing import CliRunner

from tunelab.cli.app import app
from tunelab.config import validate_config
from tunelab.data.encoding import EncodedDataset
from tunelab.data.example import Example
from tunelab.errors import DataError, InputError
from tunelab.tasks import build_task, task_from_state, task_spec
from tunelab.tasks.text_regression.config import TextRegressionConfig as Config
from tunelab.tasks.text_regression.task import RegressionLoss, TextRegressionTask

TRAIN = [Example("a", "b", 1.0), Example("c", "d", 2.0), Example("e", "f", 3.0), Example("g", "h", 4.0)]
MEAN, STD = 2.5, float(np.std([1.0, 2.0, 3.0, 4.0]))  # 1.118...


def encoded(examples) -> EncodedDataset:
    data = EncodedDataset([[1, 2]] * len(examples), None)
    data.examples = list(examples)
    return data


def decode(task, values):
    return task.decode_batch(
        encoded(TRAIN[: len(values)]),
        list(range(len(values))),
        {"logits": np.asarray(values, dtype=np.float32).reshape(-1, 1)},
    )


def test_registered_with_its_alias():
    spec = task_spec("text_regression")
    assert spec.aliases == ("regression",) and spec.task_class() is TextRegressionTask


def test_scaling_round_trip():
    task = build_task(Config(), TRAIN)
    assert (task.mean, task.std, task.pairs, task.labels) == (MEAN, pytest.approx(STD), True, [])
    z = task.targets(TRAIN)
    assert z.dtype == np.float32
    assert z.tolist() == pytest.approx([(v - MEAN) / STD for v in (1, 2, 3, 4)], abs=1e-6)
    assert z.mean() == pytest.approx(0.0, abs=1e-6) and z.std() == pytest.approx(1.0, abs=1e-6)
    # the model predicts z-scores: decoding maps them back onto the original scale
    assert decode(task, z.tolist()) == pytest.approx([1.0, 2.0, 3.0, 4.0], abs=1e-5)
    assert all(type(v) is float for v in decode(task, [0.0]))


def test_unscaled_targets_are_the_numbers_themselves():
    task = build_task(Config(scale_targets=False), TRAIN)
    assert task.targets(TRAIN).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert decode(task, [1.5, 7.0]) == pytest.approx([1.5, 7.0])


def test_clipping():
    task = build_task(Config(min_value=0, max_value=5), TRAIN)
    assert decode(task, [-10.0, 0.0, 10.0]) == pytest.approx([0.0, MEAN, 5.0])
    only_max = build_task(Config(max_value=3, scale_targets=False), TRAIN)
    assert decode(only_max, [-7.0, 4.0]) == pytest.approx([-7.0, 3.0])
    with pytest.raises(ValueError, match="must be below"):
        Config(min_value=5, max_value=0)


def test_state_round_trip_predicts_the_same_numbers():
    task = build_task(Config(min_value=0, max_value=5), TRAIN)
    state = task.state()
    assert state == {
        "pairs": True,
        "mean": MEAN,
        "std": pytest.approx(STD),
        "scale_targets": True,
        "min_value": 0.0,
        "max_value": 5.0,
    }
    again = task_from_state(Config(min_value=0, max_value=5), state)
    assert (again.mean, again.std, again.pairs) == (task.mean, task.std, True)
    assert decode(again, [0.3, -9.0]) == decode(task, [0.3, -9.0])


def test_targets_must_vary_and_be_numbers():
    with pytest.raises(DataError, match="every training target is 2"):
        build_task(Config(), [Example("a", label=2.0), Example("b", label=2.0)])
    task = build_task(Config(), TRAIN)
    assert task.targets([Example("x", label="3.5")]).tolist() == pytest.approx([(3.5 - MEAN) / STD])
    with pytest.raises(DataError, match="'x' is not a number"):
        task.check_known([Example("a", label="x", source="f.tsv", line=4)], "evaluation data")
    with pytest.raises(DataError, match="no label"):
        task.check_known([Example("a")], "evaluation data")


def test_collated_targets_are_float32_of_shape_batch():
    task = build_task(Config(), TRAIN)
    items = [{"input_ids": [1, 5, 2], "labels": 0.5, "index": 0}, {"input_ids": [1, 2], "labels": -1.25, "index": 1}]
    batch = task.collator(0)(items)
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (2,)
    assert batch["labels"].tolist() == [0.5, -1.25]
    assert batch["input_ids"].shape == (2, 3)


def test_loss_is_mse_on_known_tensors():
    loss = build_task(Config(), TRAIN).loss_fn(TRAIN)
    assert isinstance(loss, torch.nn.Module) and isinstance(loss, RegressionLoss)
    outputs = {"logits": torch.tensor([[1.0], [2.0], [0.0]], requires_grad=True)}
    value = loss(outputs, {"labels": torch.tensor([0.0, 2.0, 3.0])})
    assert value.item() == pytest.approx((1 + 0 + 9) / 3)
    value.backward()
    assert outputs["logits"].grad.shape == (3, 1)


def test_outputs_records_table_and_agreement():
    task = build_task(Config(min_value=0, max_value=5), TRAIN)
    assert task.output_sizes() == {"logits": 1}
    assert task.output_names == ("logits",) and task.target_names == ("labels",)
    data = encoded(TRAIN[:2])
    records = task.prediction_records(data, [1.25, 4.5], top_k=3)
    assert records == [{"text": "a", "text_pair": "b", "score": 1.25}, {"text": "c", "text_pair": "d", "score": 4.5}]
    assert task.predictions(data, [1.25, 4.5]) == [1.25, 4.5]
    assert task.record_table(records) == (
        ["text", "text_pair", "score"],
        [["a", "b", "1.250000"], ["c", "d", "4.500000"]],
    )
    single = task.record_table([{"text": "x", "score": 2.0}])
    assert single == (["text", "score"], [["x", "2.000000"]])
    # agree within 1% of train's standard deviation (0.0112 here)
    assert task.agreement(data, [1.0, 2.0, 3.0], [1.01, 2.02, 3.0]) == (2, 3, "texts")


def test_scorer_compares_with_the_original_numbers():
    task = build_task(Config(), TRAIN)
    scorer = task.scorer(encoded(TRAIN))
    scorer.add([2, 3], [3.0, 4.0])
    scorer.add([0, 1], [1.5, 1.5])
    result = scorer.result()
    assert result["mae"] == pytest.approx((0.5 + 0.5) / 4) and result["num_examples"] == 4


def test_pairs_are_checked_on_raw_input():
    pair_task = build_task(Config(), TRAIN)
    assert pair_task.make_examples(["a b c"], text_pairs=["a b d"]) == [Example("a b c", "a b d")]
    with pytest.raises(InputError, match="trained on text pairs"):
        pair_task.make_examples(["a b c"])
    single = build_task(Config(), [Example("a", label=1.0), Example("b", label=2.0)])
    assert not single.pairs
    with pytest.raises(InputError, match="single texts"):
        single.make_examples(["a"], text_pairs=["b"])


def test_report_table_and_card():
    task = build_task(Config(min_value=0, max_value=5), TRAIN)
    console = Console(record=True, width=100)
    metrics = {
        "spearman": 0.8,
        "pearson": 0.75,
        "mse": 0.5,
        "rmse": 0.7071,
        "mae": 0.6,
        "gold_mean": 2.5,
        "gold_std": 1.2,
        "predicted_mean": 2.4,
        "predicted_std": 1.0,
        "num_examples": 40,
        "loss": 0.3,
        "note": "something to know",
        "points": {"gold": [1.0], "predicted": [1.0]},
    }
    task.print_report(metrics, console, "dev (40 examples)")
    text = console.export_text()
    for shown in (
        "Spearman correlation",
        "0.8000",
        "mean absolute error",
        "2.500 ± 1.200",
        "40",
        "loss (training objective)",
        "something to know",
        "dev (40 examples)",
    ):
        assert shown in text, shown
    assert task.card_summary() == "a number per text pair (scaled targets, train mean 2.5, std 1.12, clipped to [0, 5])"
    assert task.describe()["pairs"] is True


def test_scatter_plot_from_the_report(tmp_path):
    task = build_task(Config(), TRAIN)
    points = {"gold": [1.0, 2.0, 3.0], "predicted": [1.1, 2.2, 2.9]}
    report = {
        "evaluated_on": {"split": "dev"},
        "metrics": {"num_examples": 3, "spearman": 1.0, "pearson": 0.99, "points": points},
    }
    scatter, residuals = task.write_plots(tmp_path, report)
    assert scatter == tmp_path / "scatter.png" and scatter.read_bytes()[:4] == b"\x89PNG"
    assert residuals == tmp_path / "residuals.png" and residuals.read_bytes()[:4] == b"\x89PNG"
    assert task.write_plots(tmp_path / "none", {"metrics": {"spearman": 0.0}}) == []


def test_init_prints_a_valid_regression_config():
    result = CliRunner().invoke(app, ["init", "regression"])
    assert result.exit_code == 0, result.output
    raw = yaml.safe_load(result.output)
    assert raw["task"]["name"] == "text_regression"
    config = validate_config(raw)
    assert isinstance(config.task, Config) and config.training.metric == "spearman"
