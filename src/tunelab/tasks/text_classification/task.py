"""Text classification, single-label (softmax) and multi-label (sigmoid), on a sequence-classification head."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from sklearn.utils.class_weight import compute_class_weight
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from tunelab.config import ModelConfig
from tunelab.data.encoding import EncodedDataset
from tunelab.data.example import Example
from tunelab.data.loading import Splits
from tunelab.errors import ConfigError
from tunelab.models.heads import HEAD_KEY
from tunelab.models.resolve import ResolvedModel
from tunelab.tasks.backbone import load_with_head
from tunelab.tasks.base import (
    CheckFacts,
    LossFn,
    Outputs,
    check_item,
    log_probabilities,
    shown_names,
    softmax,
    vote_probabilities,
    weighted_mean,
)
from tunelab.tasks.text import TextTask
from tunelab.tasks.text_classification import verbaliser, zero_shot
from tunelab.tasks.text_classification.config import TextClassificationConfig, TextClassificationData
from tunelab.tasks.text_classification.data import load_splits
from tunelab.tasks.text_classification.errors import ConfidentErrors
from tunelab.tasks.text_classification.labels import check_known_labels, detect_labels
from tunelab.tasks.text_classification.metrics import METRIC_DIRECTIONS, classification_metrics
from tunelab.tasks.text_classification.out_of_scope import OOS_TARGET
from tunelab.tasks.text_classification.post_training import ExtendedScorer, PostTraining, oos_columns
from tunelab.tasks.text_classification.report import print_classification_report, write_classification_plots
from tunelab.tasks.text_classification.schemas import ClassificationPrediction

# Beyond this many labels the terminal table shows the worst ones; report.json always has all.
TABLE_MAX_LABELS = 40


class ClassificationScorer:
    """Keeps each item's decoded prediction (an id, or a row of 0/1 for multi-label), not its scores."""

    def __init__(self, task: TextClassificationTask, encoded: EncodedDataset) -> None:
        self.task, self.encoded = task, encoded
        self.predicted: list[Any] = [None] * len(encoded)

    def add(self, indices: Sequence[int], items: Sequence[np.ndarray]) -> None:
        if len(items):
            for i, decoded in zip(indices, self.task.decode(np.stack(items))):
                self.predicted[i] = decoded

    def result(self) -> dict[str, Any]:
        return self.task.metrics(np.asarray(self.encoded.labels), np.asarray(self.predicted))


