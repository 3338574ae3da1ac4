"""Text classification, single-label (softmax) and multi-label (sigmoid), on a sequence-classification head."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from transformers import AutoModelForSequenceClassification, PreTrainedModel, PreTrainedTokenizerBase

from tunelab.config import DataConfig, ModelConfig, TextClassificationConfig
from tunelab.data.encoding import EncodedDataset, encode_texts
from tunelab.data.example import Example
from tunelab.data.labels import check_known_labels, detect_labels
from tunelab.data.loading import Splits, load_splits, read_examples
from tunelab.errors import ConfigError, DataError
from tunelab.evaluation.classification import METRIC_DIRECTIONS, classification_metrics
from tunelab.models.resolve import ResolvedModel
from tunelab.registry import TASKS
from tunelab.tasks.backbone import head_modules, load_with_head



@TASKS.register("text_classification")
class TextClassificationTask:
    name = "text_classification"
    model_class = AutoModelForSequenceClassification
    default_metric = "accuracy"
    metric_directions = METRIC_DIRECTIONS

    def __init__(self, config: TextClassificationConfig, labels: list[str]) -> None:
        if len(labels) < 2 and not config.multi_label:
            raise ConfigError(f"text classification needs at least 2 labels; the training data has {labels}")
        if len(set(labels)) != len(labels):
            raise ConfigError(f"task.labels has duplicates: {labels}")
        self.config = config
        self.labels = list(labels)
        self.label2id = {label: i for i, label in enumerate(self.labels)}

    @property
    def multi_label(self) -> bool:
        return self.config.multi_label

    @staticmethod
    def read_splits(data_config: DataConfig, config: TextClassificationConfig) -> Splits:
        return load_splits(data_config, multi_label=config.multi_label)

    @classmethod
    def from_examples(cls, config: TextClassificationConfig, train: Sequence[Example]) -> "TextClassificationTask":
        labels = list(config.labels) if config.labels else detect_labels(train)
        if config.labels:
            check_known_labels(train, labels, "train")
        task = cls(config, labels)
        if isinstance(config.class_weights, dict):
            unknown = sorted(set(config.class_weights) - set(labels))
            if unknown:
                raise ConfigError(f"task.class_weights names labels not in the data: {unknown}; labels: {labels}")
        return task

    @classmethod
    def from_state(cls, config: TextClassificationConfig, state: dict[str, Any]) -> "TextClassificationTask":
        return cls(config, list(state["labels"]))

    def state(self) -> dict[str, Any]:
        return {"labels": self.labels, "multi_label": self.multi_label, "threshold": self.config.threshold}

    # -- model ---------------------------------------------------------------------------------
    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        return load_with_head(
            self.model_class, resolved, model_config, kind="sequence", num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)), label2id=dict(self.label2id),
            problem_type="multi_label_classification" if self.multi_label else "single_label_classification",
        )

    def head_modules(self, model: PreTrainedModel) -> list[str]:
        return head_modules(model)

    # -- data ----------------------------------------------------------------------------------
    def targets(self, examples: Sequence[Example]) -> np.ndarray:
        if self.multi_label:
            out = np.zeros((len(examples), len(self.labels)), dtype=np.int64)
            for row, ex in enumerate(examples):
                for label in ex.label or ():
                    out[row, self.label2id[label]] = 1
            return out
        return np.asarray([self.label2id[ex.label] for ex in examples], dtype=np.int64)

    def encode(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int) -> EncodedDataset:
        labelled = bool(examples) and all(ex.label is not None for ex in examples)
        labels = self.targets(examples).tolist() if labelled else None
        pairs = [ex.text_pair for ex in examples]
        encoded = encode_texts(
            tokenizer,
            [ex.text for ex in examples],
            pairs if any(p is not None for p in pairs) else None,
            max_length=max_length,
            labels=labels,
        )
        encoded.examples = list(examples)
        return encoded

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

    def loss_fn(self, train: Sequence[Example]) -> torch.nn.Module:
        weights = self.class_weights(train)
        tensor = torch.tensor(weights, dtype=torch.float32) if weights is not None else None
        if self.multi_label:
            return torch.nn.BCEWithLogitsLoss(pos_weight=tensor)
        return torch.nn.CrossEntropyLoss(weight=tensor)

    # -- outputs -------------------------------------------------------------------------------
    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(logits, dtype=np.float64)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        shifted = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=-1, keepdims=True)

    def decode(self, logits: np.ndarray) -> np.ndarray:
        if self.multi_label:
            return (self.probabilities(logits) >= self.config.threshold).astype(np.int64)
        return np.asarray(logits).argmax(axis=-1)

    def metrics(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
        return classification_metrics(y_true, y_pred, self.labels, multi_label=self.multi_label)

    # -- reading files for a trained model -----------------------------------------------------
    def read_file(
        self, path, meta: dict[str, Any], *, text_column: str | None = None, text_pair_column: str | None = None,
        label_column: str | None = None, require_labels: bool = True, header: str | bool | None = None,
    ) -> list[Example]:
        """Read with the columns (and data.header) the model was trained on unless told otherwise;
        when the file lacks them, the usual names are detected. The model's labels tell a first
        row of data from a header in a file without one."""
        cfg = meta["config"]["data"]
        trained = meta["data"]["columns"]
        explicit = {"text_column": text_column, "text_pair_column": text_pair_column, "label_column": label_column}
        options = dict(label_separator=cfg.get("label_separator", "|"), multi_label=self.multi_label,
                       encoding=cfg.get("encoding", "utf-8"), require_labels=require_labels,
                       header=cfg.get("header", "auto") if header is None else header, known_labels=set(self.labels))
        remembered = {
            "text_column": text_column or trained.get("text"),
            "text_pair_column": text_pair_column or trained.get("text_pair"),
            "label_column": label_column or (trained.get("label") if require_labels else None),
        }
        try:
            return read_examples(path, **remembered, **options).examples
        except DataError as err:
            if "column" not in err.message or all(explicit.values()):
                raise
            return read_examples(path, **explicit, **options).examples

    def check_known(self, examples: Sequence[Example], where: str) -> None:
        check_known_labels(examples, self.labels, where)

    # -- prediction ----------------------------------------------------------------------------
    @staticmethod
    def make_examples(texts, text_pairs=None, tokens=None) -> list[Example]:
        if tokens is not None:
            raise ValueError("pre-tokenised input is for token classification; pass texts")
        if texts is None:
            raise ValueError("pass the texts to classify")
        if isinstance(texts, str):
            texts = [texts]
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs")
        pairs = list(text_pairs) if text_pairs is not None else [None] * len(texts)
        return [Example(text=t, text_pair=p) for t, p in zip(texts, pairs)]

    def predictions(self, encoded: EncodedDataset, outputs: Sequence[np.ndarray]) -> list:
        if not outputs:
            return []
        decoded = self.decode(np.stack(outputs))
        if self.multi_label:
            return [[self.labels[j] for j in np.flatnonzero(row)] for row in decoded]
        return [self.labels[int(i)] for i in decoded]

    def prediction_records(self, encoded: EncodedDataset, outputs: Sequence[np.ndarray], *, top_k: int = 1) -> list[dict]:
        if not outputs:
            return []
        logits = np.stack(outputs)
        probs, decoded = self.probabilities(logits), self.decode(logits)
        records = []
        for ex, p, d in zip(encoded.examples, probs, decoded):
            record: dict[str, Any] = {"text": ex.text}
            if ex.text_pair is not None:
                record["text_pair"] = ex.text_pair
            if self.multi_label:
                record["labels"] = [self.labels[j] for j in np.flatnonzero(d)]
            else:
                record["label"] = self.labels[int(d)]
                record["score"] = float(p[int(d)])
            order = np.argsort(-p, kind="stable")[: max(1, top_k)]
            record["top"] = [{"label": self.labels[j], "score": float(p[j])} for j in order]
            records.append(record)
        return records

    def score(self, encoded: EncodedDataset, outputs: Sequence[np.ndarray]) -> dict[str, Any]:
        """Metrics of per-example logits against the encoded targets."""
        return self.metrics(np.asarray(encoded.labels), self.decode(np.stack(outputs)))
