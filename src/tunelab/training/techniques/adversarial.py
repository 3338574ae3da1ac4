"""Adversarial training on the input embeddings: FGM, PGD and FreeLB.

The perturbation is added to the OUTPUT of ``model.get_input_embeddings()`` by a forward hook, as a
tensor ``delta`` of the output's shape that the loss is differentiated against. So it works when the
embedding matrix is frozen (LoRA and the other peft methods, ``frozen``), with tunelab's lazy sparse
embedding gradients (training/optim.py), for encoders and decoders alike, and it never reads the
embedding weight's gradient (the usual recipes do, and break on all of these). Only the rows of real
tokens are perturbed: padding (``attention_mask == 0``) gets no perturbation.

Norms are L2. FGM and PGD normalise and bound the perturbation of the whole micro-batch (each
process's own), as the recipe their default epsilon 1.0 comes from does (it normalises the gradient
of the whole embedding matrix): one example's share is then about epsilon / sqrt(batch size).
FreeLB normalises and bounds each example's perturbation, as its reference code does. ``epsilon`` is
in the units of the embedding output: MiniLM's token vectors have norms near 1.1; Gemma scales its
embeddings by sqrt(hidden) (25.3 for gemma-3-270m), so the same epsilon is about 25 times weaker
there: scale it alike.

Several processes (DDP): every backward but the last of a batch runs under ``accelerator.no_sync``,
so the gradients are all-reduced once, summed over the passes, as the usual single-backward step.

Methods and defaults (``config_training.ADVERSARIAL_DEFAULTS``):

- **FGM** (Miyato, Dai and Goodfellow 2017, "Adversarial training methods for semi-supervised text
  classification"): one clean forward/backward, then ``delta = epsilon * g / ||g||`` and a second
  forward/backward on the perturbed input; the parameter gradients of both passes are summed, the
  recipe of the widely copied Chinese-community ``FGM`` class (epsilon 1.0 on the normalised
  gradient). Cost: 2 forward/backward passes.
- **PGD** (Madry et al. 2018): the clean pass, then ``steps`` ascent steps of size ``alpha`` along
  the normalised gradient, projected back into the ``epsilon`` ball; only the last perturbed pass
  adds parameter gradients to the clean ones (the "accumulate adversarial gradients" recipe of the
  same code: K=3, epsilon 1.0, alpha 0.3). The intermediate passes only differentiate ``delta``
  (``torch.autograd.grad``), cheaper than a full backward. ``init`` > 0 starts from a random point
  (Madry's random start); 0, the recipe's default, starts from the clean gradient. Cost: steps + 1.
- **FreeLB** (Zhu et al. 2020, ICLR; reference code github.com/zhuchen03/FreeLB): a random start of
  norm about ``init`` (uniform, scaled by 1/sqrt(tokens * hidden) per example), then ``steps``
  perturbed passes whose parameter gradients are averaged (each loss divided by ``steps``), ``delta``
  climbing by ``alpha`` along its normalised gradient between them and projected to ``epsilon``
  (0: unbounded). Defaults are the reference's fairseq-RoBERTa arguments (adv-steps 3, adv-lr 0.03,
  adv-init-mag 0.05, adv-max-norm 0). Unlike the reference code, **the clean loss is kept** in the
  objective (one more, unperturbed pass): the reference optimises the perturbed losses alone, and a
  user lost 1.1 points to that. Cost: steps + 1 passes.

Every method returns the clean task loss (what the loop logs), so its curve compares with a run
without adversarial training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tunelab.config_training import AdversarialConfig
from tunelab.errors import ConfigError

Objective = Callable[[], tuple[torch.Tensor, torch.Tensor]]  # () -> (objective to differentiate, task loss)


class EmbeddingPerturbation:
    """A forward hook adding ``delta`` to the input embedding module's output while attached.
    ``delta`` None: the next forward creates a zero perturbation that requires grad (a clean pass
    whose gradient with respect to the embeddings is then ``delta.grad``)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.delta: torch.Tensor | None = None

    @contextlib.contextmanager
    def attached(self) -> Iterator[EmbeddingPerturbation]:
        handle = self.module.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()
            self.delta = None

    def _hook(self, module: torch.nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        if self.delta is None:
            self.delta = torch.zeros_like(output, dtype=torch.float32, requires_grad=True)
        elif self.delta.shape != output.shape:
            raise RuntimeError(
                f"adversarial training: the input embeddings gave {tuple(output.shape)} where the batch's "
                f"perturbation has {tuple(self.delta.shape)} (a model that embeds its input more than once?)"
            )
        return output + self.delta.to(output.dtype)


def token_mask(batch: dict[str, torch.Tensor], shape: torch.Size) -> torch.Tensor | None:
    """(batch, tokens, 1) with 1 on real tokens, from the batch's attention mask when it fits the
    embeddings' (batch, tokens); None: every position may be perturbed."""
    mask = batch.get("attention_mask")
    if mask is None or tuple(mask.shape) != tuple(shape[:2]):
        return None
    return mask.unsqueeze(-1).to(torch.float32)


def norms(tensor: torch.Tensor, per_example: bool) -> torch.Tensor:
    """Each example's L2 norm (``per_example``) or the whole batch's, shaped to broadcast."""
    rows = tensor.reshape(tensor.shape[0], -1).float() if per_example else tensor.reshape(1, -1).float()
    return torch.linalg.vector_norm(rows, dim=1).reshape(-1, *([1] * (tensor.dim() - 1)))


def ascent(grad: torch.Tensor, mask: torch.Tensor | None, size: float, per_example: bool) -> torch.Tensor:
    """``size`` times the unit vector of ``grad`` (per example or for the batch; padding zeroed first)."""
    grad = grad.detach().float()
    if mask is not None:
        grad = grad * mask
    grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
    return size * grad / norms(grad, per_example).clamp_min(1e-12)


def project(delta: torch.Tensor, epsilon: float, per_example: bool) -> torch.Tensor:
    """``delta`` with its norm (each example's, or the batch's) cut to at most ``epsilon`` (0: unchanged)."""
    if not epsilon:
        return delta
    return delta * torch.clamp(epsilon / norms(delta, per_example).clamp_min(1e-12), max=1.0)


def random_start(shape: torch.Size, mask: torch.Tensor | None, init: float, device: torch.device) -> torch.Tensor:
    """FreeLB's start: uniform in [-1, 1] on real tokens, scaled by init / sqrt(tokens * hidden)
    per example (the reference's ``adv_init_mag / sqrt(dims)``)."""
    delta = torch.empty(shape, dtype=torch.float32, device=device).uniform_(-1.0, 1.0)
    if mask is not None:
        delta = delta * mask
        tokens = mask.reshape(shape[0], -1).sum(dim=1).clamp_min(1.0)
    else:
        tokens = torch.full((shape[0],), float(shape[1]), device=device)
    dims = tokens * (shape[-1] if len(shape) > 2 else 1)
    return delta * (init / dims.sqrt()).reshape(-1, *([1] * (len(shape) - 1)))


class Adversary:
    """One batch's forward and backward passes under an adversarial method (see the module doc).

    ``run(objective, batch, backward, last_backward, no_sync)``: ``objective()`` runs the model on
    the batch (the hook perturbs it) and returns (the loss to differentiate, the task loss);
    ``backward(loss)`` is the accelerator's; ``last_backward(loss)`` adds the method's regularisation
    and back-propagates with gradient synchronisation; ``no_sync()`` is the context for the others."""

    def __init__(self, config: AdversarialConfig, model: torch.nn.Module) -> None:
        getter = getattr(model, "get_input_embeddings", None)
        module = getter() if callable(getter) else None
        if not isinstance(module, torch.nn.Module):
            raise ConfigError(
                f"training.adversarial.name={config.name}: this model has no input embedding module "
                "(get_input_embeddings) to perturb; set training.adversarial.name=none"
            )
        self.name = config.name
        self.epsilon = float(config.epsilon or 0.0)
        self.alpha = float(config.alpha or 0.0)
        self.steps = int(config.steps or 1)
        self.init = float(config.init or 0.0)
        self.perturbation = EmbeddingPerturbation(module)
        self.last_delta: torch.Tensor | None = None  # the final perturbation of the last batch (tests, checks)

    def run(
        self,
        objective: Objective,
        batch: dict[str, torch.Tensor],
        backward: Callable[[torch.Tensor], None],
        last_backward: Callable[[torch.Tensor], None],
        no_sync: Callable[[], contextlib.AbstractContextManager],
    ) -> torch.Tensor:
        hook = self.perturbation
        with hook.attached():
            with no_sync():  # the clean pass: parameter gradients, and delta's
                total, clean = objective()
                backward(total)
            delta = hook.delta
            assert delta is not None, "the input embedding module was not called in the forward pass"
            shape, grad = delta.shape, delta.grad
            mask = token_mask(batch, shape)
            grad = torch.zeros(shape, device=delta.device) if grad is None else grad
            if self.name == "fgm":
                self._set(hook, ascent(grad, mask, self.epsilon, False), grad=False)
                last_backward(objective()[0])
            elif self.name == "pgd":
                self._pgd(hook, objective, grad, mask, last_backward, no_sync)
            else:
                self._freelb(hook, objective, mask, backward, last_backward, no_sync, shape, delta.device)
        return clean.detach()

    def _set(self, hook: EmbeddingPerturbation, delta: torch.Tensor, *, grad: bool) -> None:
        hook.delta = delta.detach().requires_grad_(grad)
        self.last_delta = hook.delta.detach()

    def _pgd(self, hook, objective, grad, mask, last_backward, no_sync) -> None:
        delta = torch.zeros_like(grad, dtype=torch.float32)
        if self.init:
            delta = project(random_start(grad.shape, mask, self.init, grad.device), self.epsilon, False)
        for step in range(self.steps):
            delta = project(delta + ascent(grad, mask, self.alpha, False), self.epsilon, False)
            if step == self.steps - 1:
                self._set(hook, delta, grad=False)
                last_backward(objective()[0])  # the clean gradients plus this pass's
            else:
                self._set(hook, delta, grad=True)
                with no_sync():
                    (grad,) = torch.autograd.grad(objective()[0], hook.delta)  # delta only, no parameters

    def _freelb(self, hook, objective, mask, backward, last_backward, no_sync, shape, device) -> None:
        delta = project(random_start(shape, mask, self.init, device), self.epsilon, True)
        for step in range(self.steps):
            last = step == self.steps - 1
            self._set(hook, delta, grad=not last)
            if last:
                last_backward(objective()[0] / self.steps)
                return
            with no_sync():
                backward(objective()[0] / self.steps)  # parameter gradients averaged over the steps
            grad = hook.delta.grad  # type: ignore[union-attr]
            grad = torch.zeros_like(delta) if grad is None else grad
            delta = project(delta + ascent(grad, mask, self.alpha, True), self.epsilon, True)
