"""Few-shot contrastive training of a text classifier (``training.strategy: contrastive``).

The task-independent driver (tunelab/training/strategies/contrastive.py) samples the pairs and
trains; this module says what is particular to classification (``ContrastiveSupport``):

- a positive pair is two texts of one label (multi-label: sharing a label), a negative pair two
  texts with no label in common;
- the model is tunelab's generic sequence head on mean-pooled, L2-normalised features (the way
  sentence-transformers models such as all-MiniLM-L6-v2 are pooled), so the contrastive stage, the
  logistic regression and the saved artifact all read the same vector;
- the head is scikit-learn's ``LogisticRegression`` fitted on those vectors (SetFit's default head),
  one per label for multi-label data, its coefficients copied into the linear classifier: the
  artifact is an ordinary one (Predictor, evaluate, serve, ONNX export) whose softmax (or sigmoid)
  is exactly ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from tunelab.config import ModelConfig
from tunelab.errors import ConfigError, TunelabError
from tunelab.models.heads import HEAD_KEY, TunelabForSequenceClassification
from tunelab.tasks.text_classification.head_c import choose_c

# The logit of a label the logistic regression never saw (no training text has it; multi-label: a
# label no text lacks gets the opposite): its probability is 0 (1) to float precision.
UNSEEN_LOGIT = 1e4
LR_MAX_ITER = 1000  # lbfgs converges on normalised embeddings well before; sklearn's 100 can warn


def fit_logistic(
    features: np.ndarray,
    label_sets: Sequence[tuple[int, ...]],
    num_labels: int,
    *,
    multi_label: bool,
    c: float = 1.0,
    class_weight: Any = None,
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """A linear layer ``(weight (num_labels, dim), bias (num_labels,))`` whose softmax (multi-label:
    sigmoid per label) equals the fitted logistic regressions' ``predict_proba``, and the fitted
    estimators (None where a label could not be fitted). ``class_weight``: "balanced", a dict
    {label id: weight} or None, as task.class_weights gives it."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(features, dtype=np.float64)
    weight = np.zeros((num_labels, x.shape[1]), dtype=np.float64)
    bias = np.zeros(num_labels, dtype=np.float64)
    estimators: list[Any] = []
    if multi_label:
        for label in range(num_labels):
            y = np.asarray([int(label in s) for s in label_sets])
            if y.min() == y.max():  # every text has it, or none: nothing to separate
                bias[label] = UNSEEN_LOGIT if y[0] else -UNSEEN_LOGIT
                estimators.append(None)
                continue
            weights = class_weight if class_weight in (None, "balanced") else {0: 1.0, 1: class_weight.get(label, 1.0)}
            lr = LogisticRegression(C=c, max_iter=LR_MAX_ITER, class_weight=weights).fit(x, y)
            weight[label], bias[label] = lr.coef_[0], lr.intercept_[0]
            estimators.append(lr)
        return weight, bias, estimators
    y = np.asarray([s[0] for s in label_sets])
    present = np.unique(y)
    bias[:] = -UNSEEN_LOGIT
    if len(present) == 1:  # one label in the training data: it is always the answer
        bias[present[0]] = 0.0
        return weight, bias, [None]
    if isinstance(class_weight, dict):
        class_weight = {int(k): v for k, v in class_weight.items() if k in set(present.tolist())}
    lr = LogisticRegression(C=c, max_iter=LR_MAX_ITER, class_weight=class_weight).fit(x, y)
    classes = lr.classes_.astype(int)
    if len(classes) == 2:  # sklearn keeps one row: p(second) = sigmoid(z) = softmax([0, z])[1]
        bias[classes[0]] = 0.0
        weight[classes[1]], bias[classes[1]] = lr.coef_[0], lr.intercept_[0]
    else:
        weight[classes], bias[classes] = lr.coef_, lr.intercept_
    return weight, bias, [lr]


