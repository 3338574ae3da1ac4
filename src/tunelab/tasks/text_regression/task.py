"""Text regression: one number per text or text pair (a cross-encoder), on a sequence-classification
head with one output. Targets are standardised with train's mean and standard deviation unless
``task.scale_targets`` is off; every prediction is mapped back to the original scale (and clipped
to ``task.min_value``/``task.max_value`` when set)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from tunelab.config import ModelConfig
from tunelab.data.encoding import EncodedDataset
from tunelab.data.example import Example
from tunelab.data.loading import Splits
from tunelab.errors import ConfigError, DataError
from tunelab.models.resolve import ResolvedModel
from tunelab.tasks.backbone import load_with_head
from tunelab.tasks.base import CheckFacts, ItemScorer, LossFn, Outputs, shown_lines
from tunelab.tasks.text import TextTask
from tunelab.tasks.text_regression.config import TextRegressionConfig, TextRegressionData
from tunelab.tasks.text_regression.data import load_splits, parse_number, with_numbers
from tunelab.tasks.text_regression.errors import LargestResiduals
from tunelab.tasks.text_regression.metrics import METRIC_DIRECTIONS, regression_metrics
from tunelab.tasks.text_regression.report import print_regression_report, write_regression_plots
from tunelab.tasks.text_regression.schemas import RegressionPrediction

#: Export parity: a torch and an ONNX prediction agree when they differ by at most this share of
#: the training targets' standard deviation (0.015 on STS-B's 0-5 scale, std ~1.5).
AGREEMENT_TOLERANCE = 0.01


class TextRegressionTask(TextTask):
    name = "text_regression"
    model_class = AutoModelForSequenceClassification
    peft_task_type = "SEQ_CLS"
    default_metric = "spearman"
    metric_directions = METRIC_DIRECTIONS
    prediction_schema = RegressionPrediction
    request_examples = {
        "pairs": {
            "summary": "Score a text pair (pair models)",
            "value": {"texts": ["A man is playing a guitar."], "text_pairs": ["Someone plays a guitar."]},
        },
    }

    def __init__(
        self, config: TextRegressionConfig, *, mean: float = 0.0, std: float = 1.0, pairs: bool = False
    ) -> None:
        if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
            raise ValueError(f"target mean and std must be finite and std positive, got {mean} and {std}")
        self.config = config
        self.labels: list[str] = []  # no classes: the model outputs one number
        self.mean, self.std = float(mean), float(std)
        self.pairs = pairs

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def read_splits(data_config: TextRegressionData, config: TextRegressionConfig) -> Splits:
        return load_splits(data_config)

    @classmethod
    def from_examples(cls, config: TextRegressionConfig, train: Sequence[Example]) -> TextRegressionTask:
        values = np.asarray([_number(ex) for ex in train], dtype=np.float64)
        if values.size == 0:
            raise DataError("no training examples")
        std = float(values.std())
        if std == 0.0:
            first = train[0]
            raise DataError(
                f"every training target is {values[0]:g}: there is nothing to learn", first.source, first.line
            )
        return cls(config, mean=float(values.mean()), std=std, pairs=any(ex.text_pair is not None for ex in train))

    @classmethod
    def from_state(cls, config: TextRegressionConfig, state: dict[str, Any]) -> TextRegressionTask:
        return cls(config, mean=float(state["mean"]), std=float(state["std"]), pairs=bool(state.get("pairs", False)))

    def state(self) -> dict[str, Any]:
        """Train's target mean and std (the scale predictions are mapped back to when scaling) and
        the clipping range, so a reloaded model predicts the same numbers."""
        return {
            "pairs": self.pairs,
            "mean": self.mean,
            "std": self.std,
            "scale_targets": self.config.scale_targets,
            "min_value": self.config.min_value,
            "max_value": self.config.max_value,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "target_mean": self.mean,
            "target_std": self.std,
            "min_value": self.config.min_value,
            "max_value": self.config.max_value,
        }

    def output_sizes(self) -> dict[str, int]:
        return {"logits": 1}

    # -- model ---------------------------------------------------------------------------------
    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        return load_with_head(
            self.model_class, resolved, model_config, kind="sequence", num_labels=1, problem_type="regression"
        )

    # -- data ----------------------------------------------------------------------------------
    @property
    def shift(self) -> tuple[float, float]:
        """(mean, std) of the model's scale: train's when scaling targets, else (0, 1)."""
        return (self.mean, self.std) if self.config.scale_targets else (0.0, 1.0)

    def targets(self, examples: Sequence[Example]) -> np.ndarray:
        mean, std = self.shift
        return ((np.asarray([_number(ex) for ex in examples], dtype=np.float64) - mean) / std).astype(np.float32)

    def target_collator(self) -> Callable[[list[Any], int], torch.Tensor]:
        return lambda targets, width: torch.tensor(targets, dtype=torch.float32).reshape(-1)

    def read_file(self, path: str | Path, meta: Any, **options: Any) -> list[Example]:
        examples = super().read_file(path, meta, **options)
        self.check_examples_pairs(examples, "the input")
        if not options.get("require_labels", True):
            # Prediction input: whatever a headerless file's content detection took for a label
            # column (STS-B's genre column, say) is not a target.
            return [replace(ex, label=None) if ex.label is not None else ex for ex in examples]
        field = options.get("label_column") or (meta.data.reading.get("columns") or {}).get("label")
        return with_numbers(examples, field)

    def check_known(self, examples: Sequence[Example], where: str) -> None:
        for ex in examples:
            _number(ex)

    def check_facts(self, parts: dict[str, Sequence[Example]], splits: Any) -> CheckFacts:
        """The targets' min/max/mean/std per split, and the targets outside train's range (dev/test)
        or outside task.min_value/max_value (predictions are clipped to it: they can never reach them)."""
        checked = super().check_facts(parts, splits)
        values = {name: np.asarray([_number(ex) for ex in exs], dtype=np.float64) for name, exs in parts.items() if exs}
        stats = {
            name: {"count": len(v), **{key: float(getattr(v, key)()) for key in ("min", "max", "mean", "std")}}
            for name, v in values.items()
        }
        low, high = stats["train"]["min"], stats["train"]["max"]
        lo, hi = self.config.min_value, self.config.max_value
        outside_train: dict[str, list[int]] = {}
        outside_range: dict[str, list[int]] = {}
        for name, numbers in values.items():
            exs = parts[name]
            if name != "train":
                outside_train[name] = [ex.line for ex, v in zip(exs, numbers) if v < low or v > high]
            if lo is not None or hi is not None:
                outside_range[name] = [
                    ex.line for ex, v in zip(exs, numbers) if (lo is not None and v < lo) or (hi is not None and v > hi)
                ]
        warnings = [
            f"{name} has {len(lines)} targets outside train's range [{low:g}, {high:g}] (lines {shown_lines(lines)}): "
            "the model rarely predicts beyond what it was trained on; check them or add such examples to train"
            for name, lines in outside_train.items()
            if lines
        ]
        shown_range = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
        warnings += [
            f"{name} has {len(lines)} targets outside task.min_value/max_value {shown_range} (lines "
            f"{shown_lines(lines)}): predictions are clipped to that range; fix the targets or the range"
            for name, lines in outside_range.items()
            if lines
        ]
        checked.facts = {
            "targets": stats,
            "outside_train_range": {name: {"count": len(n), "lines": n} for name, n in outside_train.items()},
            "outside_configured_range": {name: {"count": len(n), "lines": n} for name, n in outside_range.items()},
        }
        checked.tables = [
            (
                "targets",
                ["split", "count", "min", "max", "mean", "std"],
                [
                    [name, str(s["count"])] + [f"{s[k]:.4g}" for k in ("min", "max", "mean", "std")]
                    for name, s in stats.items()
                ],
            )
        ]
        checked.warnings = warnings
        return checked

    def loss_fn(self, train: Sequence[Example], *, label_smoothing: float = 0.0) -> LossFn:
        if label_smoothing:
            raise ConfigError(
                f"training.label_smoothing={label_smoothing:g}: a regression loss has no labels to smooth; "
                "set it to 0 for text_regression"
            )
        return RegressionLoss()

    def output_divergence(
        self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """R-Drop's divergence for a number: the mean squared difference of the two predictions."""
        la, lb = a["logits"].float(), b["logits"].float()
        return torch.nn.functional.mse_loss(la.reshape(la.shape[0], -1)[:, 0], lb.reshape(lb.shape[0], -1)[:, 0])

    # -- outputs -------------------------------------------------------------------------------
    def to_scale(self, values: np.ndarray) -> np.ndarray:
        """The model's outputs on the targets' original scale, clipped to the configured range."""
        mean, std = self.shift
        out = np.asarray(values, dtype=np.float64) * std + mean
        if self.config.min_value is not None or self.config.max_value is not None:
            out = np.clip(out, self.config.min_value, self.config.max_value)
        return out

    def decode_batch(self, encoded: EncodedDataset, indices: Sequence[int], outputs: Outputs) -> list[float]:
        logits = np.asarray(outputs["logits"])  # (batch, 1)
        return [float(v) for v in self.to_scale(logits[:, 0] if logits.ndim == 2 else logits.reshape(-1))]

    def metrics(self, gold: Sequence[float], predicted: Sequence[float]) -> dict[str, Any]:
        return regression_metrics(gold, predicted)

    def scorer(self, encoded: EncodedDataset) -> ItemScorer:
        gold = [_number(ex) for ex in encoded.examples]
        return ItemScorer(lambda items: self.metrics(gold, items), len(encoded))

    def predictions(self, encoded: EncodedDataset, items: Sequence[float]) -> list[float]:
        return [float(v) for v in items]

    def prediction_records(self, encoded: EncodedDataset, items: Sequence[float], *, top_k: int = 1) -> list[dict]:
        return [{**self.base_record(ex), "score": float(v)} for ex, v in zip(encoded.examples, items)]

    def agreement(self, encoded: EncodedDataset, a: Sequence[float], b: Sequence[float]) -> tuple[int, int, str]:
        """Predictions agree when they differ by at most 1% of the training targets' std."""
        diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
        return int((diff <= AGREEMENT_TOLERANCE * self.std).sum()), len(diff), "texts"

    # -- presentation --------------------------------------------------------------------------
    def record_table(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        header, text = self.text_columns(records)
        return header + ["score"], [text(r) + [f"{r['score']:.6f}"] for r in records]

    def print_report(self, metrics: dict[str, Any], console: Console | None, title: str) -> None:
        print_regression_report(metrics, console=console, title=title)

    def write_plots(self, directory: Path, report: dict[str, Any]) -> list[Path]:
        """scatter.png (predicted against gold) and residuals.png, from the points the metrics keep."""
        split = (report.get("evaluated_on") or {}).get("split", "dev")
        return write_regression_plots(directory, report.get("metrics") or {}, split=split)

    def worst_errors(self, encoded: EncodedDataset, limit: int) -> LargestResiduals:
        """The largest residuals (the HTML report's worst errors)."""
        return LargestResiduals([_number(ex) for ex in encoded.examples], encoded, limit)

    def card_metrics(self, metrics: dict[str, Any]) -> dict[str, float]:
        """The correlations and errors; not the gold and predicted means and spreads."""
        return {k: float(metrics[k]) for k in ("spearman", "pearson", "mse", "rmse", "mae") if k in metrics}

    def card_summary(self) -> str:
        what = "a number per text pair" if self.pairs else "a number per text"
        scale = "scaled targets" if self.config.scale_targets else "unscaled targets"
        low, high = self.config.min_value, self.config.max_value
        clip = ""
        if low is not None or high is not None:
            clip = f", clipped to [{'' if low is None else f'{low:g}'}, {'' if high is None else f'{high:g}'}]"
        return f"{what} ({scale}, train mean {self.mean:.3g}, std {self.std:.3g}{clip})"


class RegressionLoss(torch.nn.Module):
    """Mean squared error between ``outputs["logits"]`` (one column) and ``targets["labels"]``."""

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = outputs["logits"].float()
        return torch.nn.functional.mse_loss(logits.reshape(logits.shape[0], -1)[:, 0], targets["labels"].float())


def _number(example: Example) -> float:
    """An example's label as a float (labels read by this task already are; a string is parsed)."""
    if example.label is None:
        raise DataError("this example has no label (a number is needed)", example.source, example.line, "label")
    return parse_number(example.label, example.source, example.line, "label")
