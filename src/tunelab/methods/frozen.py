"""Frozen backbone: only the task head (and optionally the top N layers) trains."""

from __future__ import annotations

import torch

from tunelab.methods.base import encoder_layers
from tunelab.methods.partial import PartialWeightsMethod
from tunelab.registry import METHODS


@METHODS.register("frozen")
class FrozenMethod(PartialWeightsMethod):
    name = "frozen"

    def apply(self, model: torch.nn.Module, head_modules: list[str]) -> torch.nn.Module:
        for param in model.parameters():
            param.requires_grad = False
        trained = [getattr(model, name) for name in head_modules]
        if self.config.train_top_layers:
            trained += list(encoder_layers(model))[-self.config.train_top_layers :]
        for module in trained:
            for param in module.parameters():
                param.requires_grad = True
        return model
