"""Optimizer, gradient clipping, schedule and numeric precision choices.

Speed notes (measured in docs/performance.md, "Where the time goes"): the AdamW update is the
fused kernel wherever torch has one (CPU and CUDA); it was 41% of a MiniLM training step on short
texts as torch's default per-parameter loop. The input embedding matrix (52% of MiniLM's
parameters, 262k rows in Gemma) is updated lazily: its gradient arrives sparse (only the rows a
batch used), is clipped with the dense ones and only those rows get the AdamW update, so no step
zero-fills, norms and updates millions of untouched values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from transformers import get_linear_schedule_with_warmup

from tunelab.errors import ConfigError


class AdamW(torch.optim.AdamW):
    """torch's AdamW (the fused kernel where the parameters' device has one) that also takes sparse
    gradients: a parameter whose gradient is sparse (an ``nn.Embedding(sparse=True)``) gets the
    AdamW update on the rows in the gradient only ("lazy" Adam, as TensorFlow's LazyAdam and torch's
    SparseAdam): the moments and the weight decay of rows a batch did not use wait until a batch
    uses them. Its state has AdamW's own keys and shapes, so checkpoints load either way."""

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        sparse: list[tuple[dict, torch.nn.Parameter, torch.Tensor]] = []
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None and param.grad.is_sparse:
                    sparse.append((group, param, param.grad))
                    param.grad = None  # the dense (fused) update below skips it
        try:
            loss = super().step(closure)
        finally:
            for _, param, grad in sparse:
                param.grad = grad
        for group, param, grad in sparse:
            self._lazy_update(group, param, grad)
        return loss

    def _lazy_update(self, group: dict, param: torch.nn.Parameter, grad: torch.Tensor) -> None:
        if group.get("amsgrad") or group.get("maximize"):
            raise ValueError("sparse gradients: amsgrad and maximize are not supported")
        state = self.state[param]
        if not state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["step"] += 1
        step = float(state["step"])
        grad = grad.coalesce()
        rows, values = grad.indices()[0], grad.values().to(param.dtype)
        lr, weight_decay, eps = float(group["lr"]), group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        weights = param.index_select(0, rows)
        exp_avg = state["exp_avg"].index_select(0, rows)
        exp_avg_sq = state["exp_avg_sq"].index_select(0, rows)
        # the same arithmetic as torch.optim.AdamW (decoupled weight decay, bias correction)
        weights.mul_(1 - lr * weight_decay)
        exp_avg.lerp_(values, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(values, values, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        weights.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)
        param.index_copy_(0, rows, weights)
        state["exp_avg"].index_copy_(0, rows, exp_avg)
        state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)


def fused_available(params: list[torch.nn.Parameter]) -> bool:
    devices = {p.device.type for p in params}
    dtypes = {p.dtype for p in params}
    return devices <= {"cpu", "cuda"} and dtypes <= {torch.float32, torch.float16, torch.bfloat16, torch.float64}


def build_optimizer(
    model: torch.nn.Module,
    *,
    learning_rate: float,
    weight_decay: float,
    layer_decay: float = 1.0,
    lr_scale: Callable[[str], float] | None = None,
) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and normalisation weights (every 1-d parameter); the
    fused kernel where the device has one (the default of the Hugging Face Trainer too).
    ``layer_decay`` < 1 or ``lr_scale`` (a factor per parameter name, the method's: LoRA+): one
    group per (learning-rate factor, weight decay), the factors of training/techniques/layer_decay.py
    times ``lr_scale``'s; the groups at the full rate come first (the logged rate)."""
    if layer_decay != 1.0 or lr_scale is not None:
        return _scaled_optimizer(model, learning_rate, weight_decay, layer_decay, lr_scale)
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.dim() < 2 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = fused_available(decay + no_decay)
    return AdamW([g for g in groups if g["params"]], lr=learning_rate, fused=fused or None)


def _scaled_optimizer(
    model: torch.nn.Module,
    learning_rate: float,
    weight_decay: float,
    layer_decay: float,
    lr_scale: Callable[[str], float] | None,
) -> torch.optim.AdamW:
    from tunelab.training.techniques.layer_decay import layer_scales

    if layer_decay != 1.0:
        scales = layer_scales(model, layer_decay)
    else:
        scales = {name: 1.0 for name, param in model.named_parameters() if param.requires_grad}
    if lr_scale is not None:
        scales = {name: scale * lr_scale(name) for name, scale in scales.items()}
    grouped: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if name in scales:
            grouped.setdefault((scales[name], param.dim() >= 2), []).append(param)
    # the full rate first (the logged one), then the others from the highest; decayed before not
    ordered = sorted(grouped.items(), key=lambda item: (item[0][0] != 1.0, -item[0][0], not item[0][1]))
    groups = [
        {"params": params, "lr": learning_rate * scale, "weight_decay": weight_decay if decays else 0.0}
        for (scale, decays), params in ordered
    ]
    fused = fused_available([p for _, params in ordered for p in params])
    return AdamW(groups, lr=learning_rate, fused=fused or None)


def lazy_embeddings(model: torch.nn.Module) -> list[torch.nn.Embedding]:
    """The input embedding tables to update lazily: trained, and not tied to another parameter (a
    tied output layer makes the gradient dense anyway)."""
    getter = getattr(model, "get_input_embeddings", None)
    module = getter() if callable(getter) else None
    if not isinstance(module, torch.nn.Embedding) or not module.weight.requires_grad:
        return []
    uses = sum(1 for _, p in model.named_parameters(remove_duplicate=False) if p is module.weight)
    return [module] if uses == 1 else []


@contextmanager
def sparse_gradients(modules: list[torch.nn.Embedding]) -> Iterator[None]:
    """The embeddings give sparse gradients inside the block, dense ones again afterwards."""
    for module in modules:
        module.sparse = True
    try:
        yield
    finally:
        for module in modules:
            module.sparse = False


def clip_grad_norm(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` (L2, with foreach kernels) that also takes sparse
    gradients: they are coalesced (a row used twice in a batch counts once, summed) and their values
    join the total norm and the scaling. Returns the total norm before clipping."""
    grads = [(p, p.grad) for p in parameters if p.grad is not None]
    dense = [g for _, g in grads if not g.is_sparse]
    sparse = [p for p, g in grads if g.is_sparse]
    if not grads:
        return torch.tensor(0.0)
    norms = []
    if dense:
        norms.append(torch.nn.utils.get_total_norm(dense, 2.0, foreach=True))
    coalesced = {}
    for param in sparse:
        grad = param.grad.coalesce()  # type: ignore[union-attr]
        coalesced[param] = grad
        norms.append(torch.linalg.vector_norm(grad.values(), 2.0).to(norms[0].device if norms else grad.device))
    total = torch.linalg.vector_norm(torch.stack([n.float() for n in norms]), 2.0)
    coefficient = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    if total.device.type == "cpu" and float(coefficient) >= 1.0:
        return total  # nothing to scale; on a CPU reading the value costs no device sync
    if dense:
        torch._foreach_mul_(dense, coefficient.to(dense[0].device))
    for param, grad in coalesced.items():
        param.grad = torch.sparse_coo_tensor(
            grad.indices(),
            grad.values() * coefficient.to(grad.device),
            grad.shape,
            is_coalesced=True,
            check_invariants=False,
        )
    return total


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
