"""The training loop: a plain PyTorch loop on `accelerate` (devices, bf16 autocast, DDP, accumulation).

The loop only trains and evaluates; stopping, checkpoints and logs are callbacks.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import DistributedType, set_seed
from safetensors.torch import load_model, save_model

from tunelab.config import TrainingConfig
from tunelab.data.batching import LengthBucketBatchSampler
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ConfigError, TunelabError
from tunelab.methods.base import Method
from tunelab.tasks.base import LossFn, Task
from tunelab.training import checkpoints
from tunelab.training.callbacks import Callback
from tunelab.training.distributed import LAUNCHER_SIGNAL_ECHO_S, WholeBatches, launched, make_accelerator
from tunelab.training.dropout import fast_dropout
from tunelab.training.evaluate import collect_outputs, evaluate_model, forward
from tunelab.training.optim import (
    build_optimizer,
    build_scheduler,
    clip_grad_norm,
    lazy_embeddings,
    sparse_gradients,
)
from tunelab.training.techniques import build_techniques


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
    resumed: list[dict[str, Any]] = field(default_factory=list)  # where each resume started, and what changed

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


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
        task: Task,
        loss_fn: LossFn,
        train_set: EncodedDataset,
        dev_set: EncodedDataset | None,
        collator: Any,
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
        self._stop_requested: str | None = None  # asked for on this process (callback or Ctrl-C)
        self._interrupted = False
        self._interrupted_at = 0.0
        self._stop: str | None = None  # the stop every process agreed on (see _agree_to_stop)
        self.interrupt_signal: str | None = None  # SIGINT or SIGTERM, when one stopped the run
        self._checkpoint_requested = False
        self._last_checkpoint_step: int | None = None
        self._last_checkpoint_time = time.monotonic()
        self.restored_from: checkpoints.CheckpointInfo | None = None
        self._start_time = time.perf_counter()
        self._start_samples = 0
        self._pending_samples = 0

        set_seed(config.seed)
        self.accelerator = make_accelerator(config.precision, config.gradient_accumulation_steps)
        self.train_sampler = LengthBucketBatchSampler(
            train_set.lengths, config.batch_size, shuffle=True, bucket=config.length_buckets, seed=config.seed
        )
        # A private generator: creating a DataLoader iterator would otherwise draw from the global
        # RNG, and a resumed run (which creates its iterator mid-epoch) would see other dropout masks.
        loader_rng = torch.Generator().manual_seed(config.seed)
        acc = self.accelerator
        # Several processes: every one draws the same (seed, epoch) batch order and takes its own
        # share of the batches (accelerate.prepare below), so each trains on different data.
        batches = WholeBatches(self.train_sampler) if acc.num_processes > 1 else self.train_sampler
        train_loader = torch.utils.data.DataLoader(
            train_set, batch_sampler=batches, collate_fn=collator, generator=loader_rng
        )
        self.dev_set = dev_set
        dev_loader = None
        if dev_set is not None and len(dev_set):
            dev_sampler = LengthBucketBatchSampler(dev_set.lengths, config.eval_batch_size, shuffle=False)
            dev_loader = torch.utils.data.DataLoader(dev_set, batch_sampler=dev_sampler, collate_fn=collator)
        # Lazy embedding updates need sparse gradients, which DDP would all-reduce row by row: one process only.
        self.sparse_embeddings = lazy_embeddings(model) if config.lazy_embeddings and acc.num_processes == 1 else []
        optimizer = build_optimizer(
            model,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            layer_decay=config.layer_decay,
            lr_scale=self.method.learning_rate_scale(),
        )
        self.model, self.optimizer, self.train_loader = acc.prepare(model, optimizer, train_loader)
        self.dev_loader = acc.prepare(dev_loader) if dev_loader is not None else None
        self.loss_fn = loss_fn.to(acc.device) if isinstance(loss_fn, torch.nn.Module) else loss_fn
        # One optimizer step per `gradient_accumulation_steps` batches; accelerate also steps at the
        # end of every epoch, so a trailing partial accumulation is not lost. `len(train_loader)` is
        # this process's share of the batches, the same on every process.
        self.steps_per_epoch = max(1, math.ceil(len(self.train_loader) / config.gradient_accumulation_steps))
        self.total_steps = max(1, math.ceil(self.steps_per_epoch * config.epochs))
        # The scheduler is stepped by hand once per optimizer step, so it is not handed to prepare().
        self.scheduler = build_scheduler(self.optimizer, warmup_ratio=config.warmup_ratio, total_steps=self.total_steps)
        acc.register_for_checkpointing(self.scheduler, self.state)
        # unwrapped once: accelerate's unwrap_model walks every module (2 ms a step on MiniLM)
        self.bare_model = acc.unwrap_model(self.model)
        self.method.on_train_begin(self.bare_model, self.total_steps)
        # training.adversarial, rdrop, ema (training/techniques): with none on, the step below is the plain one
        self.techniques = build_techniques(self, config)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def checkpoint_root(self) -> Path:
        return self.workdir / "checkpoints"

    @property
    def best_weights_path(self) -> Path:
        return self.workdir / "checkpoints" / "best" / "model.safetensors"

    # -- progress figures ----------------------------------------------------------------------
    @property
    def epoch_progress(self) -> float:
        return self.state.global_step / self.steps_per_epoch

    @property
    def samples_this_run(self) -> int:
        """Samples trained since :meth:`fit` started (a resumed run's earlier ones not counted)."""
        return self.state.samples_seen - self._start_samples

    @property
    def samples_per_second(self) -> float:
        elapsed = time.perf_counter() - self._start_time
        return self.samples_this_run / elapsed if elapsed > 0 else 0.0

    # -- control -------------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Ask to stop after the current optimizer step (every process stops there, see _agree_to_stop)."""
        self._stop_requested = reason

    def _on_signal(self, signum, frame) -> None:
        if self._interrupted:
            # torchrun and accelerate launch pass a Ctrl-C on to their workers, which also got it
            # from the terminal: a copy within seconds is the same Ctrl-C, not a second one.
            if launched() and time.monotonic() - self._interrupted_at < LAUNCHER_SIGNAL_ECHO_S:
                return
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self._interrupted, self._interrupted_at = True, time.monotonic()
        self.interrupt_signal = signal.Signals(signum).name
        self.request_stop("interrupted")

    def _checkpoint_due(self) -> bool:
        """A periodic checkpoint is due at this step (``training.checkpoint``: every N steps or M minutes)."""
        every = self.config.checkpoint
        if every.every_steps and self.state.global_step % every.every_steps == 0:
            return True
        minutes = every.every_minutes
        return bool(minutes) and time.monotonic() - self._last_checkpoint_time >= 60.0 * minutes  # type: ignore[operator]

    def _agree_to_stop(self) -> bool:
        """Whether to stop now, and (``_checkpoint_requested``) whether to checkpoint first. Every
        process must leave the loop at the same optimizer step (a process that stops alone leaves
        the others waiting for its gradients forever), and a Ctrl-C, a SIGTERM, a callback or a
        clock reaches the processes at different moments; so they compare notes here, once per
        optimizer step, and a stop (or checkpoint) asked for by any one of them is done by all.
        Only the agreed values decide anything."""
        requested, interrupted = self._stop_requested is not None, self._interrupted
        checkpoint = self._checkpoint_due()
        if self.accelerator.num_processes > 1:
            flags = torch.tensor([int(requested), int(interrupted), int(checkpoint)], device=self.accelerator.device)
            flags = self.accelerator.reduce(flags, reduction="sum")
            requested, interrupted, checkpoint = (bool(flags[i].item()) for i in range(3))
        self._checkpoint_requested = checkpoint
        if interrupted:
            self._stop = "interrupted"
        elif requested:
            self._stop = self._stop_requested or "stopped by another process"
        return self._stop is not None

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    # -- persistence ---------------------------------------------------------------------------
    def save_weights(self, path: Path) -> None:
        """The model's weights, written to a temporary file and renamed (a kill mid-write keeps the old file)."""
        if self.accelerator.is_main_process:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            with self.techniques.averaged():  # training.ema: the best weights are the averaged ones
                save_model(self.accelerator.unwrap_model(self.model), str(tmp))
            tmp.replace(path)
        self.accelerator.wait_for_everyone()

    def load_weights(self, path: Path) -> None:
        device = self.accelerator.device  # CPU processes have devices "cpu:0", "cpu:1": safetensors wants "cpu"
        device_name = "cpu" if device.type == "cpu" else str(device)
        load_model(self.accelerator.unwrap_model(self.model), str(path), device=device_name)

    def save_checkpoint(self) -> Path | None:
        """The whole training state at this step (once per step), in a new checkpoint directory
        that appears complete or not at all; only the newest ``training.checkpoint.keep`` stay."""
        step = self.state.global_step
        if self._last_checkpoint_step == step:
            return None
        acc = self.accelerator
        root = self.checkpoint_root
        tmp = checkpoints.temporary_dir(root, step)
        if acc.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        acc.wait_for_everyone()
        # accelerate writes weights, optimizer, scheduler and our TrainState from the main process,
        # and every process's RNG states. Nobody goes on (or exits) until all of it is written.
        acc.save_state(str(tmp))
        acc.wait_for_everyone()
        final = root / checkpoints.checkpoint_name(step)
        if acc.is_main_process:
            info = {
                "step": step,
                "total_steps": self.total_steps,
                "epoch": round(self.epoch_progress, 4),
                "best_metric": self.state.best_metric,
                "best_step": self.state.best_step,
                "metric": self.metric,
                "time": time.time(),
            }
            final = checkpoints.finish(root, step, info, keep=self.config.checkpoint.keep)
        acc.wait_for_everyone()
        self._last_checkpoint_step, self._last_checkpoint_time = step, time.monotonic()
        return final

    def restore(self) -> checkpoints.CheckpointInfo:
        """Load the newest complete checkpoint; one that cannot be read (damaged by hand, a disk
        error) is skipped for the one before it. Raises when there is none to load."""
        found = checkpoints.complete_checkpoints(self.checkpoint_root)
        if not found:
            raise CheckpointError(
                f"nothing to resume: {self.workdir} holds no complete checkpoint (the run stopped before its "
                "first one); run the command again without --resume"
            )
        problems = []
        for candidate in reversed(found):
            try:
                self.accelerator.load_state(str(candidate.path))
            except Exception as err:  # a damaged checkpoint: try the one before
                problems.append(f"{candidate.path.name}: {type(err).__name__}: {err}")
                continue
            self.restored_from = candidate
            self._last_checkpoint_step = self.state.global_step
            return candidate
        raise CheckpointError(f"no checkpoint in {self.checkpoint_root} can be loaded: " + "; ".join(problems))

    # -- training ------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainState:
        """Train to the end, a stop or an interruption. ``resume``: continue from the newest
        checkpoint (already done when :meth:`restore` was called first)."""
        acc = self.accelerator
        if resume and self.restored_from is None:
            self.restore()
        state = self.state
        self._stop_requested, self._interrupted, self._stop = None, False, None
        self._start_samples, self._start_time = state.samples_seen, time.perf_counter()
        self._pending_samples = 0
        self._last_checkpoint_time = time.monotonic()
        # SIGINT (Ctrl-C) and SIGTERM (schedulers, `docker stop`, `kill`) both end the run at the
        # next optimizer step with a checkpoint; the handlers can only be set on the main thread.
        handled = (signal.SIGINT, signal.SIGTERM)
        handler_installed = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled} if handler_installed else {}
        self._call("on_train_begin")
        # While fit() trains (the model is the usual one afterwards): sparse embedding gradients and
        # fast CPU dropout masks (training/optim.py and training/dropout.py say why).
        with contextlib.ExitStack() as during:
            during.enter_context(sparse_gradients(self.sparse_embeddings))
            if self.config.fast_dropout and acc.device.type == "cpu":
                during.enter_context(fast_dropout(self.bare_model))
            try:
                while state.global_step < self.total_steps and self._stop is None:
                    self._run_epoch()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        # Decided on the agreed stop, not on this process's flags: a Ctrl-C that arrived after the
        # last agreement is ignored everywhere rather than checkpointed on one process only.
        if self._stop == "interrupted":
            state.stop_reason = "interrupted"
            self.save_checkpoint()
        elif self._stop:
            state.stop_reason = self._stop
        else:
            state.stop_reason = "completed"
        if state.stop_reason != "interrupted":
            self.techniques.finish()  # training.ema: the model keeps the average (unless the best weights follow)
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
                targets = {name: batch[name] for name in self.task.target_names}
                if self.techniques.step is not None:  # forward(s), loss and backward(s) of the techniques
                    loss = self.techniques.step(batch, targets)
                else:
                    loss = self.loss_fn(forward(self.model, self.task, batch), targets)
                    extra = self.method.regularization(self.bare_model)
                    acc.backward(loss if extra is None else loss + extra)
                if acc.sync_gradients and config.max_grad_norm:
                    self._clip(config.max_grad_norm)
                self.optimizer.step()
                if acc.sync_gradients:  # e.g. AdaLoRA's rank allocator: needs the gradients
                    self.method.after_optimizer_step(self.bare_model, state.global_step)
                    if self.techniques.after_optimizer_step is not None:  # the weight average
                        self.techniques.after_optimizer_step()
                self.optimizer.zero_grad(set_to_none=True)
            self._pending_samples += len(batch["index"])
            if not acc.sync_gradients:
                continue
            self.scheduler.step()
            state.global_step += 1
            state.batches_in_epoch = batches
            loss_value = self._sync_step_figures(loss)
            logs = {"loss": loss_value, "learning_rate": self.scheduler.get_last_lr()[0]}
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
            stop = self._agree_to_stop()
            if self._checkpoint_requested and not stop and state.global_step < self.total_steps:
                self.save_checkpoint()  # periodic; a stop saves its own below, the end needs none
            if stop or state.global_step >= self.total_steps:
                return
        if state.batches_in_epoch:  # loader exhausted on a rank with fewer batches
            state.epoch += 1
            state.batches_in_epoch = 0

    def _clip(self, max_norm: float) -> None:
        acc = self.accelerator
        if acc.distributed_type in (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
            acc.unscale_gradients()  # what accelerate's clip_grad_norm_ does there, then torch's clip
            clip_grad_norm(self.model.parameters(), max_norm)  # foreach kernels, sparse gradients too
        else:  # FSDP, DeepSpeed, XLA clip their own way
            acc.clip_grad_norm_(self.model.parameters(), max_norm)

    def _sync_step_figures(self, loss: torch.Tensor) -> float:
        """The loss to log (the mean over processes of their last micro-batch's loss) and the
        samples every process has trained on since the last optimizer step, added to
        ``samples_seen``: the same figures on every process."""
        acc = self.accelerator
        if acc.num_processes == 1:
            self.state.samples_seen += self._pending_samples
            self._pending_samples = 0
            return float(loss.detach())
        figures = torch.stack([loss.detach().float(), torch.tensor(float(self._pending_samples), device=loss.device)])
        figures = acc.reduce(figures, reduction="sum")
        self.state.samples_seen += int(round(figures[1].item()))
        self._pending_samples = 0
        return figures[0].item() / acc.num_processes

    def evaluate_and_notify(self) -> dict[str, Any]:
        state = self.state
        if state.history and state.history[-1]["step"] == state.global_step:
            return state.history[-1]["metrics"]  # already evaluated at this step
        with self.techniques.averaged():  # training.ema: evaluate the averaged weights
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
            state.best_metric, state.best_step = float(value), state.global_step  # type: ignore[arg-type]
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        state.history.append({"step": state.global_step, "epoch": round(self.epoch_progress, 4), "metrics": scalars})
        self._call("on_evaluate", metrics, improved)
        return metrics

    def evaluate(self) -> dict[str, Any]:
        assert self.dev_loader is not None and self.dev_set is not None
        return evaluate_model(self.model, self.task, self.loss_fn, self.dev_loader, self.dev_set, self.accelerator)

    def raw_outputs(self, loader: Any, dataset: EncodedDataset) -> list[dict[str, Any]]:
        """Each item's raw model outputs (numpy), for inspection on small sets."""
        return collect_outputs(self.model, self.task, loader, dataset, self.accelerator)


class CheckpointError(TunelabError):
    """No checkpoint to resume from, or none that loads."""
