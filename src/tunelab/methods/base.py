"""What a training method is: which parameters train, how the result is saved and loaded back.

A method wraps the task's model after it is built. The task names its head modules and every
method trains and saves them (PEFT's most reported failure is an adapter reloaded without its
classifier). Methods that store only what they trained write ``method.json`` plus their weights
into the artifact and rebuild the base model from its reference when loading.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


class Method:
    """The default behaviour is full fine-tuning; subclasses override what differs."""

    name = "full"
    mergeable = True  # can be saved as a plain model
    stores_full_model = True  # the artifact holds the whole model (else: trained weights + base reference)

    def __init__(self, config: Any, base_path: str | None = None, task_type: str = "SEQ_CLS") -> None:
        self.config = config
        self.base_path = base_path  # the base model directory (tokenizer for prompt initialisation)
        self.task_type = task_type  # peft's TaskType name, given by the task (never guessed from a class name)
        if getattr(config, "merge", False) and not self.mergeable:
            from tunelab.errors import ConfigError

            raise ConfigError(f"method {self.name} cannot be merged into a plain model; remove method.merge")

    @property
    def merge(self) -> bool:
        return bool(getattr(self.config, "merge", False))

    def apply(self, model: torch.nn.Module, head_modules: list[str]) -> torch.nn.Module:
        """Return the model to train (parameters to train have requires_grad=True)."""
        return model

    # -- hooks called by the Trainer -----------------------------------------------------------
    def on_train_begin(self, model: torch.nn.Module, total_steps: int) -> None: ...

    def learning_rate_scale(self) -> Callable[[str], float] | None:
        """A factor on the learning rate per parameter name (e.g. LoRA+'s faster B matrices); None: one rate."""
        return None

    def regularization(self, model: torch.nn.Module) -> torch.Tensor | None:
        """An extra loss term added to every training step's loss."""
        return None

    def after_optimizer_step(self, model: torch.nn.Module, step: int) -> None:
        """Called after each optimizer step, before the gradients are cleared."""

    # -- persistence ---------------------------------------------------------------------------
    def save(self, model: torch.nn.Module, directory: Path) -> None:
        """Write the trained model into the artifact directory (tokenizer and meta are written elsewhere)."""
        model.save_pretrained(directory, safe_serialization=True)

    def load(self, base: torch.nn.Module, directory: Path) -> torch.nn.Module:
        """Given the base model with a fresh head, restore what this method trained."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "config": self.config.model_dump(mode="json")}


def parameter_counts(model: torch.nn.Module) -> dict[str, Any]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total, "share": round(trainable / total, 6) if total else 0.0}


def encoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The backbone's stack of transformer layers: the longest ModuleList inside the base model."""
    base = getattr(model, "base_model", model)
    lists = [m for m in base.modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        from tunelab.errors import ConfigError

        raise ConfigError(f"cannot find the transformer layers of {type(model).__name__}")
    return max(lists, key=len)
