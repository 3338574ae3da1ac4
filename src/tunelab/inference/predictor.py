"""The one way a trained model is used: evaluate, predict and serve all go through the Predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tunelab.artifact import read_meta
from tunelab.config import TaskConfig
from tunelab.data.batching import LengthBucketBatchSampler, PaddingCollator
from tunelab.data.example import Example
from tunelab.tasks import task_from_state

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class Predictor:
    """scikit-learn-like access to a trained artifact: ``predict``, ``predict_proba``, ``evaluate``."""

    def __init__(self, model, tokenizer, task, meta: dict[str, Any], *, device: str | None = None, batch_size: int = 64):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.task = task
        self.meta = meta
        self.batch_size = batch_size
        self.max_length = int(meta["model"]["max_length"])
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.collator = PaddingCollator(pad, multi_label=getattr(task, "multi_label", False))

    @classmethod
    def from_artifact(cls, path: str | Path, *, device: str | None = None, batch_size: int = 64) -> "Predictor":
        path = Path(path)
        meta = read_meta(path)
        task = task_from_state(TaskConfig.model_validate(meta["task"]["config"]), meta["task"]["state"])
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
        return cls(model, tokenizer, task, meta, device=device, batch_size=batch_size)

    @property
    def labels(self) -> list[str]:
        return list(self.task.labels)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta.get("metrics") or {})

    # -- core ----------------------------------------------------------------------------------
    @torch.inference_mode()
    def logits_for(self, examples: Sequence[Example]) -> np.ndarray:
        """Raw logits in input order. Batches are formed from texts of similar length (less padding)."""
        if not examples:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        encoded = self.task.encode(self.tokenizer, examples, self.max_length)
        sampler = LengthBucketBatchSampler(encoded.lengths, self.batch_size, shuffle=False)
        out = np.zeros((len(encoded), len(self.labels)), dtype=np.float32)
        for indices in sampler:
            batch = self.collator([encoded[i] for i in indices])
            inputs = {k: batch[k].to(self.device) for k in MODEL_INPUTS if k in batch}
            out[indices] = self.model(**inputs).logits.float().cpu().numpy()
        return out

    @staticmethod
    def _examples(texts: str | Sequence[str], text_pairs: Sequence[str] | None) -> list[Example]:
        if isinstance(texts, str):
            texts = [texts]
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs")
        pairs = list(text_pairs) if text_pairs is not None else [None] * len(texts)
        return [Example(text=t, text_pair=p) for t, p in zip(texts, pairs)]

    # -- public API ----------------------------------------------------------------------------
    def predict_proba(self, texts: str | Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        """Probabilities, shape (n, len(labels)), columns in ``self.labels`` order."""
        return self.task.probabilities(self.logits_for(self._examples(texts, text_pairs)))

    def predict(self, texts: str | Sequence[str], text_pairs: Sequence[str] | None = None) -> list:
        """Label names: one per text, or a list of names per text for multi-label models."""
        decoded = self.task.decode(self.logits_for(self._examples(texts, text_pairs)))
        if getattr(self.task, "multi_label", False):
            return [[self.labels[j] for j in np.flatnonzero(row)] for row in decoded]
        return [self.labels[i] for i in decoded]

    def predict_scores(
        self, texts: str | Sequence[str], text_pairs: Sequence[str] | None = None, *, top_k: int = 1
    ) -> list[dict[str, Any]]:
        """One record per text: the predicted label(s) and the top_k labels with their probabilities."""
        examples = self._examples(texts, text_pairs)
        logits = self.logits_for(examples)
        probs = self.task.probabilities(logits)
        decoded = self.task.decode(logits)
        multi = getattr(self.task, "multi_label", False)
        records = []
        for ex, p, d in zip(examples, probs, decoded):
            order = np.argsort(-p, kind="stable")[: max(1, top_k)]
            record: dict[str, Any] = {"text": ex.text}
            if ex.text_pair is not None:
                record["text_pair"] = ex.text_pair
            if multi:
                record["labels"] = [self.labels[j] for j in np.flatnonzero(d)]
            else:
                record["label"] = self.labels[int(d)]
                record["score"] = float(p[int(d)])
            record["top"] = [{"label": self.labels[j], "score": float(p[j])} for j in order]
            records.append(record)
        return records

    def evaluate(self, examples: Sequence[Example]) -> dict[str, Any]:
        """The task's metrics on labelled examples; the same code scores training-time reports."""
        logits = self.logits_for(examples)
        return self.task.metrics(self.task.targets(examples), self.task.decode(logits))


def load(path: str | Path, *, device: str | None = None, batch_size: int = 64) -> Predictor:
    """Load a tunelab artifact directory into a Predictor."""
    return Predictor.from_artifact(path, device=device, batch_size=batch_size)