class ClassificationContrastive:
    """Text classification's answers to the contrastive driver (see the module docstring)."""

    def __init__(self, task: Any) -> None:
        self.task = task

    # -- the data -------------------------------------------------------------------------------
    def label_sets(self, examples: Sequence[Any]) -> list[tuple[int, ...]]:
        """Each example's label ids; two texts are a positive pair when their sets meet. A
        multi-label text without labels gets the empty set (positive only with other such texts)."""
        ids = self.task.label2id
        if self.task.multi_label:
            return [tuple(sorted(ids[label] for label in (ex.label or ()))) for ex in examples]
        return [(ids[str(ex.label)],) for ex in examples]

    def examples_per_label(self, examples: Sequence[Any]) -> float:
        """Training examples per label on average (multi-label: label occurrences per label)."""
        return sum(len(s) for s in self.label_sets(examples)) / max(1, len(self.task.labels))

    # -- the model ------------------------------------------------------------------------------
    def model_config(self, model_config: ModelConfig) -> ModelConfig:
        """tunelab's generic head (mean pooling unless model.pooling says otherwise): the vector the
        contrastive loss shapes is the one the classifier reads, in torch and in ONNX."""
        if model_config.head == "transformers":
            raise ConfigError(
                "training.strategy contrastive fits tunelab's generic head on pooled, normalised embeddings; "
                "set model.head to auto or tunelab (or use training.strategy standard)"
            )
        update: dict[str, Any] = {"head": "tunelab"}
        if model_config.pooling == "auto":
            update["pooling"] = "mean"
        return model_config.model_copy(update=update)

    @staticmethod
    def head_model(model: nn.Module) -> TunelabForSequenceClassification:
        for module in model.modules():  # the model itself, or inside a peft wrapper
            if isinstance(module, TunelabForSequenceClassification):
                return module
        raise TunelabError(
            f"training.strategy contrastive needs tunelab's sequence head, but the model is a {type(model).__name__}"
        )

    def prepare(self, model: nn.Module) -> None:
        """The head normalises its pooled vector (saved in config.json: the artifact does too)."""
        head = self.head_model(model)
        setattr(head.config, HEAD_KEY, {**head.head_config, "normalize": True})
        self.task.normalized_head = True

    def trainable_body(self, model: nn.Module) -> list[nn.Parameter]:
        """What stage 1 trains: every parameter the method left trainable, except the head's."""
        head = self.head_model(model)
        head_ids = {
            id(p) for name, child in head.named_children() if name != head.base_model_prefix for p in child.parameters()
        }
        return [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]

    def embed(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(batch, hidden) float32 unit vectors: exactly what the classifier reads (pooled and
        normalised by the head), captured at the head's dropout, through whatever the method wraps
        around the model (LoRA, prompt tokens); differentiable. Not sentence.py's ``pooled``, which
        reads the bare body: prompt-tuning methods add tokens only the full forward sees."""
        head = self.head_model(model)
        captured: list[torch.Tensor] = []
        handle = head.dropout.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
        try:
            model(**{name: batch[name] for name in self.task.input_names if name in batch})
        finally:
            handle.remove()
        return nn.functional.normalize(captured[-1].float(), p=2.0, dim=-1)

    def fit_head(
        self, model: nn.Module, features: np.ndarray, examples: Sequence[Any], *, c: float | str, seed: int = 0
    ) -> dict[str, Any]:
        """Fit the logistic regression(s) on the training texts' features and copy them into the
        classifier (every copy peft keeps of it); returns what the run records. ``c`` "auto": chosen
        by cross-validation on these features (head_c.py)."""
        label_sets = self.label_sets(examples)

        def fit(x: np.ndarray, sets: Sequence[tuple[int, ...]], *, c: float) -> tuple[np.ndarray, np.ndarray, list]:
            return fit_logistic(
                x,
                sets,
                len(self.task.labels),
                multi_label=self.task.multi_label,
                c=c,
                class_weight=self._class_weight(),
            )

        cv: dict[str, float] = {}
        if c == "auto":
            c, cv = choose_c(fit, features, label_sets, multi_label=self.task.multi_label, seed=seed)
        weight, bias, estimators = fit(features, label_sets, c=float(c))
        head = self.head_model(model)
        copied = 0
        with torch.no_grad():
            for module in head.classifier.modules():
                if isinstance(module, nn.Linear) and tuple(module.weight.shape) == weight.shape:
                    module.weight.copy_(torch.as_tensor(weight, dtype=module.weight.dtype))
                    module.bias.copy_(torch.as_tensor(bias, dtype=module.bias.dtype))
                    copied += 1
        if not copied:
            raise TunelabError(f"no linear classifier of shape {weight.shape} in the model's head")
        logits = np.asarray(features, dtype=np.float64) @ weight.T + bias
        if self.task.multi_label:
            gold = np.zeros_like(logits, dtype=bool)
            for row, s in enumerate(label_sets):
                gold[row, list(s)] = True
            accuracy = float(((logits > 0) == gold).all(axis=1).mean())
        else:
            accuracy = float((logits.argmax(axis=1) == np.asarray([s[0] for s in label_sets])).mean())
        return {
            "head": "logistic",
            "c": c,
            **({"c_cross_validated": cv} if cv else {}),
            "fitted": sum(e is not None for e in estimators),
            "train_accuracy": round(accuracy, 4),
        }

    def _class_weight(self) -> Any:
        """task.class_weights as scikit-learn's class_weight: "balanced", or {label id: weight}."""
        setting = self.task.config.class_weights
        if isinstance(setting, dict):
            return {self.task.label2id[label]: float(w) for label, w in setting.items()}
        return setting