class TextClassificationTask(PostTraining, TextTask):
    name = "text_classification"
    model_class = AutoModelForSequenceClassification
    peft_task_type = "SEQ_CLS"
    default_metric = "accuracy"
    metric_directions = METRIC_DIRECTIONS
    prediction_schema = ClassificationPrediction
    request_examples = {
        "classification": {
            "summary": "Classify two texts",
            "value": {"texts": ["I was charged twice for my card payment", "Where is my new card?"], "top_k": 1},
        },
        "top_k": {
            "summary": "Three best labels with scores",
            "value": {"texts": ["How do I top up with a bank transfer?"], "top_k": 3},
        },
    }

    def __init__(self, config: TextClassificationConfig, labels: list[str], *, pairs: bool = False) -> None:
        if len(labels) < 2 and not config.multi_label:
            raise ConfigError(f"text classification needs at least 2 labels; the training data has {labels}")
        if len(set(labels)) != len(labels):
            raise ConfigError(f"task.labels has duplicates: {labels}")
        self.config = config
        self.labels = list(labels)
        self.label2id = {label: i for i, label in enumerate(self.labels)}
        self.pairs = pairs
        self.zero_shot: dict[str, Any] | None = None  # how a zero-shot head was built (task state)
        self.self_training: dict[str, Any] | None = None  # what self-training pseudo-labelled
        # the head L2-normalises its pooled vector (zero-shot and contrastive heads): task state, so
        # an artifact holding only trained weights rebuilds the same head on its base model
        self.normalized_head = False
        self.restored = False  # built from an artifact's state, not for training
        self.restore_fitted({})  # out-of-scope detection and calibration: fitted after training

    @property
    def multi_label(self) -> bool:
        return self.config.multi_label

    @staticmethod
    def read_splits(data_config: TextClassificationData, config: TextClassificationConfig) -> Splits:
        if data_config.unlabelled is not None and config.zero_shot is None:
            raise ConfigError("data.unlabelled is read to self-train a zero-shot classifier: set task.zero_shot too")
        zs = config.zero_shot
        oos = config.out_of_scope
        splits = load_splits(
            data_config,
            multi_label=config.multi_label,
            train_optional=zs is not None,
            known_labels=(zs.labels if zs else None) or config.labels or (),
            out_of_scope=oos.label if oos.scorer != "none" else None,
            oos_hint=oos.label if oos.scorer == "none" else None,
        )
        if not splits.dev and (config.calibration != "none" or (oos.scorer != "none" and oos.threshold is None)):
            raise ConfigError(
                "task.out_of_scope and task.calibration are fitted on dev data, and there is none: set data.dev "
                "(rows labelled '" + oos.label + "' tune the out-of-scope threshold best), keep data.split.dev "
                "above 0, or set task.out_of_scope.threshold (and task.calibration: none)"
            )
        return splits

    @classmethod
    def from_splits(cls, config: TextClassificationConfig, splits: Splits) -> TextClassificationTask:
        """From the training examples, or (task.zero_shot) from the labels it names or the dev/test files hold."""
        if config.zero_shot is None:
            return cls.from_examples(config, splits.train)
        return zero_shot.zero_shot_task(cls, config, splits)

    def needs_training_data(self) -> bool:
        return self.config.zero_shot is None

    def self_training_examples(
        self, model: Any, tokenizer: Any, data_config: Any, max_length: int, log: Callable[[str], None]
    ) -> list[Example]:
        """task.zero_shot with data.unlabelled: the texts the zero-shot model labels confidently."""
        if self.config.zero_shot is None or getattr(data_config, "unlabelled", None) is None:
            return []
        return zero_shot.self_training_examples(self, model, tokenizer, data_config, max_length, log)

    @classmethod
    def from_examples(cls, config: TextClassificationConfig, train: Sequence[Example]) -> TextClassificationTask:
        labels = list(config.labels) if config.labels else detect_labels(train)
        if config.labels:
            check_known_labels(train, labels, "train")
        task = cls(config, labels, pairs=any(ex.text_pair is not None for ex in train))
        if isinstance(config.class_weights, dict):
            unknown = sorted(set(config.class_weights) - set(labels))
            if unknown:
                raise ConfigError(f"task.class_weights names labels not in the data: {unknown}; labels: {labels}")
        return task

    @classmethod
    def from_state(cls, config: TextClassificationConfig, state: dict[str, Any]) -> TextClassificationTask:
        task = cls(config, list(state["labels"]), pairs=bool(state.get("pairs", False)))
        task.zero_shot, task.self_training = state.get("zero_shot"), state.get("self_training")
        task.normalized_head, task.restored = bool(state.get("normalized_head", False)), True
        task.restore_fitted(state)
        return task

    def state(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "multi_label": self.multi_label,
            "threshold": self.config.threshold,
            "pairs": self.pairs,
            **({"zero_shot": self.zero_shot} if self.zero_shot else {}),
            **({"self_training": self.self_training} if self.self_training else {}),
            **({"normalized_head": True} if self.normalized_head else {}),
            **self.fitted_state(),
        }

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"multi_label": self.multi_label, "pairs": self.pairs}
        if self.oos_state is not None:
            described["out_of_scope"] = {k: self.oos_state[k] for k in ("label", "scorer", "threshold")}
        if self.config.calibration != "none":
            described["temperature"] = self.temperature
        return described

    # -- model ---------------------------------------------------------------------------------
    def contrastive(self) -> Any:
        """Few-shot contrastive training (training.strategy: contrastive): positive pairs share a label.
        None for task.zero_shot: its head is the label texts' embeddings (standard fine-tuning keeps it)."""
        if self.config.zero_shot is not None:
            return None
        from tunelab.tasks.text_classification.few_shot import ClassificationContrastive

        return ClassificationContrastive(self)

    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        if self.config.zero_shot is not None:  # the head: the label texts' embeddings (zero_shot.py)
            model_config = zero_shot.zero_shot_model_config(resolved, model_config, self.config.zero_shot)
        model = load_with_head(
            self.model_class,
            resolved,
            model_config,
            kind="sequence",
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id=dict(self.label2id),
            problem_type="multi_label_classification" if self.multi_label else "single_label_classification",
        )
        if self.config.zero_shot is not None and not self.restored:  # an artifact's weights replace it
            built = zero_shot.init_zero_shot_head(
                model, resolved, self.labels, self.config.zero_shot, model_config.max_length
            )
            self.zero_shot = {**(self.zero_shot or {}), **built}
        head = dict(getattr(model.config, HEAD_KEY, None) or {})
        if self.normalized_head:
            setattr(model.config, HEAD_KEY, {**head, "normalize": True})
        self.normalized_head = bool(head.get("normalize")) or self.normalized_head
        return model

    # -- data ----------------------------------------------------------------------------------
    def encode(self, tokenizer: Any, examples: Sequence[Example], max_length: int) -> EncodedDataset:
        """Texts as the model reads them: wrapped in task.zero_shot.prompt for a verbaliser."""
        prompt = self.config.zero_shot.prompt if self.config.zero_shot is not None else None
        if prompt is None:
            return super().encode(tokenizer, examples, max_length)
        return verbaliser.encode_prompted(super().encode, tokenizer, examples, max_length, prompt)

    def targets(self, examples: Sequence[Example]) -> np.ndarray:
        if self.multi_label:
            out = np.zeros((len(examples), len(self.labels)), dtype=np.int64)
            for row, ex in enumerate(examples):
                for label in ex.label or ():
                    out[row, self.label2id[label]] = 1
            return out
        oos = self.oos_label  # out-of-scope rows (dev/test only): ignored by the loss, scored apart
        return np.asarray(
            [OOS_TARGET if oos is not None and ex.label == oos else self.label2id[str(ex.label)] for ex in examples],
            dtype=np.int64,
        )

    def target_collator(self) -> Callable[[list[Any], int], torch.Tensor]:
        dtype = torch.float32 if self.multi_label else torch.long
        return lambda targets, width: torch.tensor(targets, dtype=dtype)

    def read_options(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "label_separator": data.get("label_separator", "|"),
            "multi_label": self.multi_label,
            "known_labels": set(self.labels) | ({self.oos_label} if self.oos_label else set()),
        }

    def read_file(self, path: str | Path, meta: Any, **options: Any) -> list[Example]:
        examples = super().read_file(path, meta, **options)
        self.check_examples_pairs(examples, "the input")
        return examples

    def check_known(self, examples: Sequence[Example], where: str) -> None:
        oos = self.config.out_of_scope.label
        check_known_labels(
            examples, self.labels, where, out_of_scope=self.oos_label, oos_hint=None if self.oos_label else oos
        )

    def check_facts(self, parts: dict[str, Sequence[Example]], splits: Any) -> CheckFacts:
        """Each example counts towards its label (each of its labels, multi-label): the label
        distribution; multi-label data also says how many labels an example has."""
        items = {
            name: [check_item(ex, ex.label if isinstance(ex.label, tuple) else (str(ex.label),)) for ex in examples]
            for name, examples in parts.items()
        }
        facts: dict[str, Any] = {"labels": len(self.labels), "multi_label": self.multi_label, "pairs": self.pairs}
        tables = []
        if self.multi_label:
            sizes = {name: [len(ex.label or ()) for ex in examples] for name, examples in parts.items() if examples}
            means = {name: round(sum(n) / len(n), 4) for name, n in sizes.items()}
            empty = {name: sum(1 for k in n if k == 0) for name, n in sizes.items()}
            facts.update(labels_per_example=means, without_labels=empty)
            rows = [[name, f"{means[name]:.2f}", str(empty[name])] for name in sizes]
            tables.append(("labels per example", ["split", "mean labels", "examples without labels"], rows))
        return CheckFacts(
            items=items,
            classes=list(self.labels),
            imbalance_hint="set task.class_weights: balanced, or add examples of the rare labels",
            facts=facts,
            tables=tables,
        )

    # -- training ------------------------------------------------------------------------------
    def class_weights(self, train: Sequence[Example]) -> list[float] | None:
        setting = self.config.class_weights
        if setting is None:
            return None
        if isinstance(setting, dict):
            return [float(setting.get(label, 1.0)) for label in self.labels]
        y = self.targets(train)
        if self.multi_label:
            # pos_weight = negatives / positives per label: the usual balance for BCE.
            pos = y.sum(axis=0).astype(np.float64)
            return [float((len(y) - p) / p) if p > 0 else 1.0 for p in pos]
        present = np.unique(y)
        weights = np.ones(len(self.labels))
        weights[present] = compute_class_weight("balanced", classes=present, y=y)
        return weights.tolist()

    def loss_fn(self, train: Sequence[Example], *, label_smoothing: float = 0.0) -> LossFn:
        """Cross-entropy (multi-label: BCE per label), with the class weights; ``label_smoothing``
        (training.label_smoothing): torch's for cross-entropy, targets pulled towards 1/2 for BCE."""
        weights = self.class_weights(train)
        tensor = torch.tensor(weights, dtype=torch.float32) if weights is not None else None
        loss = (
            torch.nn.BCEWithLogitsLoss(pos_weight=tensor)
            if self.multi_label
            else torch.nn.CrossEntropyLoss(weight=tensor, label_smoothing=label_smoothing)
        )
        return _OutputLoss(loss, smooth_targets=label_smoothing if self.multi_label else 0.0)

    def output_divergence(
        self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """R-Drop's divergence: multi-label models predict a Bernoulli per label, so the symmetric KL
        of those, summed over labels and averaged over texts; single-label: the softmax default."""
        if not self.multi_label:
            return super().output_divergence(a, b, batch)
        la, lb = a["logits"].float(), b["logits"].float()
        p, q = torch.sigmoid(la), torch.sigmoid(lb)
        # (p - q) * (logit p - logit q) is KL(p||q) + KL(q||p) for Bernoulli distributions
        return ((p - q) * (la - lb)).sum(dim=-1).mean() / 2

    # -- outputs -------------------------------------------------------------------------------
    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Class probabilities of logits: softmax, or a sigmoid per label for multi-label models."""
        logits = np.asarray(logits, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-logits)) if self.multi_label else softmax(logits / self.temperature)

    def class_probabilities(self, items: Sequence[np.ndarray]) -> np.ndarray:
        """(n, labels) from decoded items, which are already probabilities (see decode_batch)."""
        return np.stack(items)[:, : len(self.labels)] if len(items) else np.zeros((0, len(self.labels)))

    def outputs(self, model_output: Any) -> dict[str, torch.Tensor]:
        """The logits, and the pooled features when an out-of-scope scorer reads them (a model
        without the feature hooks, the one being trained, gives none: nothing needs them there)."""
        return {name: getattr(model_output, name) for name in self.output_names if hasattr(model_output, name)}

    def output_sizes(self) -> dict[str, int]:
        return {**super().output_sizes(), **self.feature_sizes()}

    def decode_batch(self, encoded: EncodedDataset, indices: Sequence[int], outputs: Outputs) -> list[np.ndarray]:
        if self.extended:  # the probabilities, then the out-of-scope score and the unscaled confidence
            return self.extended_items(outputs)
        return list(self.probabilities(outputs["logits"]))

    def decode(self, probs: np.ndarray) -> np.ndarray:
        if self.extended:
            return self.extended_decode(np.asarray(probs))
        if self.multi_label:
            return (probs >= self.config.threshold).astype(np.int64)
        return np.asarray(probs).argmax(axis=-1)

    # -- ensembles -------------------------------------------------------------------------------
    combine_modes = ("mean", "vote", "weighted")

    def combine_outputs(self, outputs_list: Sequence[Outputs], weights: Sequence[float], mode: str) -> Outputs:
        """The members' probabilities (softmax, or sigmoid per label), averaged; a vote: the class
        most members predict (its score: its share of the votes; ties: the mean probability), or for
        multi-label models each label most members switch on (the mean probability, moved across the
        threshold where the vote overrules it). Returned as logits decode_batch turns back into them."""
        probs = [self.probabilities(o["logits"]) for o in outputs_list]
        mean = weighted_mean(probs, weights)
        if not self.multi_label:
            combined = vote_probabilities(probs, weights) if mode == "vote" else mean
            return {"logits": log_probabilities(combined) * self.temperature}  # decode_batch divides by it again
        threshold = self.config.threshold
        if mode == "vote":
            share = weighted_mean([(p >= threshold).astype(np.float64) for p in probs], weights)
            tie = np.isclose(share, 0.5)
            on = np.where(tie, mean >= threshold, share > 0.5)
            margin = 1e-6  # keeps the decision through the logit/sigmoid round trip
            mean = np.where(on, np.maximum(mean, threshold + margin), np.minimum(mean, threshold - margin))
        mean = np.clip(mean, 1e-12, 1.0 - 1e-12)
        return {"logits": np.log(mean) - np.log1p(-mean)}

    def metrics(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
        return classification_metrics(y_true, y_pred, self.labels, multi_label=self.multi_label)

    def scorer(self, encoded: EncodedDataset) -> ClassificationScorer | ExtendedScorer:
        return ExtendedScorer(self, encoded) if self.extended else ClassificationScorer(self, encoded)

    def predictions(self, encoded: EncodedDataset, items: Sequence[np.ndarray]) -> list:
        if not len(items):
            return []
        decoded = self.decode(np.stack(items))
        if self.multi_label:
            return [[self.labels[j] for j in np.flatnonzero(row)] for row in decoded]
        return [self.label_name(int(i)) for i in decoded]

    def prediction_records(self, encoded: EncodedDataset, items: Sequence[np.ndarray], *, top_k: int = 1) -> list[dict]:
        if not len(items):
            return []
        if self.extended:  # out_of_scope and oos_score when detection is on
            return self.extended_records(encoded, items, top_k)
        probs = np.stack(items)
        records = []
        for ex, p, d in zip(encoded.examples, probs, self.decode(probs)):
            record = self.base_record(ex)
            if self.multi_label:
                record["labels"] = [self.labels[j] for j in np.flatnonzero(d)]
            else:
                record["label"] = self.labels[int(d)]
                record["score"] = float(p[int(d)])
            order = np.argsort(-p, kind="stable")[: max(1, top_k)]
            record["top"] = [{"label": self.labels[j], "score": float(p[j])} for j in order]
            records.append(record)
        return records

    def agreement(
        self, encoded: EncodedDataset, a: Sequence[np.ndarray], b: Sequence[np.ndarray]
    ) -> tuple[int, int, str]:
        x, y = self.decode(np.stack(a)), self.decode(np.stack(b))
        same = (x == y).reshape(len(x), -1).all(axis=1)
        return int(same.sum()), len(same), "texts"

    # -- presentation --------------------------------------------------------------------------
    def record_table(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        header, text = self.text_columns(records)
        k = max((len(r["top"]) for r in records), default=1)
        header += ["labels"] if self.multi_label else ["label", "score"]
        header += [f"{kind}_{i + 1}" for i in range(k) for kind in ("top_label", "top_score")] if k > 1 else []
        oos_header, oos_cells = oos_columns(records)
        header += oos_header
        rows = []
        for r in records:
            row = text(r) + (["|".join(r["labels"])] if self.multi_label else [r["label"], f"{r['score']:.6f}"])
            if k > 1:
                for top in r["top"]:
                    row += [top["label"], f"{top['score']:.6f}"]
            rows.append(row + oos_cells(r))
        return header, rows

    def terminal_rows(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        header, text = self.text_columns(records)
        oos_header, oos_cells = oos_columns(records)
        rows = []
        for r in records:
            pred = ", ".join(r["labels"]) if self.multi_label else f"{r['label']} ({r['score']:.3f})"
            rows.append(text(r) + [pred, ", ".join(f"{t['label']} {t['score']:.3f}" for t in r["top"])] + oos_cells(r))
        return header + ["prediction", "top labels"] + oos_header, rows

    def print_report(self, metrics: dict[str, Any], console: Console | None, title: str) -> None:
        print_classification_report(metrics, console=console, title=title, max_labels=TABLE_MAX_LABELS)
        for line in self.post_training_lines():  # out-of-scope scorer and threshold, temperature
            (console or Console()).print(line, markup=False, highlight=False)

    def write_plots(self, directory: Path, report: dict[str, Any]) -> list[Path]:
        """Confusion matrix (most confused pairs), label counts (multi-label), F1 per label."""
        split = (report.get("evaluated_on") or {}).get("split", "dev")
        written = write_classification_plots(directory, report.get("metrics") or {}, self.labels, split=split)
        from tunelab.tasks.text_classification.oos_plots import write_post_training_plots

        return written + write_post_training_plots(directory, report.get("metrics") or {}, split=split)

    def worst_errors(self, encoded: EncodedDataset, limit: int) -> ConfidentErrors:
        """The wrong predictions the model was surest of (the HTML report's worst errors)."""
        return ConfidentErrors(self, encoded, limit)

    def card_summary(self) -> str:
        kind = " (multi-label)" if self.multi_label else ""
        pairs = ", on text pairs" if self.pairs else ""
        summary = f"{len(self.labels)} labels{kind}{pairs}: " + shown_names(self.labels)
        return summary + zero_shot.summary_note(self)


class _OutputLoss(torch.nn.Module):
    """A torch loss on ``outputs["logits"]`` and ``targets["labels"]``."""

    def __init__(self, loss: torch.nn.Module, smooth_targets: float = 0.0) -> None:
        super().__init__()
        self.loss = loss
        self.smooth_targets = smooth_targets  # multi-label label smoothing: y * (1 - s) + s / 2

    @property
    def weight(self) -> torch.Tensor | None:
        return getattr(self.loss, "weight", None)

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        labels = targets["labels"]
        if labels.dim() == 1 and not bool((labels != OOS_TARGET).any()):  # only out-of-scope dev rows
            return outputs["logits"].sum() * 0.0
        if self.smooth_targets:
            labels = labels * (1.0 - self.smooth_targets) + self.smooth_targets / 2
        return self.loss(outputs["logits"], labels)
