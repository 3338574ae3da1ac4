"""Text classification, single-label (softmax) and multi-label (sigmoid), on a sequence-classification head."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from tunelab.config import ModelConfig, TaskConfig
from tunelab.data.encoding import EncodedDataset, encode_texts
from tunelab.data.example import Example
from tunelab.data.labels import check_known_labels, detect_labels
from tunelab.errors import ConfigError
from tunelab.evaluation.classification import classification_metrics
from tunelab.models.resolve import ResolvedModel
from tunelab.registry import TASKS

# Config attributes that hold dropout rates, across the common encoder families.
_DROPOUT_ATTRS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout", "hidden_dropout")


@TASKS.register("text_classification")
class TextClassificationTask:
    name = "text_classification"

    def __init__(self, config: TaskConfig, labels: list[str]) -> None:
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

    @classmethod
    def from_examples(cls, config: TaskConfig, train: Sequence[Example]) -> "TextClassificationTask":
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
    def from_state(cls, config: TaskConfig, state: dict[str, Any]) -> "TextClassificationTask":
        return cls(config, list(state["labels"]))

    def state(self) -> dict[str, Any]:
        return {"labels": self.labels, "multi_label": self.multi_label, "threshold": self.config.threshold}

    # -- model ---------------------------------------------------------------------------------
    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        hub_kwargs = {"local_files_only": resolved.local_files_only, "revision": resolved.revision}
        config = AutoConfig.from_pretrained(
            resolved.path,
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id=dict(self.label2id),
            problem_type="multi_label_classification" if self.multi_label else "single_label_classification",
            **hub_kwargs,
        )
        if model_config.dropout is not None:
            for attr in _DROPOUT_ATTRS:
                if isinstance(getattr(config, attr, None), float):
                    setattr(config, attr, model_config.dropout)
        if model_config.classifier_dropout is not None:
            config.classifier_dropout = model_config.classifier_dropout
        # The base checkpoint has no classifier, so transformers reports it as newly initialised;
        # that is the point of fine-tuning, not something to warn the user about.
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            return AutoModelForSequenceClassification.from_pretrained(resolved.path, config=config, **hub_kwargs)
        finally:
            hf_logging.set_verbosity(verbosity)

    def head_modules(self, model: PreTrainedModel) -> list[str]:
        # Everything at the top level that is not the backbone is head (classifier, pre_classifier,
        # score, ...): read from the model's structure, never guessed from parameter names.
        return [name for name, _ in model.named_children() if name != model.base_model_prefix]

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
        return encode_texts(
            tokenizer,
            [ex.text for ex in examples],
            pairs if any(p is not None for p in pairs) else None,
            max_length=max_length,
            labels=labels,
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
