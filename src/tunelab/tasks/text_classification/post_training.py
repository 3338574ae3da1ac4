"""What text classification fits after training (out-of-scope detection, temperature scaling) and
how its predictions, metrics and records carry it. Mixed into :class:`TextClassificationTask`.

With either switched on (single-label models), every decoded item is one row: the class
probabilities (temperature-scaled), then the out-of-scope score (NaN until fitted), then the top
probability before scaling (for ``ece_uncalibrated``). The fitted state lives in ``tunelab.json``
(``task.state``: ``temperature``, ``out_of_scope``) plus ``out_of_scope.safetensors`` for the
feature scorers; ``fit_after_training`` computes it on the saved model's dev and train outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ConfigError, TunelabError
from tunelab.tasks.base import softmax
from tunelab.tasks.text_classification.calibration import expected_calibration_error, fit_temperature, reliability
from tunelab.tasks.text_classification.features import FEATURES, attach_features
from tunelab.tasks.text_classification.oos_config import FEATURE_SCORERS
from tunelab.tasks.text_classification.out_of_scope import (
    OOS_TARGET,
    STATS_FILE,
    Scorer,
    describe,
    fit_out_of_scope,
    load_scorer,
    out_of_scope_metrics,
    sample_rows,
)


class PostTraining:
    """The fitted state and the methods of the Task contract that depend on it."""

    config: Any
    labels: list[str]
    output_names: ClassVar[tuple[str, ...]]  # set per instance: ("logits", "features") for a feature scorer
    temperature: float = 1.0
    oos_state: dict[str, Any] | None = None
    _oos_scorer: Scorer | None = None

    # -- switches and state ------------------------------------------------------------------------
    @property
    def oos_label(self) -> str | None:
        """The label of out-of-scope rows while detection is on, else None."""
        oos = self.config.out_of_scope
        return oos.label if oos.scorer != "none" else None

    @property
    def extended(self) -> bool:
        """Items carry the out-of-scope score and the unscaled confidence (see the module's docstring)."""
        cfg = self.config
        return not cfg.multi_label and (cfg.out_of_scope.scorer != "none" or cfg.calibration != "none")

    @property
    def wants_features(self) -> bool:
        scorer = self.config.out_of_scope.scorer
        if scorer == "none":
            return False
        if self.oos_state is not None:
            return self.oos_state["scorer"] in FEATURE_SCORERS
        return scorer in FEATURE_SCORERS or scorer == "auto"

    def restore_fitted(self, state: dict[str, Any]) -> None:
        """Take the fitted parts of a saved state (absent before fitting and in older artifacts)."""
        cfg = self.config
        self.temperature = float(state.get("temperature", 1.0)) if cfg.calibration == "temperature" else 1.0
        self.oos_state = state.get("out_of_scope") if cfg.out_of_scope.scorer != "none" else None
        self._oos_scorer = None
        if self.oos_state is not None and self.oos_state["scorer"] not in FEATURE_SCORERS:
            self._oos_scorer = Scorer(self.oos_state["scorer"])
        self.output_names = ("logits", FEATURES) if self.wants_features else ("logits",)  # type: ignore[misc]

    def fitted_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.config.calibration == "temperature" and self.temperature != 1.0:
            state["temperature"] = self.temperature
        if self.oos_state is not None:
            state["out_of_scope"] = self.oos_state
        return state

    def load_files(self, directory: str | Path) -> None:
        """The feature scorers' statistics, from the artifact's out_of_scope.safetensors."""
        if self.oos_state is not None and self.oos_state["scorer"] in FEATURE_SCORERS:
            self._oos_scorer = load_scorer(self.oos_state, directory)

    def task_files(self) -> list[str]:
        return [STATS_FILE] if self.oos_state is not None and self.oos_state["scorer"] in FEATURE_SCORERS else []

    def prepare_model(self, model: Any) -> Any:
        if self.wants_features:
            attach_features(model)
        return model

    def feature_sizes(self) -> dict[str, int]:
        size = (self.oos_state or {}).get("feature_size")
        return {FEATURES: int(size)} if self.wants_features and size else {}

    def post_training_lines(self) -> list[str]:
        lines = []
        if self.oos_state is not None:
            lines.append(describe(self.oos_state))
        if self.config.calibration == "temperature":
            lines.append(f"calibration: temperature {self.temperature:.4f} (fitted on the dev texts' NLL)")
        return lines

    # -- fitting ----------------------------------------------------------------------------------
    def fit_after_training(self, predictor: Any, parts: Mapping[str, Sequence[Any]], directory: Path) -> dict | None:
        """The temperature (dev NLL) and the out-of-scope scorer and threshold, from the saved
        model's outputs on dev (and the training texts' features for the feature scorers)."""
        if not self.extended:
            return None
        cfg = self.config
        dev = list(parts.get("dev") or [])
        if not dev:
            raise ConfigError("task.calibration and task.out_of_scope need dev data; none was found")
        logits, features = collect_outputs(predictor, dev)
        gold = np.asarray(self.targets(dev))  # type: ignore[attr-defined]
        inside = gold != OOS_TARGET
        state: dict[str, Any] = {}
        temperature = 1.0
        if cfg.calibration == "temperature":
            temperature = fit_temperature(logits[inside], gold[inside])
            state["temperature"] = temperature
        if cfg.out_of_scope.scorer != "none":
            train = list(parts.get("train") or [])
            train_features = train_classes = None
            if features is not None and train:
                sample = [train[i] for i in sample_rows(len(train))]
                train_features = collect_outputs(predictor, sample)[1]
                train_classes = np.asarray(self.targets(sample))  # type: ignore[attr-defined]
            oos_state, tensors = fit_out_of_scope(
                cfg.out_of_scope,
                logits=logits,
                probs=softmax(logits / temperature),
                gold=gold,
                features=features,
                train_features=train_features,
                train_classes=train_classes,
            )
            if tensors:
                from safetensors.numpy import save_file

                save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(Path(directory) / STATS_FILE))
            state["out_of_scope"] = oos_state
        return state

    # -- items ------------------------------------------------------------------------------------
    def extended_items(self, outputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        logits = np.asarray(outputs["logits"], dtype=np.float64)
        probs = softmax(logits / self.temperature)
        raw = softmax(logits).max(axis=-1) if self.temperature != 1.0 else probs.max(axis=-1)
        score = np.full(len(logits), np.nan)
        if self._oos_scorer is not None:
            features = outputs.get(FEATURES)
            if self._oos_scorer.needs_features and features is None:
                raise TunelabError(
                    f"the {self._oos_scorer.name} out-of-scope scorer needs the model's '{FEATURES}' output, which "
                    "this backend did not give; export the artifact again with this tunelab"
                )
            score = self._oos_scorer.scores(logits, probs, features)
        return list(np.concatenate([probs, score[:, None], raw[:, None]], axis=1))

    def extended_decode(self, rows: np.ndarray) -> np.ndarray:
        """Class ids; the id len(labels) for texts rejected as out-of-scope."""
        n = len(self.labels)
        ids = rows[:, :n].argmax(axis=-1)
        if self.oos_state is not None:
            ids = np.where(rows[:, n] > float(self.oos_state["threshold"]), n, ids)
        return ids

    def label_name(self, index: int) -> str:
        return self.labels[index] if 0 <= index < len(self.labels) else str(self.config.out_of_scope.label)

    def extended_records(self, encoded: EncodedDataset, items: Sequence[np.ndarray], top_k: int) -> list[dict]:
        rows = np.stack(items)
        n = len(self.labels)
        records = []
        for ex, row, decided in zip(encoded.examples, rows, self.extended_decode(rows)):
            probs = row[:n]
            record = self.base_record(ex)  # type: ignore[attr-defined]
            record["label"] = self.label_name(int(decided))
            record["score"] = float(probs.max())  # the best in-scope label's probability
            if self.oos_state is not None:
                record["out_of_scope"] = bool(decided == n)
                record["oos_score"] = float(row[n])
            order = np.argsort(-probs, kind="stable")[: max(1, top_k)]
            record["top"] = [{"label": self.labels[j], "score": float(probs[j])} for j in order]
            records.append(record)
        return records


def oos_columns(records: Sequence[dict[str, Any]]) -> tuple[list[str], Any]:
    """The CSV/table columns of out-of-scope decisions, when the records have them."""
    if not any("out_of_scope" in r for r in records):
        return [], lambda r: []
    return ["out_of_scope", "oos_score"], lambda r: [str(bool(r.get("out_of_scope"))).lower(), f"{r['oos_score']:.6f}"]


def collect_outputs(predictor: Any, examples: Sequence[Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """(logits, features or None) of ``examples`` through the predictor's backend, in input order."""
    encoded = predictor.encode(examples)
    logits: np.ndarray | None = None
    features: np.ndarray | None = None
    for indices, outputs in predictor.batches(encoded):
        if logits is None:
            logits = np.zeros((len(encoded), outputs["logits"].shape[-1]))
        logits[indices] = outputs["logits"]
        if FEATURES in outputs:
            if features is None:
                features = np.zeros((len(encoded), outputs[FEATURES].shape[-1]))
            features[indices] = outputs[FEATURES]
    return (logits if logits is not None else np.zeros((0, 0))), features


class ExtendedScorer:
    """Metrics of extended items: the ordinary ones on the in-scope rows (closed-set: the best
    in-scope label), ECE before and after calibration, and the out-of-scope metrics."""

    def __init__(self, task: Any, encoded: EncodedDataset) -> None:
        self.task, self.encoded = task, encoded
        self.rows: np.ndarray | None = None

    def add(self, indices: Sequence[int], items: Sequence[np.ndarray]) -> None:
        if not len(items):
            return
        stacked = np.stack(items)
        n = len(self.task.labels)
        compact = np.stack(
            [
                stacked[:, :n].argmax(axis=-1),
                self.task.extended_decode(stacked),
                stacked[:, n],
                stacked[:, :n].max(axis=-1),
                stacked[:, n + 1],
            ],
            axis=1,
        )
        if self.rows is None:
            self.rows = np.full((len(self.encoded), 5), np.nan)
        self.rows[list(indices)] = compact

    def result(self) -> dict[str, Any]:
        task = self.task
        n = len(task.labels)
        rows = self.rows if self.rows is not None else np.zeros((0, 5))
        gold = np.asarray(self.encoded.labels)
        closed, decided, score, conf, raw = (rows[:, i] for i in range(5))
        closed, decided = closed.astype(np.int64), decided.astype(np.int64)
        is_oos = gold == OOS_TARGET
        inside = ~is_oos
        correct = closed == gold
        metrics: dict[str, Any] = task.metrics(gold[inside], closed[inside]) if inside.any() else {"num_examples": 0}
        if inside.any():
            metrics["ece"] = expected_calibration_error(conf[inside], correct[inside])
            curves = {
                "calibrated" if task.config.calibration != "none" else "model": reliability(
                    conf[inside], correct[inside]
                )
            }
            if task.config.calibration != "none":
                metrics["ece_uncalibrated"] = expected_calibration_error(raw[inside], correct[inside])
                curves["uncalibrated"] = reliability(raw[inside], correct[inside])
            metrics["reliability"] = curves
        if task.oos_state is not None:
            metrics.update(
                out_of_scope_metrics(
                    is_oos=is_oos,
                    rejected=decided == n,
                    correct=correct,
                    scores=score,
                    threshold=float(task.oos_state["threshold"]),
                    scorer=str(task.oos_state["scorer"]),
                )
            )
        return metrics
