"""Augmentation and perturbation of whole example lists: the defaults the tasks use for examples
with ``text``/``text_pair`` fields, and the one call `tunelab train` makes on its training split."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from tunelab.augment.augmenter import TEXT_OPS, Augmented, Augmenter
from tunelab.augment.text import detect_language
from tunelab.errors import ConfigError

TEXT_FIELDS = ("text", "text_pair")


def augment_texts(
    examples: Sequence[Any], augmenter: Augmenter, fields: Sequence[str] = TEXT_FIELDS
) -> list[Augmented]:
    """Each op and copy of each example (a dataclass) with its text fields changed, everything
    else (label, source, line) kept; copies equal to the example or to an earlier copy, or whose
    text became empty, are left out."""
    if augmenter.span_ops:
        raise ConfigError(
            f"augment.ops: {', '.join(augmenter.span_ops)} need entity tags (token classification); "
            f"this task takes {', '.join(TEXT_OPS)}"
        )
    out: list[Augmented] = []
    for index, example in enumerate(examples):
        original = tuple(getattr(example, f, None) for f in fields)
        seen = {original}
        for op, rng in augmenter.draws(index):
            changes = {
                f: augmenter.apply_text(op, value, rng)
                for f, value in zip(fields, original)
                if isinstance(value, str) and value.strip()
            }
            key = tuple(changes.get(f, value) for f, value in zip(fields, original))
            if key in seen or any(not value.strip() for value in changes.values()):
                continue
            seen.add(key)
            out.append(Augmented(op, dataclasses.replace(example, **changes)))
    return out


def perturb_texts(examples: Sequence[Any], augmenter: Augmenter, fields: Sequence[str] = TEXT_FIELDS) -> list[Any]:
    """Each example with every op of ``augmenter`` applied in turn to its text fields (labels kept)."""
    out = []
    for index, example in enumerate(examples):
        rng = augmenter.rng(index, "perturb", *augmenter.ops)
        changes = {
            f: augmenter.perturb_text(value, rng)
            for f in fields
            if isinstance(value := getattr(example, f, None), str) and value.strip()
        }
        out.append(dataclasses.replace(example, **changes) if changes else example)
    return out


def example_texts(examples: Sequence[Any]) -> list[str]:
    """The texts of examples of any task (``text``, ``text_pair``, or ``tokens``): for language detection."""
    texts = []
    for example in examples:
        text = getattr(example, "text", None)
        if text is None:
            text = " ".join(getattr(example, "tokens", ()) or ())
        pair = getattr(example, "text_pair", None)
        texts.append(text if pair is None else f"{text} {pair}")
    return texts


def resolve_language(language: str, examples: Sequence[Any]) -> str:
    """``auto``: ``zh`` when the examples are mostly Chinese, else ``en``."""
    return detect_language(example_texts(examples)) if language == "auto" else language


def augment_training(
    task: Any, parts: dict[str, Sequence[Any]], config: Any, seed: int, log: Callable[[str], Any] | None = None
) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """The splits to encode: ``train`` with the augmented copies of ``config`` (the ``augment:``
    section) after the originals, dev and test as they are; and how many each op added (said
    through ``log``). Nothing changes without ops."""
    train = list(parts.get("train") or ())
    if not config.ops or not train:
        return {name: list(examples or ()) for name, examples in parts.items()}, {}
    augmenter = Augmenter(
        config.ops, p=config.p, copies=config.copies, language=resolve_language(config.language, train), seed=seed
    )
    augmenter.prepare()
    added = task.augment(train, augmenter)
    found = Counter(item.op for item in added)
    counts = {op: found.get(op, 0) for op in augmenter.ops}
    if log is not None:
        log(describe_counts(counts) + (f", language {augmenter.language}" if config.language == "auto" else ""))
    inputs = {name: list(examples or ()) for name, examples in parts.items()}
    inputs["train"] = train + [item.example for item in added]
    return inputs, counts


def describe_counts(counts: dict[str, int]) -> str:
    """``augment: +1,540 examples (eda 770, typos 770)``."""
    parts = ", ".join(f"{op} {n:,}" for op, n in counts.items())
    return f"augment: +{sum(counts.values()):,} examples ({parts})"


def perturbation_augmenter(names: Sequence[str], *, p: float, seed: int, language: str) -> Augmenter:
    """The augmenter that perturbs evaluation texts with ``names`` (each, or all together)."""
    return Augmenter(names, p=p, copies=1, language=language, seed=seed)
