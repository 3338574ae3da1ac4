"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2020), implemented here.

The maintained library (AdapterHub `adapters`) pins transformers below 5, so tunelab inserts
adapters itself: after a layer's output projection, before its residual connection and layer
norm, ``h + up(act(down(h)))`` with ``up`` initialised to zero, so training starts from the
pretrained model exactly. Pfeiffer: one adapter per layer, after the feed-forward block;
Houlsby: also after the attention block. Only adapters and the task head train.
"""

from __future__ import annotations

import torch

from tunelab.errors import ConfigError
from tunelab.methods.base import encoder_layers
from tunelab.methods.partial import PartialWeightsMethod
from tunelab.registry import METHODS

# (attention output projection, feed-forward output projection) inside one layer, per family.
_PROJECTIONS = {"distilbert": ("attention.out_lin", "ffn.lin2")}
_CANDIDATES = (
    ("attention.output.dense", "output.dense"),  # BERT, RoBERTa, ELECTRA, DeBERTa, XLM-R, MPNet, ...
    ("self_attn.o_proj", "mlp.down_proj"),  # decoders: Llama, Gemma, Qwen2, Mistral, Phi-3, ...
)
_ACTIVATIONS = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "tanh": torch.nn.Tanh}


class Bottleneck(torch.nn.Module):
    def __init__(self, size: int, reduction: int, activation: str) -> None:
        super().__init__()
        hidden = max(1, size // reduction)
        self.down = torch.nn.Linear(size, hidden)
        self.act = _ACTIVATIONS[activation]()
        self.up = torch.nn.Linear(hidden, size)
        torch.nn.init.zeros_(self.up.weight)
        torch.nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(self.act(self.down(hidden)))


class WithAdapter(torch.nn.Module):
    """A projection followed by its adapter; the projection keeps its pretrained weights."""

    def __init__(self, projection: torch.nn.Linear, adapter: Bottleneck) -> None:
        super().__init__()
        self.projection = projection
        self.adapter = adapter

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.projection(hidden))


def _replace(root: torch.nn.Module, dotted: str, make) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, make(getattr(parent, child)))


def _layout(layer: torch.nn.Module) -> tuple[str, str]:
    """The first known (attention, feed-forward) projection pair the layer has; the first pair
    otherwise, so the error below names what was looked for."""
    names = {name for name, _ in layer.named_modules()}
    for pair in _CANDIDATES:
        if all(place in names for place in pair):
            return pair
    return _CANDIDATES[0]


@METHODS.register("adapter")
class AdapterMethod(PartialWeightsMethod):
    name = "adapter"
    mergeable = False

    def apply(self, model: torch.nn.Module, head_modules: list[str]) -> torch.nn.Module:
        model_type = getattr(model.config, "model_type", "")
        layers = encoder_layers(model)
        attention, feed_forward = _PROJECTIONS.get(model_type) or _layout(layers[0])
        places = [feed_forward] + ([attention] if self.config.style == "houlsby" else [])
        for param in model.parameters():
            param.requires_grad = False
        for layer in layers:
            for place in places:
                try:
                    projection = layer.get_submodule(place)
                except AttributeError:
                    raise ConfigError(
                        f"method adapter does not know where to insert adapters in a {model_type} layer "
                        f"(looked for '{place}'); use lora or another peft method for this architecture"
                    ) from None
                if isinstance(projection, WithAdapter):
                    continue
                adapter = Bottleneck(projection.out_features, self.config.reduction_factor, self.config.non_linearity)
                _replace(layer, place, lambda proj, a=adapter: WithAdapter(proj, a))
        for name in head_modules:
            for param in getattr(model, name).parameters():
                param.requires_grad = True
        return model
