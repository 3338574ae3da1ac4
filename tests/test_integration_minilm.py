"""The real packaged MiniLM on a slice of the shipped BANKING77 data: it must learn."""

from pathlib import Path

import pytest
from rich.console import Console

from helpers import write_csv
from tunelab.config import load_config
from tunelab.data import read_examples
from tunelab.workflow.train import train

DATA = Path(__file__).parents[1] / "data" / "banking77"


@pytest.mark.slow
def test_minilm_learns_a_banking77_slice(tmp_path):
    labels = sorted({ex.label for ex in read_examples(DATA / "dev.csv").examples})[:10]

    def slice_of(name, per_label):
        counts, rows = {}, []
        for ex in read_examples(DATA / name).examples:
            if ex.label in labels and counts.get(ex.label, 0) < per_label:
                counts[ex.label] = counts.get(ex.label, 0) + 1
                rows.append((ex.text, ex.label))
        return rows

    train_file = write_csv(tmp_path / "train.csv", slice_of("train.csv", 30), header=("text", "category"))
    dev_file = write_csv(tmp_path / "dev.csv", slice_of("dev.csv", 10), header=("text", "category"))
    cfg = load_config(
        None,
        [
            f"data.train={train_file}",
            f"data.dev={dev_file}",
            "training.epochs=4",
            "training.learning_rate=2e-4",
            "training.tensorboard=false",
        ],
    )
    result = train(cfg, output_dir=tmp_path / "model", console=Console(file=open("/dev/null", "w")))
    assert result.meta["model"]["source"] == "packaged"
    accuracy = result.report["metrics"]["accuracy"]
    assert accuracy >= 0.6, accuracy  # chance is 0.1
