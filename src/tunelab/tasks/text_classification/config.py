"""Text classification's config sections: ``task`` and its own data keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tunelab.config import TaskSection, TextDataConfig
from tunelab.config_base import Section
from tunelab.tasks.text_classification.oos_config import OutOfScopeConfig


class SelfTrainingConfig(Section):
    """Self-training of a zero-shot model on ``data.unlabelled`` (docs/zero-shot.md)."""

    confidence: float = Field(
        0.5, ge=0.0, lt=1.0, description="Keep an unlabelled text whose zero-shot probability is at least this."
    )
    max_per_label: int | None = Field(
        100, ge=1, description="At most this many pseudo-labelled texts per label (the most confident), for balance."
    )


class ZeroShotConfig(Section):
    """A classifier built from label names (and optional descriptions or templates) without labelled data:
    the head holds the label texts' sentence embeddings, logits = scale * cosine."""

    labels: list[str] | None = Field(None, description="The labels; else task.labels, else the dev/test files' labels.")
    descriptions: dict[str, str | list[str]] | None = Field(
        None, description="Text(s) standing for a label instead of its name; several are averaged."
    )
    template: str | list[str] = Field(
        "{label}", description="Wraps each label text, e.g. 'This text is about {label}.'; several are averaged."
    )
    clean_labels: bool = Field(
        True, description="Label names read with underscores as spaces: card_arrival -> card arrival."
    )
    scale: float = Field(20.0, gt=0.0, description="logits = scale * cosine(text, label).")
    prompt: str | None = Field(
        None,
        description="Verbaliser (decoder models): each text is wrapped in this prompt, e.g. '{text}\\nSentiment:', "
        "and a label scores as the model's next-token logit of its label word.",
    )
    label_words: dict[str, str] | None = Field(
        None, description="Verbaliser: the word that stands for each label (default: the cleaned label name)."
    )
    contextual_calibration: bool = Field(
        True,
        description="Verbaliser: subtract the log-probabilities the label words get after a content-free text "
        "('N/A', '', '[MASK]') from the logits (Zhao et al. 2021), which removes the model's prior for a word.",
    )
    self_training: SelfTrainingConfig = Field(default_factory=SelfTrainingConfig)

    @field_validator("prompt")
    @classmethod
    def _has_text(cls, value: str | None) -> str | None:
        if value is not None and "{text}" not in value:
            raise ValueError(f"prompt {value!r} has no {{text}} placeholder for the text to classify")
        return value

    @field_validator("template")
    @classmethod
    def _has_placeholder(cls, value: str | list[str]) -> str | list[str]:
        templates = [value] if isinstance(value, str) else value
        if not templates:
            raise ValueError("give at least one template, e.g. '{label}'")
        for template in templates:
            if "{label}" not in template:
                raise ValueError(f"template {template!r} has no {{label}} placeholder for the label text")
        return value

    @model_validator(mode="after")
    def _check_labels(self) -> ZeroShotConfig:
        if self.labels is not None:
            if len(set(self.labels)) != len(self.labels):
                raise ValueError(f"labels has duplicates: {self.labels}")
            unknown = sorted(set(self.descriptions or {}) - set(self.labels))
            if unknown:
                raise ValueError(f"descriptions name labels not in labels: {unknown}")
            unknown = sorted(set(self.label_words or {}) - set(self.labels))
            if unknown:
                raise ValueError(f"label_words name labels not in labels: {unknown}")
        if self.prompt is None and self.label_words:
            raise ValueError("label_words are scored after a prompt: set prompt too (e.g. '{text}\\nTopic:')")
        if self.prompt is not None and self.descriptions:
            raise ValueError("descriptions are embedded without a prompt; with a prompt give label_words instead")
        for label, word in (self.label_words or {}).items():
            if not word.strip():
                raise ValueError(f"label_words of '{label}' is empty")
        for label, texts in (self.descriptions or {}).items():
            if not (texts.strip() if isinstance(texts, str) else texts and all(t.strip() for t in texts)):
                raise ValueError(f"descriptions of '{label}' is empty")
        return self


class TextClassificationConfig(TaskSection):
    name: Literal["text_classification"] = "text_classification"
    multi_label: bool = False
    labels: list[str] | None = Field(None, description="Explicit label order; detected from train when absent.")
    class_weights: Literal["balanced"] | dict[str, float] | None = None
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="Multi-label decision threshold.")
    zero_shot: ZeroShotConfig | None = Field(
        None, description="Build the classifier from label names (no training file needed); docs/zero-shot.md."
    )
    out_of_scope: OutOfScopeConfig = Field(
        default_factory=OutOfScopeConfig, description="Out-of-scope detection; docs/out-of-scope.md."
    )
    calibration: Literal["none", "temperature"] = Field(
        "none", description="temperature: one temperature fitted on dev (single-label); docs/out-of-scope.md."
    )

    @field_validator("zero_shot", mode="before")
    @classmethod
    def _zero_shot_switch(cls, value: Any) -> Any:
        """``zero_shot: true`` is every default; ``false`` is off."""
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if isinstance(value, bool):
            return {} if value else None
        return value

    @model_validator(mode="after")
    def _check_class_weights(self) -> TextClassificationConfig:
        weights = self.class_weights
        if isinstance(weights, dict) and self.labels is not None:
            unknown = sorted(set(weights) - set(self.labels))
            if unknown:
                raise ValueError(f"task.class_weights names unknown labels {unknown}; labels are {self.labels}")
        return self

    @model_validator(mode="after")
    def _check_out_of_scope(self) -> TextClassificationConfig:
        oos = self.out_of_scope
        if self.multi_label and (oos.scorer != "none" or self.calibration != "none"):
            # a multi-label model already answers "none of the labels" (no label over task.threshold)
            raise ValueError(
                "task.out_of_scope.scorer and task.calibration are for single-label models; a multi-label "
                "model predicts no label when none passes task.threshold"
            )
        if oos.scorer != "none" and self.labels is not None and oos.label in self.labels:
            raise ValueError(f"task.out_of_scope.label '{oos.label}' is one of task.labels; it is never a class")
        return self


class TextClassificationData(TextDataConfig):
    label_separator: str = Field("|", description="Separates labels in one field for multi-label CSV/TSV.")
    unlabelled: Path | None = Field(
        None,
        description="Texts without labels for self-training a zero-shot model: a text file (one text a line) "
        "or a CSV/TSV/JSONL file with the text column.",
    )
