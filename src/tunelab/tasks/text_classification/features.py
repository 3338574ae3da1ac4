"""The pooled features a classifier's head reads, returned by the same forward pass as its logits.

The feature scorers of out-of-scope detection (Mahalanobis, kNN) need, for every text, the vector
the classifier's last linear layer takes: BERT's pooler output, RoBERTa's dense + tanh, DistilBERT's
pre-classifier, tunelab's generic head's pooled states (the "penultimate layer" of Lee et al. 2018
and Sun et al. 2022). Every architecture computes it its own way, so it is read where it is used:
a forward pre-hook on that linear layer keeps its input, and a forward hook on the model puts it
into the model's output as ``features`` (``model_output.features``), which ``Task.outputs`` picks.
The hooks run under ``torch.onnx.export``'s tracing too, so the exported graph has a ``features``
output and the torch and ONNX backends give the same numbers. Heads that apply the classifier to
every token (decoders' sequence classifiers) give token features; they are pooled at the last
token the attention mask keeps, the token whose logits the model returns.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

FEATURES = "features"
_HOOKS = "_tunelab_feature_hooks"


def transformers_model(model: nn.Module) -> nn.Module | None:
    """The transformers model inside ``model`` (a peft wrapper's inner model), or None."""
    from transformers import PreTrainedModel

    return next((m for m in model.modules() if isinstance(m, PreTrainedModel)), None)


def classifier_layer(model: nn.Module) -> nn.Linear | None:
    """The head's last linear layer (adapters' own layers skipped; peft's trained copy of a head
    comes after the original, so it is the one found)."""
    prefix = getattr(model, "base_model_prefix", "")
    last = None
    for name, module in model.named_modules():
        if not name or name.split(".")[0] == prefix or "lora_" in name:
            continue
        if isinstance(module, nn.Linear):
            last = module
    return last


def detach_features(model: nn.Module) -> None:
    hf = transformers_model(model)
    for handle in getattr(hf, _HOOKS, None) or []:
        handle.remove()
    if hf is not None:
        setattr(hf, _HOOKS, [])


def attach_features(model: nn.Module) -> bool:
    """Make ``model(...)`` return ``features`` too; False (and nothing changed) when it has no
    transformers model with a linear classifier. Calling it again replaces the earlier hooks."""
    from transformers.utils import ModelOutput

    from tunelab.models.heads import pool

    hf = transformers_model(model)
    layer = classifier_layer(hf) if hf is not None else None
    if hf is None or layer is None:
        return False
    detach_features(model)
    kept: dict[str, Any] = {}

    def start(module: nn.Module, args: tuple, kwargs: dict) -> None:
        kept.clear()
        kept["mask"] = kwargs.get("attention_mask")

    def grab(module: nn.Module, args: tuple) -> None:
        kept["x"] = args[0]

    def add(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        x, mask = kept.pop("x", None), kept.pop("mask", None)
        if x is None or not isinstance(output, ModelOutput):
            return output
        if x.dim() == 3:
            usable = isinstance(mask, torch.Tensor) and tuple(mask.shape) == tuple(x.shape[:2])
            x = pool(x, mask if usable else None, "last")
        output[FEATURES] = x
        return output

    setattr(
        hf,
        _HOOKS,
        [
            hf.register_forward_pre_hook(start, with_kwargs=True),
            layer.register_forward_pre_hook(grab),
            hf.register_forward_hook(add, with_kwargs=True),
        ],
    )
    return True
