"""Training strategies (``training.strategy``): how a run turns the built model into a trained one.

``standard`` is the training loop on the task's loss (tunelab/training/loop.py). ``contrastive``
(contrastive.py) is SetFit's few-shot recipe: the body learns from pairs of training texts, then
the task's head is fitted on the embeddings; the loop runs afterwards only with
``training.contrastive.end_to_end``. ``auto`` picks contrastive for few examples per label.

Why 16 per label: SetFit's paper (Tunstall et al., 2022) and the issue's anchors are 8 to 16
examples per class, where contrastive training of the body clearly beats plain fine-tuning; by 64
per class the gap mostly closes, and with more data the standard loop is cheaper (its cost is linear
in the data, the pairs' in their bound) and at least as good. ``training.contrastive.auto_max_per_label``
moves the cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunelab.errors import ConfigError


@dataclass(frozen=True)
class StrategyPlan:
    """The strategy a run uses, whether ``auto`` chose it, and why (printed and recorded)."""

    name: str  # "standard" | "contrastive"
    chosen_by: str  # "auto" | "config" | "resume"
    reason: str

    def message(self) -> str:
        return f"strategy {self.name} ({self.chosen_by}): {self.reason}"

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "chosen_by": self.chosen_by, "reason": self.reason}


def choose_strategy(
    training: Any, task: Any, train: list[Any], *, processes: int = 1, recorded: str | None = None
) -> StrategyPlan:
    """``training.strategy`` resolved for this run. ``recorded``: the strategy of the interrupted run
    being resumed (its run.json; "standard" for runs that predate strategies), which ``auto`` keeps."""
    wanted = training.strategy
    support = task.contrastive()
    if wanted == "standard":
        return StrategyPlan("standard", "config", "training.strategy standard")
    if wanted == "contrastive":
        if support is None:
            raise ConfigError(
                f"training.strategy contrastive: the {task.name} task does not support contrastive few-shot "
                "training; use standard (or auto)"
            )
        if processes > 1:
            raise ConfigError(
                "training.strategy contrastive runs in one process (few-shot data is small); start it without "
                "torchrun / accelerate launch, or use standard"
            )
        return StrategyPlan("contrastive", "config", "training.strategy contrastive")
    if recorded is not None:
        return StrategyPlan(recorded, "resume", f"the interrupted run used {recorded}")
    if not train:
        return StrategyPlan("standard", "auto", "no labelled training examples")
    if support is None:
        return StrategyPlan("standard", "auto", f"this {task.name} model has no contrastive few-shot training")
    per_label = support.examples_per_label(train)
    cut = training.contrastive.auto_max_per_label
    if per_label > cut:
        return StrategyPlan("standard", "auto", f"{per_label:.3g} examples per label > {cut:g}")
    if processes > 1:
        return StrategyPlan(
            "standard", "auto", f"{per_label:.3g} examples per label, but contrastive runs in one process"
        )
    return StrategyPlan("contrastive", "auto", f"{per_label:.3g} examples per label ≤ {cut:g}")


def plan_config(config: Any, task: Any, plan: StrategyPlan) -> Any:
    """The run's config with the model section the strategy needs (the task says: contrastive
    classification trains tunelab's mean-pooled head); unchanged for the standard strategy."""
    if plan.name != "contrastive":
        return config
    model = task.contrastive().model_config(config.model)
    return config.model_copy(update={"model": model}) if model != config.model else config
