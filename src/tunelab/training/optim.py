"""Optimizer, schedule and numeric precision choices."""

from __future__ import annotations

import torch
from transformers import get_linear_schedule_with_warmup

from tunelab.errors import ConfigError


def build_optimizer(model: torch.nn.Module, *, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and normalisation weights (every 1-d parameter)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.dim() < 2 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=learning_rate)


def build_scheduler(optimizer: torch.optim.Optimizer, *, warmup_ratio: float, total_steps: int):
    """Linear warmup over the first share of steps, then linear decay to zero."""
    return get_linear_schedule_with_warmup(optimizer, round(total_steps * warmup_ratio), total_steps)


def cpu_supports_bf16() -> bool:
    # oneDNN reports whether the CPU has native bf16 (AVX-512 BF16 / AMX); emulated bf16 is slower than fp32.
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device | str | None = None) -> str:
    """Map the config's auto|fp32|bf16 to accelerate's mixed_precision value ('bf16' or 'no')."""
    device = (
        torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = cpu_supports_bf16()
    if precision == "fp32":
        return "no"
    if precision == "bf16":
        if not supported:
            raise ConfigError(
                f"training.precision=bf16 but this {device.type.upper()} has no native bf16 support; use auto or fp32"
            )
        return "bf16"
    return "bf16" if supported else "no"
