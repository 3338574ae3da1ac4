"""Evaluation inside the training loop: metrics accumulated batch by batch, never every output at once.

Several processes: each runs its share of the batches; outputs, targets and item indices are
gathered with ``gather_for_metrics`` (which drops the items repeated to even out the last batches),
so every process scores the whole set and computes the same loss."""

from __future__ import annotations

from typing import Any

import torch
from accelerate import Accelerator

from tunelab.data.encoding import EncodedDataset
from tunelab.tasks.base import LossFn, Task


def inputs_of(task: Task, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: batch[name] for name in task.input_names if name in batch}


def forward(model: torch.nn.Module, task: Task, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The task's outputs of one batch, in fp32 (autocast may have computed them in bf16)."""
    return {name: value.float() for name, value in task.outputs(model(**inputs_of(task, batch))).items()}


def gather(accelerator: Accelerator, task: Task, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every process's tensors of this step; those with a sequence axis are first padded to the
    widest process's width (the task says which, and with what)."""
    if accelerator.num_processes > 1:
        tensors = {
            name: accelerator.pad_across_processes(value, dim=1, pad_index=task.sequence_keys[name])
            if name in task.sequence_keys
            else value
            for name, value in tensors.items()
        }
    return accelerator.gather_for_metrics(tensors)


@torch.inference_mode()
def evaluate_model(
    model: torch.nn.Module, task: Task, loss_fn: LossFn, loader: Any, dataset: EncodedDataset, accelerator: Accelerator
) -> dict[str, Any]:
    """The task's metrics on ``dataset`` plus ``loss``, the mean loss over its items."""
    was_training = model.training
    model.eval()
    scorer = task.scorer(dataset)
    loss_sum, count = 0.0, 0
    for batch in loader:
        outputs = forward(model, task, batch)
        targets = {name: batch[name] for name in task.target_names if name in batch}
        gathered = gather(accelerator, task, {**outputs, **targets, "index": batch["index"]})
        index = gathered["index"].tolist()
        if not index:
            continue
        if targets:
            loss = loss_fn({k: gathered[k] for k in outputs}, {k: gathered[k] for k in targets})
            loss_sum += float(loss) * len(index)
            count += len(index)
        arrays = {name: gathered[name].cpu().numpy() for name in outputs}
        scorer.add(index, task.decode_batch(dataset, index, arrays))
    model.train(was_training)
    metrics = scorer.result()
    metrics["loss"] = loss_sum / count if count else float("nan")
    return metrics


@torch.inference_mode()
def collect_outputs(
    model: torch.nn.Module, task: Task, loader: Any, dataset: EncodedDataset, accelerator: Accelerator
) -> list[dict[str, Any]]:
    """Every item's raw outputs (numpy, cut to its length), in dataset order: for inspection and
    tests on small sets; evaluation itself never holds them all (see :func:`evaluate_model`)."""
    was_training = model.training
    model.eval()
    items: list[Any] = [None] * len(dataset)
    for batch in loader:
        outputs = forward(model, task, batch)
        gathered = gather(accelerator, task, {**outputs, "index": batch["index"]})
        index = gathered["index"].tolist()
        arrays = {name: gathered[name].cpu().numpy() for name in outputs}
        for i, item in zip(index, task.unbatch(dataset, index, arrays)):
            items[i] = item
    model.train(was_training)
    return items
