"""An exponential moving average of the trained weights (``training.ema``: its decay).

A shadow copy of every TRAINABLE parameter (the whole model in full fine-tuning, the adapters and
the head with LoRA and the other peft methods, the head when frozen) is updated after each optimizer
step, ``shadow += (1 - d) * (weights - shadow)`` with one ``torch._foreach_lerp_`` over all of them.
Evaluation, the best checkpoint's weights and the artifact use the average: the loop swaps it in
around each evaluation and weight save, and copies it into the model when training ends. The
checkpoints for resuming hold the training weights and, registered with accelerate, the shadow.

``d = min(decay, (1 + n) / (10 + n))`` after n updates: TensorFlow's ``ExponentialMovingAverage``
with ``num_updates``, so short fine-tuning runs (a few hundred steps) do not average in the
untrained head of the first steps. Written here rather than with ``torch.optim.swa_utils.AveragedModel``,
which keeps a deep copy of the whole model (frozen weights too) and averages one parameter at a time.
Cost: one copy of the trainable weights in memory, a fused lerp per step (about one AdamW update's
memory traffic), two copies per evaluation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from tunelab.errors import TunelabError


class WeightAverage:
    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.decay = float(decay)
        self.updates = 0
        with torch.no_grad():
            self.shadow = [p.detach().clone() for p in self.params]

    def describe(self) -> str:
        return f"ema({self.decay:g})"

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        if self.shadow:
            torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.current_decay())

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averaged weights in the model inside the block, the training weights again after it."""
        with torch.no_grad():
            backup = [p.detach().clone() for p in self.params]
            self.copy_to_model()
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.data for p in self.params], backup)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        if self.params:
            torch._foreach_copy_([p.data for p in self.params], self.shadow)

    def averaged(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.shadow))

    # -- accelerate's checkpointing (register_for_checkpointing) ----------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.averaged()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["shadow"]
        if list(saved) != self.names:
            raise TunelabError(
                "the checkpoint's weight average (training.ema) is of other parameters than this model trains "
                f"({len(saved)} saved, {len(self.names)} here); start over with --restart"
            )
        with torch.no_grad():
            for tensor, name in zip(self.shadow, self.names):
                tensor.copy_(saved[name])
        self.updates = int(state["updates"])
