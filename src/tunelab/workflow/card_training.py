"""The model card's training section: how the model was made (or that it was built untrained)."""

from __future__ import annotations

import math
from typing import Any

from tunelab.artifact import ArtifactMeta

_PRECISIONS = {"no": "fp32"}  # accelerate's name for no mixed precision


def figure(value: Any) -> str:
    """A metric as the text shows it: 4 decimals; ints (counts) as they are."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def _figure_g(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def untrained(meta: ArtifactMeta) -> bool:
    """Built and saved without an optimizer step (e.g. a zero-shot head from label texts)."""
    return not meta.training.get("steps") and str(meta.training.get("stop_reason", "")).startswith("not trained")


def _strategy_line(training: dict[str, Any]) -> list[str]:
    strategy = training.get("strategy") or {}
    if strategy.get("name") in (None, "standard"):
        return []
    head = (strategy.get("head") or {}).get("head")
    return [
        f"- strategy: {strategy['name']} ({strategy.get('chosen_by')}: {strategy.get('reason')})"
        + (f"; head: {head}" if head else "")
    ]


def recipe(meta: ArtifactMeta) -> str:
    training, config = meta.training, meta.config.get("training") or {}
    if untrained(meta):
        why = str(training.get("stop_reason")).removeprefix("not trained").lstrip(": ")
        return (
            f"## Training\n\nNot trained ({why}): the model is used as built, "
            f"inputs cut at {meta.model.max_length} tokens.\n"
        )
    method, params = meta.method, meta.method.parameters
    options = ", ".join(f"{k}={v}" for k, v in method.config.items() if k != "name" and v is not None)
    best = training.get("best_dev_metric") or {}
    best_value = best.get("value")
    best_line = (
        f"best dev {best.get('name')} {figure(best_value)} at step {training.get('best_step')}"
        if isinstance(best_value, (int, float))
        else "no dev evaluation: the last step was kept"
    )
    accumulation = config.get("gradient_accumulation_steps") or 1
    batch = f"{config.get('batch_size')}" + (f" × {accumulation} accumulated" if accumulation > 1 else "")
    precision = _PRECISIONS.get(str(training.get("precision")), training.get("precision"))
    steps = f"{training.get('steps')} of {training.get('total_steps')} optimizer steps"
    lines = [
        *_strategy_line(training),
        f"- method: `{method.name}`" + (f" ({options})" if options else ""),
        f"  - {params.get('trainable', 0):,} of {params.get('total', 0):,} parameters trained "
        f"({100 * params.get('share', 0):.2f}%)",
        f"- epochs: {_figure_g(config.get('epochs'))} configured, {_figure_g(training.get('epochs_completed'))} "
        "completed "
        f"({steps}; stopped: {training.get('stop_reason')})",
        f"- {best_line}",
        f"- batch size {batch}, learning rate {method.config.get('learning_rate') or config.get('learning_rate')}, "
        f"warmup ratio {config.get('warmup_ratio')}, weight decay {config.get('weight_decay')}, "
        f"gradient clipping {config.get('max_grad_norm')}",
        f"- precision {precision}, seed {config.get('seed')}, inputs cut at {meta.model.max_length} tokens",
        f"- time: {_duration(training.get('seconds'))} on {training.get('device')} "
        f"({training.get('samples_per_second')} samples/s)",
    ]
    versions = ", ".join(f"{k} {v}" for k, v in meta.versions.items() if k in ("tunelab", "transformers", "torch"))
    return (
        "## Training\n\n" + "\n".join(lines) + "\n\n"
        f"The whole configuration, the data fingerprints and the library versions ({versions}) are in `tunelab.json`.\n"
    )
