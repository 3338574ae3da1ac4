"""Zero-shot text classification: a classifier built from label names, and self-training it.

The head is tunelab's generic sequence head on the backbone, pooled the way the model is meant to
be pooled (a sentence-transformers model's own ``1_Pooling`` setting, else mean pooling), with the
pooled vector L2-normalised (``normalize`` in the head config) and a linear layer whose rows are
the labels' unit sentence embeddings times ``task.zero_shot.scale``: logits = scale * cosine. A
label's embedding is the normalised mean of the normalised embeddings of its texts: every template
applied to every description (or to the cleaned label name). The result is an ordinary artifact:
the same Predictor, evaluate, predict, serve and ONNX export, and it can be fine-tuned further.

Self-training (``data.unlabelled``): the zero-shot model labels the unlabelled texts, the ones it
gives at least ``self_training.confidence`` probability are kept (the most confident
``max_per_label`` of each label, for balance) and the run fine-tunes on them with the training
section as usual, starting from the zero-shot head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from tunelab.config import ModelConfig
from tunelab.data.example import Example
from tunelab.data.loading import pii_masker, read_examples
from tunelab.data.readers import SUFFIXES, read_text
from tunelab.errors import ConfigError, DataError
from tunelab.models.heads import HEAD_KEY
from tunelab.models.resolve import ResolvedModel
from tunelab.tasks.backbone import effective_max_length, ensure_padding
from tunelab.tasks.base import softmax
from tunelab.tasks.text_classification import verbaliser
from tunelab.tasks.text_classification.config import TextClassificationConfig, ZeroShotConfig
from tunelab.tasks.text_classification.labels import check_known_labels, detect_labels, format_labels
from tunelab.tasks.text_classification.sentence import embed_texts, sentence_pooling

EMBED_BATCH = 64  # label texts and unlabelled texts per forward pass


def label_name(label: str, clean: bool = True) -> str:
    """The text a label's name stands for: ``card_arrival`` -> ``card arrival`` (underscores read
    as spaces, runs of white space collapsed) when ``clean``; else the name as written."""
    if not clean:
        return label
    return " ".join(label.replace("_", " ").split()) or label


def label_texts(zero_shot: ZeroShotConfig, labels: Sequence[str]) -> dict[str, list[str]]:
    """Each label's texts: every template applied to each of its descriptions, or to its name."""
    descriptions = zero_shot.descriptions or {}
    unknown = sorted(set(descriptions) - set(labels))
    if unknown:
        raise ConfigError(
            f"task.zero_shot.descriptions names labels the model does not have: {unknown}; "
            f"labels: {format_labels(list(labels))}"
        )
    templates = [zero_shot.template] if isinstance(zero_shot.template, str) else list(zero_shot.template)
    texts: dict[str, list[str]] = {}
    for label in labels:
        given = descriptions.get(label)
        names = [given] if isinstance(given, str) else list(given or [label_name(label, zero_shot.clean_labels)])
        texts[label] = [template.replace("{label}", name.strip()) for template in templates for name in names]
    return texts


def _out_of_scope_label(config: TextClassificationConfig) -> str | None:
    """The label that marks out-of-scope rows of dev/test files when out-of-scope detection is on
    (task.out_of_scope): it is never a class."""
    section = getattr(config, "out_of_scope", None)
    if section is None or getattr(section, "scorer", "none") == "none":
        return None
    return getattr(section, "label", None)


def zero_shot_task(cls: Any, config: TextClassificationConfig, splits: Any) -> Any:
    """The task of a zero-shot run: its labels (see :func:`choose_labels`), checked against every split."""
    if config.multi_label:
        raise ConfigError("task.zero_shot builds single-label classifiers; set task.multi_label: false")
    labels, source = choose_labels(config, splits)
    if splits.train:
        check_known_labels(splits.train, labels, "train")
    check_evaluation_labels(config, splits, labels)
    task = cls(config, labels, pairs=any(ex.text_pair is not None for ex in splits.train))
    task.zero_shot = {"labels_from": source}
    return task


def self_training_examples(
    task: Any, model: Any, tokenizer: Any, data_config: Any, max_length: int, log: Callable[[str], None]
) -> list[Example]:
    """data.unlabelled read and pseudo-labelled by the zero-shot model; the counts go to the task state."""
    path = Path(data_config.unlabelled)
    texts = read_unlabelled(path, data_config)
    examples, facts = pseudo_label(model, task, tokenizer, texts, task.config.zero_shot, max_length, log)
    task.self_training = {**facts, "file": path.name}
    return examples


