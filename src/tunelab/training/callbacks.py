"""Everything optional around the loop: stopping early, checkpoints, logs, the progress bar
(experiment trackers: tunelab.training.trackers).

Every process of a distributed run calls every hook at the same point with the same metrics
(gathered across processes), so decisions (stop, best step) agree; files and the console are
written by the main process only.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tunelab.files import atomic_write_bytes

if TYPE_CHECKING:
    from tunelab.training.loop import Trainer


class Callback:
    """Hooks called by the Trainer. ``trainer.state`` holds the counters; ``trainer.request_stop`` ends training."""

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None: ...

    def on_evaluate(self, trainer: Trainer, metrics: dict[str, Any], improved: bool) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


class EarlyStopping(Callback):
    """Stops after ``patience`` evaluations in a row without improvement of the chosen metric."""

    def __init__(self, patience: int) -> None:
        self.patience = patience

    def on_evaluate(self, trainer: Trainer, metrics: dict[str, Any], improved: bool) -> None:
        state = trainer.state
        state.bad_evals = 0 if improved else state.bad_evals + 1
        if state.bad_evals >= self.patience:
            trainer.request_stop(
                f"early stopping: dev {trainer.metric} did not improve for {self.patience} evaluations "
                f"(best {state.best_metric:.4f} at step {state.best_step})"
            )


class BestModel(Callback):
    """Saves the weights whenever the dev metric improves and restores the best ones at the end."""

    def on_evaluate(self, trainer: Trainer, metrics: dict[str, Any], improved: bool) -> None:
        if improved:
            trainer.save_weights(trainer.best_weights_path)

    def on_train_end(self, trainer: Trainer) -> None:
        if trainer.best_weights_path.is_file() and trainer.state.stop_reason != "interrupted":
            trainer.load_weights(trainer.best_weights_path)


class Checkpoint(Callback):
    """Saves the full training state (weights, optimizer, schedule, RNG, counters) at every
    evaluation, for resuming; the loop adds periodic ones (``training.checkpoint``)."""

    def on_evaluate(self, trainer: Trainer, metrics: dict[str, Any], improved: bool) -> None:
        trainer.save_checkpoint()


class JsonlLogger(Callback):
    """Appends one JSON record per logged step and per evaluation (survives resume: append mode)."""

    def __init__(self, path: Path, every: int) -> None:
        self.path = Path(path)
        self.every = every
        self._loss_sum = 0.0
        self._loss_n = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        """On resume, drop the records written after the checkpoint (a run killed without warning
        logged steps that will now be trained, and logged, again)."""
        step = trainer.state.global_step
        if not trainer.accelerator.is_main_process or not step or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except ValueError:  # a line cut short by the kill
                continue
        atomic_write_bytes("".join(line + "\n" for line in kept).encode("utf-8"), self.path)

    def _write(self, record: dict[str, Any], trainer: Trainer) -> None:
        if not trainer.accelerator.is_main_process:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        self._loss_sum += logs["loss"]
        self._loss_n += 1
        step = trainer.state.global_step
        if step % self.every == 0 or step == trainer.total_steps:
            self._write(
                {
                    "step": step,
                    "epoch": round(trainer.epoch_progress, 4),
                    "train_loss": self._loss_sum / self._loss_n,
                    "learning_rate": logs["learning_rate"],
                    "samples_per_second": round(trainer.samples_per_second, 2),
                    "time": time.time(),
                },
                trainer,
            )
            self._loss_sum, self._loss_n = 0.0, 0

    def on_evaluate(self, trainer: Trainer, metrics: dict[str, Any], improved: bool) -> None:
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        self._write(
            {
                "step": trainer.state.global_step,
                "epoch": round(trainer.epoch_progress, 4),
                "eval": scalars,
                "improved": improved,
                "time": time.time(),
            },
            trainer,
        )


class ProgressBar(Callback):
    """A rich progress bar with the running loss and the last dev metric; eval lines stay in the log.
    Shown by the main process only."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self._ema: float | None = None
        self._metric = "-"

    def on_train_begin(self, trainer: Trainer) -> None:
        if not trainer.accelerator.is_main_process:
            return
        self.progress = Progress(
            TextColumn("[bold]train[/] epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  dev {task.fields[metric]}  {task.fields[speed]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.progress.start()
        self.task_id = self.progress.add_task(
            "train",
            total=trainer.total_steps,
            completed=trainer.state.global_step,
            epoch=self._epoch(trainer),
            loss="-",
            metric=self._metric,
            speed="",
        )

    @staticmethod
    def _epoch(trainer: Trainer) -> str:
        total = math.ceil(trainer.config.epochs)
        return f"{min(math.floor(trainer.epoch_progress) + 1, total)}/{total}"

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        if self.progress is None:
            return
        loss = logs["loss"]
        self._ema = loss if self._ema is None else 0.9 * self._ema + 0.1 * loss
        step = trainer.state.global_step
        self.progress.update(
            self.task_id,
            completed=step,
            epoch=self._epoch(trainer),
            loss=f"{self._ema:.4f}",
            speed=f"{trainer.samples_per_second:.0f} samples/s",
        )
        # Logs and CI have no live bar: print a plain line every tenth of the run instead.
        if not self.console.is_terminal and step % max(1, trainer.total_steps // 10) == 0:
            self.console.print(
                f"step {step}/{trainer.total_steps} epoch {trainer.epoch_progress:.2f}: loss {self._ema:.4f}, "
                f"{trainer.samples_per_second:.0f} samples/s"
            )

    def on_evaluate(self, trainer: Trainer, metrics: dict[str, Any], improved: bool) -> None:
        if self.progress is None:
            return
        value = metrics.get(trainer.metric)
        self._metric = f"{trainer.metric} {value:.4f}" if isinstance(value, float) else "-"
        self.progress.update(self.task_id, metric=self._metric)
        mark = " [green](best)[/]" if improved else ""
        self.progress.console.print(
            f"step {trainer.state.global_step}/{trainer.total_steps} epoch {trainer.epoch_progress:.2f}: "
            f"dev {trainer.metric} {value:.4f}, dev loss {metrics.get('loss', float('nan')):.4f}{mark}"
        )

    def on_train_end(self, trainer: Trainer) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
