"""Dropout masks from a fast random generator on the CPU.

torch draws a CPU dropout mask one Bernoulli sample at a time from its Mersenne Twister: on short
texts the 14 dropout layers of a MiniLM step took 14% of the step (docs/performance.md). Here the
random bits come from NumPy's SFC64 (four 16-bit uniforms per 64-bit draw; with the mask built
and applied, 3.7x faster per call), seeded by one draw from torch's own generator per call: masks stay reproducible
from ``training.seed`` and a resumed run (which restores torch's RNG state) draws the same ones.
Same distribution as ``torch.nn.Dropout``: each value kept with probability 1 - p (to 1/65536),
scaled by 1 / (1 - p). GPUs and evaluation use torch's own dropout.

Attention dropout happens inside ``scaled_dot_product_attention`` (transformers' "sdpa"), which on a
CPU falls back to its math path with torch's slow masks: on 128-token texts that mask is 32 x 12 x
128 x 128 values per layer. :func:`fast_dropout` therefore also registers "tunelab_sdpa", the same
math path (scores, mask, softmax in fp32, dropout, values) with fast masks while training on a CPU,
and ``sdpa`` itself everywhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

_LEVELS = 1 << 16  # 16-bit uniform draws
# unsigned NumPy type, its signed twin and torch's signed type, by element size
_BITS: dict[int, tuple[Any, Any, torch.dtype]] = {
    2: (np.uint16, np.int16, torch.int16),
    4: (np.uint32, np.int32, torch.int32),
    8: (np.uint64, np.int64, torch.int64),
}


def keep_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """A tensor of 0 and 1 (dtype), each value 0 with probability p (to 1/65536)."""
    count = 1
    for size in shape:
        count *= int(size)
    key = int(torch.randint(0, 2**62, (1,)).item())  # from torch's generator: seeded, saved in checkpoints
    bits = np.random.SFC64(key).random_raw((count + 3) // 4)  # 64 random bits = four 16-bit uniforms
    keep = bits.view(np.uint16)[:count] >= round(p * _LEVELS)
    unsigned, signed, one = _one_bits(dtype)
    mask: Any = np.multiply(keep, one, dtype=unsigned)  # the 0/1 mask in the dtype, one NumPy pass
    return torch.from_numpy(mask.view(signed)).view(dtype).view(shape)


@functools.cache
def _one_bits(dtype: torch.dtype) -> tuple[Any, Any, Any]:
    """The NumPy unsigned and signed types of the dtype's width, and 1.0 of the dtype as raw bits."""
    width = torch.empty((), dtype=dtype).element_size()
    unsigned, signed, torch_signed = _BITS[width]
    return unsigned, signed, unsigned(int(torch.ones((), dtype=dtype).view(torch_signed).item()) % (1 << (8 * width)))


def apply_dropout(input: torch.Tensor, p: float, inplace: bool = False) -> torch.Tensor:
    """``torch.nn.functional.dropout(input, p, training=True)`` with :func:`keep_mask` masks."""
    mask = keep_mask(input.shape, p, input.dtype)
    out = input.mul_(mask) if inplace else input * mask
    return out.mul_(1.0 / (1.0 - p))  # scaled in the arithmetic of the op, as torch's dropout does


class FastDropout(torch.nn.Dropout):
    """``torch.nn.Dropout`` with masks from :func:`keep_mask` on CPU tensors while training."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or input.device.type != "cpu" or not input.is_floating_point():
            return super().forward(input)
        if self.p == 1.0:
            return input * 0.0
        return apply_dropout(input, self.p, self.inplace)


ATTENTION = "tunelab_sdpa"


def sdpa_fast_dropout(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' sdpa attention function, with :func:`keep_mask` masks on the attention
    weights when it drops anything on a CPU (the math path SDPA itself takes then)."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    plain = (
        not dropout
        or query.device.type != "cpu"
        or kwargs.get("softcap") is not None
        or kwargs.get("position_bias") is not None
        or kwargs.get("cache") is not None
    )
    if plain:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    q_length, kv_length = query.shape[2], key.shape[2]
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale
    is_causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    if attention_mask is not None:
        mask = attention_mask[..., :kv_length]
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    elif is_causal and q_length > 1:
        future = torch.ones(q_length, kv_length, dtype=torch.bool, device=query.device).triu(kv_length - q_length + 1)
        scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = apply_dropout(weights, dropout)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, None


def _register_attention() -> None:
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, AttentionInterface

    if ATTENTION not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(ATTENTION, sdpa_fast_dropout)
    if ATTENTION not in ALL_MASK_ATTENTION_FUNCTIONS:
        AttentionMaskInterface.register(ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def _sdpa_configs(model: torch.nn.Module) -> list[Any]:
    """The configs (the model's and its sub-models') whose attention is transformers' sdpa."""
    configs = {}
    for sub in model.modules():
        config = getattr(sub, "config", None)
        if config is not None and getattr(config, "_attn_implementation", None) == "sdpa":
            configs[id(config)] = config
    return list(configs.values())


@contextmanager
def fast_dropout(model: torch.nn.Module, enabled: bool = True) -> Iterator[int]:
    """Every ``torch.nn.Dropout`` of ``model`` (exactly that class) draws fast masks inside the
    block, and sdpa attention drops its weights with them; the modules get their class and the
    configs their attention back afterwards. Yields how many modules were switched."""
    switched = [m for m in model.modules() if type(m) is torch.nn.Dropout] if enabled else []
    configs = _sdpa_configs(model) if enabled else []
    if configs:
        _register_attention()
    for module in switched:
        module.__class__ = FastDropout
    for config in configs:
        config._attn_implementation = ATTENTION
    try:
        yield len(switched)
    finally:
        for module in switched:
            module.__class__ = torch.nn.Dropout
        for config in configs:
            config._attn_implementation = "sdpa"
