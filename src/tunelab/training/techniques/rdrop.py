"""R-Drop (Liang et al. 2021, "R-Drop: Regularized Dropout for Neural Networks", NeurIPS).

Each batch goes through the model twice with different dropout masks, in ONE forward pass of the
batch concatenated with itself (the reference implementation's trick: the same cost as a batch twice
the size, no second call), and the loss is

    mean of the two task losses + alpha * divergence(outputs of pass 1, outputs of pass 2)

The divergence is the task's (``Task.output_divergence``): the symmetric KL of the two predicted
distributions for softmax outputs (ignoring unlabelled positions such as NER's sub-word
continuations), a per-label Bernoulli KL for multi-label classification, the squared difference for
regression. Divergences are averaged over items (the reference sums over the batch, so its alpha is
about batch-size times smaller than the same strength here). Cost: about twice the compute and
activation memory of a step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tunelab.tasks.base import LossFn, Task


def doubled(batch: dict[str, torch.Tensor], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """The model inputs of ``batch``, each concatenated with itself along the batch axis."""
    return {name: torch.cat([batch[name], batch[name]]) for name in names if name in batch}


def halves(outputs: dict[str, torch.Tensor], size: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    return {k: v[:size] for k, v in outputs.items()}, {k: v[size:] for k, v in outputs.items()}


def rdrop_loss(
    task: Task,
    loss_fn: LossFn,
    outputs: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    alpha: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the R-Drop objective, the mean task loss) of the doubled batch's outputs."""
    size = next(iter(targets.values())).shape[0] if targets else next(iter(outputs.values())).shape[0] // 2
    first, second = halves(outputs, size)
    task_loss = (loss_fn(first, targets) + loss_fn(second, targets)) / 2
    return task_loss + alpha * task.output_divergence(first, second, batch), task_loss
