"""The training loop: a plain PyTorch loop on `accelerate` (devices, bf16 autocast, DDP, accumulation).

The loop only trains and evaluates; stopping, checkpoints and logs are callbacks.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed
from safetensors.torch import load_model, save_model

from tunelab.config import TrainingConfig
from tunelab.data.batching import LengthBucketBatchSampler, PaddingCollator
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ConfigError
from tunelab.methods.base import Method
from tunelab.training.callbacks import Callback
from tunelab.training.optim import build_optimizer, build_scheduler, resolve_precision

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class TrainState:
    """Counters that make a run resumable; saved with every checkpoint."""

    epoch: int = 0
    global_step: int = 0
    batches_in_epoch: int = 0  # micro-batches of the current epoch consumed up to the last optimizer step
    samples_seen: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stop_reason: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def make_accelerator(precision: str, gradient_accumulation_steps: int = 1) -> Accelerator:
    # AcceleratorState is a process-wide singleton that refuses a second, different mixed-precision
    # setting; a library that trains several models in one process (tests, notebooks, search)
    # must start it afresh. The distributed PartialState is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    mixed = resolve_precision(precision)
    return Accelerator(mixed_precision=mixed, gradient_accumulation_steps=gradient_accumulation_steps)


def select_metric(task: Any, name: str | None) -> tuple[str, str]:
    """The dev metric to optimise (the task's default when not set) and whether higher is better."""
    name = name or task.default_metric
    directions = task.metric_directions
    if name not in directions:
        raise ConfigError(
            f"training.metric '{name}' is not a metric of {task.name}; choose one of {', '.join(sorted(directions))}"
        )
    return name, directions[name]


class Trainer:
    def __init__(
        self,
        *,
        model: torch.nn.Module,
        task: Any,
        loss_fn: torch.nn.Module,
        train_set: EncodedDataset,
        dev_set: EncodedDataset | None,
        collator: PaddingCollator,
        config: TrainingConfig,
        workdir: Path,
        callbacks: Sequence[Callback] = (),
        method: Method | None = None,
    ) -> None:
        self.config = config
        self.method = method or Method(None)
        self.task = task
        self.workdir = Path(workdir)
        self.callbacks = list(callbacks)
        self.state = TrainState()
        self.metric, self.direction = select_metric(task, config.metric if dev_set is not None else "loss")
        self._stop_requested: str | None = None
        self._interrupted = False
        self._start_time = time.perf_counter()
        self._start_samples = 0

        set_seed(config.seed)
        self.accelerator = make_accelerator(config.precision, config.gradient_accumulation_steps)
        self.train_sampler = LengthBucketBatchSampler(
            train_set.lengths, config.batch_size, shuffle=True, bucket=config.length_buckets, seed=config.seed
        )
        # A private generator: creating a DataLoader iterator would otherwise draw from the global
        # RNG, and a resumed run (which creates its iterator mid-epoch) would see other dropout masks.
        loader_rng = torch.Generator().manual_seed(config.seed)
        train_loader = torch.utils.data.DataLoader(
            train_set, batch_sampler=self.train_sampler, collate_fn=collator, generator=loader_rng
        )
        self.dev_set = dev_set
        dev_loader = None
        if dev_set is not None and len(dev_set):
            dev_sampler = LengthBucketBatchSampler(dev_set.lengths, config.eval_batch_size, shuffle=False)
            dev_loader = torch.utils.data.DataLoader(dev_set, batch_sampler=dev_sampler, collate_fn=collator)
        optimizer = build_optimizer(model, learning_rate=config.learning_rate, weight_decay=config.weight_decay)
        acc = self.accelerator
        self.model, self.optimizer, self.train_loader = acc.prepare(model, optimizer, train_loader)
        self.dev_loader = acc.prepare(dev_loader) if dev_loader is not None else None
        self.loss_fn = loss_fn.to(acc.device)
        # One optimizer step per `gradient_accumulation_steps` batches; accelerate also steps at the
        # end of every epoch, so a trailing partial accumulation is not lost.
        self.steps_per_epoch = max(1, math.ceil(len(self.train_loader) / config.gradient_accumulation_steps))
        self.total_steps = max(1, math.ceil(self.steps_per_epoch * config.epochs))
        # The scheduler is stepped by hand once per optimizer step, so it is not handed to prepare().
        self.scheduler = build_scheduler(self.optimizer, warmup_ratio=config.warmup_ratio, total_steps=self.total_steps)
        acc.register_for_checkpointing(self.scheduler, self.state)
        self.method.on_train_begin(acc.unwrap_model(self.model), self.total_steps)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.workdir / "checkpoints" / "last"

    @property
    def best_weights_path(self) -> Path:
        return self.workdir / "checkpoints" / "best" / "model.safetensors"

    # -- progress figures ----------------------------------------------------------------------
    @property
    def epoch_progress(self) -> float:
        return self.state.global_step / self.steps_per_epoch

    @property
    def samples_per_second(self) -> float:
        elapsed = time.perf_counter() - self._start_time
        return (self.state.samples_seen - self._start_samples) / elapsed if elapsed > 0 else 0.0

    # -- control -------------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        self._stop_requested = reason

    def _on_signal(self, signum, frame) -> None:
        if self._interrupted:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._interrupted = True
        self.request_stop("interrupted")

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    # -- persistence ---------------------------------------------------------------------------
    def save_weights(self, path: Path) -> None:
        if self.accelerator.is_main_process:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_model(self.accelerator.unwrap_model(self.model), str(path))
        self.accelerator.wait_for_everyone()

    def load_weights(self, path: Path) -> None:
        load_model(self.accelerator.unwrap_model(self.model), str(path), device=str(self.accelerator.device))

    def save_checkpoint(self) -> None:
        # accelerate writes weights, optimizer, scheduler, RNG states and our TrainState.
        self.accelerator.save_state(str(self.checkpoint_dir))

    def load_checkpoint(self, path: Path | None = None) -> None:
        self.accelerator.load_state(str(path or self.checkpoint_dir))

    # -- training ------------------------------------------------------------------------------
    def _forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch}
        return self.model(**inputs).logits

    def fit(self, resume: bool = False) -> TrainState:
        acc = self.accelerator
        if resume:
            self.load_checkpoint()
        state = self.state
        self._stop_requested = None
        self._start_samples, self._start_time = state.samples_seen, time.perf_counter()
        handler_installed = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_signal) if handler_installed else None
        self._call("on_train_begin")
        try:
            while state.global_step < self.total_steps and self._stop_requested is None:
                self._run_epoch()
        finally:
            if handler_installed:
                signal.signal(signal.SIGINT, previous)
        if self._interrupted:
            state.stop_reason = "interrupted"
            self.save_checkpoint()
        elif self._stop_requested:
            state.stop_reason = self._stop_requested
        else:
            state.stop_reason = "completed"
        self._call("on_train_end")
        acc.wait_for_everyone()
        return state

    def _run_epoch(self) -> None:
        acc, state, config = self.accelerator, self.state, self.config
        loader = self.train_loader
        if state.batches_in_epoch:
            loader = acc.skip_first_batches(self.train_loader, state.batches_in_epoch)
        # accelerate's loaders re-seed their sampler with their own iteration count when iterated;
        # after a resume that count starts at 0, so tell both the loader and the sampler the epoch.
        self.train_sampler.set_epoch(state.epoch)
        loader.set_epoch(state.epoch)
        self.model.train()
        batches = state.batches_in_epoch
        for batch in loader:
            batches += 1
            with acc.accumulate(self.model):
                loss = self.loss_fn(self._forward(batch).float(), batch["labels"])
                extra = self.method.regularization(acc.unwrap_model(self.model))
                acc.backward(loss if extra is None else loss + extra)
                if acc.sync_gradients and config.max_grad_norm:
                    acc.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
                self.optimizer.step()
                if acc.sync_gradients:  # e.g. AdaLoRA's rank allocator: needs the gradients
                    self.method.after_optimizer_step(acc.unwrap_model(self.model), state.global_step)
                self.optimizer.zero_grad(set_to_none=True)
            state.samples_seen += len(batch["labels"]) * acc.num_processes
            if not acc.sync_gradients:
                continue
            self.scheduler.step()
            state.global_step += 1
            state.batches_in_epoch = batches
            logs = {"loss": float(loss.detach()), "learning_rate": self.scheduler.get_last_lr()[0]}
            self._call("on_step_end", logs)
            end_of_epoch = batches >= len(self.train_loader)
            if end_of_epoch:
                state.epoch += 1
                state.batches_in_epoch = 0
            due = (config.eval_steps and state.global_step % config.eval_steps == 0) or (
                not config.eval_steps and end_of_epoch
            )
            if due or state.global_step >= self.total_steps:
                self.evaluate_and_notify()
            if self._stop_requested or state.global_step >= self.total_steps:
                return
        if state.batches_in_epoch:  # loader exhausted on a rank with fewer batches
            state.epoch += 1
            state.batches_in_epoch = 0

    def evaluate_and_notify(self) -> dict[str, Any]:
        state = self.state
        if state.history and state.history[-1]["step"] == state.global_step:
            return state.history[-1]["metrics"]  # already evaluated at this step
        metrics = self.evaluate() if self.dev_loader is not None else {}
        if "loss" not in metrics:
            metrics["loss"] = float("nan")
        value = metrics.get(self.metric)
        improved = False
        if value is not None and not math.isnan(value):
            best = state.best_metric
            if best is None:
                improved = True
            elif self.direction == "max":
                improved = value > best + self.config.early_stopping.min_delta
            else:
                improved = value < best - self.config.early_stopping.min_delta
        if improved:
            state.best_metric, state.best_step = float(value), state.global_step
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        state.history.append({"step": state.global_step, "epoch": round(self.epoch_progress, 4), "metrics": scalars})
        self._call("on_evaluate", metrics, improved)
        return metrics

    @torch.inference_mode()
    def predict_outputs(self, loader, dataset: EncodedDataset) -> tuple[list[np.ndarray], float]:
        """Per-item logits in dataset order (token-level ones cut to the item's length), and the
        mean loss. Works across processes: outputs are padded, gathered and put back in order."""
        acc = self.accelerator
        was_training = self.model.training
        self.model.eval()
        outputs: list[np.ndarray | None] = [None] * len(dataset)
        loss_sum, count = 0.0, 0
        for batch in loader:
            logits = self._forward(batch).float()
            if "labels" in batch:
                loss_sum += float(self.loss_fn(logits, batch["labels"])) * len(logits)
                count += len(logits)
            if logits.dim() == 3:  # token-level: widths differ between ranks
                logits = acc.pad_across_processes(logits, dim=1)
            logits, index = acc.gather_for_metrics((logits, batch["index"]))
            for row, i in zip(logits.cpu().numpy(), index.tolist()):
                outputs[i] = row[: dataset.lengths[i]] if row.ndim == 2 else row
        self.model.train(was_training)
        mean_loss = loss_sum / count if count else float("nan")
        # DDP: the loss is this rank's mean; the metrics use every rank's gathered logits.
        return outputs, mean_loss  # type: ignore[return-value]

    def evaluate(self) -> dict[str, Any]:
        assert self.dev_loader is not None and self.dev_set is not None
        outputs, loss = self.predict_outputs(self.dev_loader, self.dev_set)
        metrics = self.task.score(self.dev_set, outputs)
        metrics["loss"] = loss
        return metrics
