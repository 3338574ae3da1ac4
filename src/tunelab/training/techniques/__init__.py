"""Training techniques against overfitting and for robustness, switched on in ``training``:

- ``adversarial`` (adversarial.py): FGM, PGD, FreeLB on the input embeddings;
- ``rdrop`` (rdrop.py): R-Drop's consistency between two dropout passes;
- ``ema`` (ema.py): an exponential moving average of the weights for evaluation and the artifact;
- ``layer_decay`` (layer_decay.py, used by training/optim.py ``build_optimizer``);
- ``label_smoothing``: passed to the task's loss (``Task.loss_fn``).

:func:`build_techniques` gives the loop one :class:`Techniques`; with none of the per-step ones on,
``step`` is None and the loop runs its usual forward/loss/backward untouched (no cost per step).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from tunelab.config_training import TrainingConfig
from tunelab.training.evaluate import forward, inputs_of
from tunelab.training.techniques.adversarial import Adversary
from tunelab.training.techniques.ema import WeightAverage
from tunelab.training.techniques.rdrop import doubled, rdrop_loss

if TYPE_CHECKING:
    from tunelab.training.loop import Trainer

__all__ = ["Techniques", "build_techniques", "describe_techniques"]


def describe_techniques(config: TrainingConfig) -> str:
    """ "fgm(epsilon=1), rdrop(1), ema(0.999)": the techniques a training config switches on ("" for none)."""
    parts = []
    adv = config.adversarial
    if adv.name == "fgm":
        parts.append(f"fgm(epsilon={adv.epsilon:g})")
    elif adv.name != "none":
        parts.append(f"{adv.name}(epsilon={adv.epsilon:g}, alpha={adv.alpha:g}, steps={adv.steps}, init={adv.init:g})")
    if config.rdrop:
        parts.append(f"rdrop({config.rdrop:g})")
    if config.ema is not None:
        parts.append(f"ema({config.ema:g})")
    if config.layer_decay != 1.0:
        parts.append(f"layer_decay({config.layer_decay:g})")
    if config.label_smoothing:
        parts.append(f"label_smoothing({config.label_smoothing:g})")
    return ", ".join(parts)


class Techniques:
    """What the loop calls: ``step(batch, targets) -> loss`` (None when the plain step is used),
    ``after_optimizer_step()``, ``averaged()`` (the context that swaps the average in), ``finish()``."""

    def __init__(self, trainer: Trainer, config: TrainingConfig) -> None:
        self.trainer = trainer
        self.rdrop = float(config.rdrop)
        self.adversary = (
            Adversary(config.adversarial, trainer.bare_model) if config.adversarial.name != "none" else None
        )
        self.ema = WeightAverage(trainer.bare_model, config.ema) if config.ema is not None else None
        if self.ema is not None:
            # after the scheduler and the TrainState: their checkpoint files keep their numbers
            trainer.accelerator.register_for_checkpointing(self.ema)
        self.step = self._step if (self.adversary is not None or self.rdrop) else None
        self.after_optimizer_step = self.ema.update if self.ema is not None else None

    # -- one micro-batch ---------------------------------------------------------------------------
    def _step(self, batch: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """Forward, loss and backward of one micro-batch (inside the loop's ``accumulate``); returns
        the task loss to log (clean, unperturbed; for R-Drop the mean of the two passes)."""
        trainer = self.trainer
        acc, task, model = trainer.accelerator, trainer.task, trainer.model
        inputs = doubled(batch, task.input_names) if self.rdrop else inputs_of(task, batch)

        def objective() -> tuple[torch.Tensor, torch.Tensor]:
            outputs = forward(model, task, inputs)
            if self.rdrop:
                return rdrop_loss(task, trainer.loss_fn, outputs, targets, batch, self.rdrop)
            loss = trainer.loss_fn(outputs, targets)
            return loss, loss

        def last_backward(loss: torch.Tensor) -> None:
            extra = trainer.method.regularization(trainer.bare_model)
            acc.backward(loss if extra is None else loss + extra)

        if self.adversary is None:
            total, task_loss = objective()
            last_backward(total)
            return task_loss.detach()
        return self.adversary.run(objective, inputs, acc.backward, last_backward, lambda: acc.no_sync(model))

    # -- weights -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """The averaged weights in the model inside the block (nothing changes without ``ema``)."""
        if self.ema is None:
            yield
            return
        with self.ema.swapped_in():
            yield

    def finish(self) -> None:
        """Training is over (not interrupted): the model keeps the averaged weights."""
        if self.ema is not None:
            self.ema.copy_to_model()

    def describe(self) -> str:
        return describe_techniques(self.trainer.config)


def build_techniques(trainer: Trainer, config: Any) -> Techniques:
    return Techniques(trainer, config)
