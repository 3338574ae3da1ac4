"""Layer-wise learning-rate decay (``training.layer_decay``; Howard and Ruder 2018's discriminative
fine-tuning, in the form of ELECTRA, BEiT and timm's ``param_groups_layer_decay``).

With L numbered layers, a parameter in layer i (0-based) trains at ``lr * decay**(L - i)``, the
embeddings and everything before the first layer at ``lr * decay**(L + 1)``, and the head and
everything after the last layer (pooler, final norm, classifier, peft's prompt encoders) at ``lr``.
Layers are found by their names: ``layer.N.`` (BERT, MiniLM), ``layers.N.`` (Llama, Gemma),
``h.N.`` (GPT-2), ``block.N.``/``blocks.N.`` (T5, ViT); the outermost match counts (T5's
``block.3.layer.1`` is block 3). Parameters before the first layer, in the model's own order, are
the embeddings. Frozen parameters count for L but get no group. Cost: none per step.
"""

from __future__ import annotations

import re

import torch

from tunelab.errors import ConfigError

LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


def layer_scales(model: torch.nn.Module, decay: float) -> dict[str, float]:
    """The learning-rate factor of every trainable parameter, by name."""
    named = list(model.named_parameters())
    index: dict[str, int | None] = {}
    for name, _ in named:
        found = LAYER.search(name)
        index[name] = int(found.group(1)) if found else None
    layered = [i for i in index.values() if i is not None]
    if not layered:
        raise ConfigError(
            "training.layer_decay: found no numbered layers (layer.N, layers.N, h.N, block.N) in the model's "
            "parameter names; set training.layer_decay=1.0"
        )
    count = max(layered) + 1
    scales: dict[str, float] = {}
    seen_layer = False
    for name, param in named:
        i = index[name]
        seen_layer = seen_layer or i is not None
        if i is not None:
            depth = i + 1
        else:
            depth = count + 1 if seen_layer else 0  # after the last layer: the head; before: embeddings
        if param.requires_grad:
            scales[name] = float(decay ** (count + 1 - depth))
    return scales
