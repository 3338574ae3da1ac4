"""Distributed training on accelerate: which processes take part, the accelerator, and batches
dealt whole to every process."""

from __future__ import annotations

import os

import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DistributedType, get_int_from_env, parse_flag_from_env

from tunelab.data.batching import LengthBucketBatchSampler
from tunelab.training.optim import resolve_precision

LAUNCHER_SIGNAL_ECHO_S = 3.0


def launched() -> bool:
    """Started by torchrun or accelerate launch (which pass signals on to their workers)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def process_state() -> PartialState:
    """accelerate's view of this process: alone, or one of several started by `torchrun` or
    `accelerate launch` (the distributed process group is set up on the first call).

    accelerate starts a CPU process group only when told to use the CPU (`accelerate launch
    --cpu`); under a plain `torchrun` on a machine without GPUs it would quietly treat every
    process as a separate single-process run, each training on all the data and writing its own
    artifact. Several launched processes and no GPU backend therefore mean CPU processes on gloo.
    """
    cpu = parse_flag_from_env("ACCELERATE_USE_CPU")
    state = PartialState(cpu=cpu)
    world = get_int_from_env(["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"], 1)
    if state.distributed_type == DistributedType.NO and world > 1 and not cpu:
        PartialState._reset_state()
        state = PartialState(cpu=True)
    return state


def make_accelerator(precision: str, gradient_accumulation_steps: int = 1) -> Accelerator:
    # AcceleratorState is a process-wide singleton that refuses a second, different mixed-precision
    # setting; a library that trains several models in one process (tests, notebooks, search)
    # must start it afresh. The distributed PartialState is kept.
    state = process_state()
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    mixed = resolve_precision(precision, state.device)
    return Accelerator(
        mixed_precision=mixed,
        gradient_accumulation_steps=gradient_accumulation_steps,
        cpu=state.distributed_type == DistributedType.MULTI_CPU,
    )


class WholeBatches(torch.utils.data.Sampler[list[int]]):
    """A batch sampler as accelerate should shard it over several processes: as whole batches of
    varying size.

    accelerate's shard of a batch sampler that has a ``batch_size`` takes every batch to be full
    except the last; the length-bucketed sampler shuffles its one short batch anywhere into the
    epoch, where the shard would silently drop it together with a neighbour, and the processes
    would run fewer steps than ``len()`` promises. Without ``batch_size`` accelerate deals whole
    batches round-robin: every process gets ``ceil(batches / processes)`` of them, the missing
    last ones taken again from the start of the epoch.
    """

    def __init__(self, batches: LengthBucketBatchSampler) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)