def summary_note(task: Any) -> str:
    """What the model card's summary adds for a zero-shot or self-trained model."""
    note = ""
    if task.zero_shot:
        source = task.zero_shot.get("labels_from")
        how = "label words after a prompt" if task.zero_shot.get("mode") == "verbaliser" else "the label texts"
        note += f"; zero-shot head from {how}" + (f" (labels from {source})" if source else "")
    if task.self_training:
        note += f", self-trained on {task.self_training.get('kept', 0)} pseudo-labelled texts"
    return note


def choose_labels(config: TextClassificationConfig, splits: Any) -> tuple[list[str], str]:
    """The zero-shot classifier's labels and where they come from: task.zero_shot.labels, else
    task.labels, else the training file's, else the dev/test files' labels."""
    zero_shot = config.zero_shot
    assert zero_shot is not None
    if zero_shot.labels and config.labels and list(zero_shot.labels) != list(config.labels):
        raise ConfigError("task.zero_shot.labels and task.labels differ; give the labels once (task.zero_shot.labels)")
    if zero_shot.labels:
        return list(zero_shot.labels), "task.zero_shot.labels"
    if config.labels:
        return list(config.labels), "task.labels"
    if splits.train:
        return detect_labels(splits.train), "the training file"
    outside = _out_of_scope_label(config)
    evaluated = [ex for ex in list(splits.dev) + list(splits.test) if ex.label != outside]
    labels = detect_labels(evaluated)
    if not labels:
        raise ConfigError(
            "task.zero_shot has no labels to classify into: set task.zero_shot.labels (or task.labels), "
            "or give data.dev / data.test files with labelled rows"
        )
    names = [name for name in ("dev", "test") if getattr(splits, name)]
    return labels, "the " + " and ".join(names) + (" files" if len(names) > 1 else " file")


def check_evaluation_labels(config: TextClassificationConfig, splits: Any, labels: Sequence[str]) -> None:
    """Every label of the dev/test rows must be a label of the zero-shot model (out-of-scope rows aside)."""
    known = set(labels) | ({_out_of_scope_label(config)} - {None})
    for name in ("dev", "test"):
        for ex in getattr(splits, name):
            if ex.text_pair is not None:
                raise DataError(
                    "a zero-shot classifier reads single texts, not text pairs", ex.source, ex.line, "text_pair"
                )
            if ex.label is not None and ex.label not in known:
                raise DataError(
                    f"label '{ex.label}' of {name} is not one of the zero-shot labels ({format_labels(list(labels))})",
                    ex.source,
                    ex.line,
                    splits.label_column or "label",
                )


def zero_shot_model_config(
    resolved: ResolvedModel, model_config: ModelConfig, zero_shot: ZeroShotConfig
) -> ModelConfig:
    """tunelab's head (the only one that normalises its pooled vector), pooled as the model is
    meant to be: model.pooling when set, else the sentence-transformers setting, else mean; with a
    prompt, the verbaliser's (verbaliser.py)."""
    if zero_shot.prompt is not None:
        return verbaliser.verbaliser_model_config(resolved, model_config)
    if model_config.head == "transformers":
        raise ConfigError("task.zero_shot needs tunelab's generic head; set model.head to auto or tunelab")
    pooling: str = model_config.pooling
    if pooling == "auto":
        pooling = sentence_pooling(resolved.path) or "mean"
    return model_config.model_copy(update={"head": "tunelab", "pooling": pooling})


def init_zero_shot_head(
    model: Any,
    resolved: ResolvedModel,
    labels: Sequence[str],
    zero_shot: ZeroShotConfig,
    max_length: int,
) -> dict[str, Any]:
    """Write scale * (the labels' unit embeddings) into the classifier, switch on the head's
    normalisation, and return what was done (for the artifact's task state); with a prompt, the
    label words' language-model rows instead (verbaliser.py)."""
    if zero_shot.prompt is not None:
        names = [label_name(label, zero_shot.clean_labels) for label in labels]
        return verbaliser.init_verbaliser_head(model, resolved, labels, zero_shot, names)
    tokenizer = AutoTokenizer.from_pretrained(
        resolved.path, local_files_only=resolved.local_files_only, revision=resolved.revision
    )
    ensure_padding(tokenizer)
    texts = label_texts(zero_shot, labels)
    flat = [text for label in labels for text in texts[label]]
    pooling = model.pooling  # type: ignore[attr-defined]
    embedded = embed_texts(
        model,
        tokenizer,
        flat,
        batch_size=EMBED_BATCH,
        max_length=effective_max_length(tokenizer, max_length),
        pooling=pooling,
    ).astype(np.float64)
    rows, start = [], 0
    for label in labels:
        mean = embedded[start : start + len(texts[label])].mean(axis=0)
        start += len(texts[label])
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    weight = zero_shot.scale * np.stack(rows)
    classifier = model.classifier  # type: ignore[attr-defined]
    with torch.no_grad():
        classifier.weight.copy_(torch.as_tensor(weight, dtype=classifier.weight.dtype))
        classifier.bias.zero_()
    setattr(model.config, HEAD_KEY, {**getattr(model.config, HEAD_KEY), "normalize": True})
    return {"pooling": pooling, "scale": zero_shot.scale, "texts": texts}


# -- self-training ---------------------------------------------------------------------------------
def read_unlabelled(path: Path, data_config: Any) -> list[Example]:
    """The texts of ``data.unlabelled``: a CSV/TSV/JSONL file (its text column; labels, if any,
    ignored) or any other file read as one text a line (blank lines skipped)."""
    masker = pii_masker(data_config.mask_pii)
    if data_config.format != "auto" or path.suffix.lower() in SUFFIXES:
        loaded = read_examples(
            path,
            format=data_config.format,
            text_column=data_config.text_column,
            require_labels=False,
            encoding=data_config.encoding,
            header=data_config.header,
            delimiter=data_config.delimiter,
            split="unlabelled",
        )
        examples = [Example(text=ex.text, source=ex.source, line=ex.line) for ex in loaded.examples]
    else:
        lines = read_text(path, data_config.encoding, "unlabelled").splitlines()
        examples = [Example(text=line, source=str(path), line=n) for n, line in enumerate(lines, 1) if line.strip()]
    if not examples:
        raise DataError("data.unlabelled holds no texts", path)
    if masker is not None:
        examples = [Example(text=masker(ex.text), source=ex.source, line=ex.line) for ex in examples]
    return examples


def classify(
    model: torch.nn.Module, task: Any, tokenizer: Any, examples: Sequence[Example], max_length: int
) -> np.ndarray:
    """(len(examples), labels) softmax probabilities of the model as it is (no gradients, eval
    mode), on the texts encoded as the task encodes them (a verbaliser's prompt included)."""
    encoded = task.encode(tokenizer, examples, max_length)
    collate = task.collator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=encoded.lengths.__getitem__)  # similar lengths together
    out = np.zeros((len(encoded), len(task.labels)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), EMBED_BATCH):
                rows = order[start : start + EMBED_BATCH]
                batch = collate([encoded[i] for i in rows])
                inputs = {k: v.to(device) for k, v in batch.items() if k in task.input_names}
                out[rows] = softmax(model(**inputs).logits.float().cpu().numpy())
    finally:
        model.train(was_training)
    return out


def pseudo_label(
    model: torch.nn.Module,
    task: Any,
    tokenizer: Any,
    unlabelled: Sequence[Example],
    zero_shot: ZeroShotConfig,
    max_length: int,
    log: Callable[[str], None],
) -> tuple[list[Example], dict[str, Any]]:
    """The unlabelled texts the model labels with at least the configured confidence, at most
    ``max_per_label`` per label (its most confident), in file order; and the counts."""
    settings, labels = zero_shot.self_training, task.labels
    probs = classify(model, task, tokenizer, unlabelled, max_length)
    predicted, confidence = probs.argmax(axis=1), probs.max(axis=1)
    kept: list[int] = []
    per_label: dict[str, int] = {}
    for j, label in enumerate(labels):
        chosen = np.flatnonzero((predicted == j) & (confidence >= settings.confidence))
        chosen = chosen[np.argsort(-confidence[chosen], kind="stable")][: settings.max_per_label]
        kept.extend(int(i) for i in chosen)
        per_label[label] = len(chosen)
    kept.sort()
    examples = [
        Example(
            text=unlabelled[i].text, label=labels[predicted[i]], source=unlabelled[i].source, line=unlabelled[i].line
        )
        for i in kept
    ]
    above = int((confidence >= settings.confidence).sum())
    missing = [label for label, n in per_label.items() if n == 0]
    log(
        f"self-training: {len(examples)} of {len(unlabelled)} unlabelled texts pseudo-labelled "
        f"({above} at confidence >= {settings.confidence:g}, at most {settings.max_per_label} per label)"
        + (f"; no text for {len(missing)} labels: {format_labels(missing, 5)}" if missing else "")
    )
    facts = {
        "texts": len(unlabelled),
        "confident": above,
        "kept": len(examples),
        "per_label": per_label,
        "confidence": settings.confidence,
        "max_per_label": settings.max_per_label,
        "median_confidence": round(float(np.median(confidence)), 4),
    }
    return examples, facts
