"""Contrastive few-shot training (``training.strategy: contrastive``), SetFit's two stages, for any
task whose ``contrastive()`` says how (tunelab/training/strategies/base.py):

1. the body: pairs of training texts drawn with a fixed budget per epoch (pairs.py), their
   embeddings (as the head reads them) pulled together or pushed apart: ``cosine`` is SetFit's
   CosineSimilarityLoss, (cos(a, b) - 1 or 0)², ``mnr`` sentence-transformers'
   MultipleNegativesRankingLoss, cross-entropy over scale·cos(anchor, every positive of the batch)
   with texts of the anchor's class masked out (they are not negatives). Whatever the method left
   trainable trains (full, LoRA, ...); bf16 autocast where the loop would use it.
2. the head: fitted by the task on the training texts' embeddings (classification: logistic
   regression), in fp32 as the artifact is evaluated.

The written model is an ordinary one; ``end_to_end`` then also runs the standard loop on it.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tunelab.errors import TunelabError
from tunelab.training.distributed import make_accelerator
from tunelab.training.loop import CheckpointError, TrainState
from tunelab.training.optim import (
    AdamW,
    build_scheduler,
    clip_grad_norm,
    fused_available,
    lazy_embeddings,
    resolve_precision,
    sparse_gradients,
)
from tunelab.training.strategies.pairs import PairSampler, pair_budget

SETFIT_BODY_LEARNING_RATE = 2e-5  # SetFit's TrainingArguments.body_learning_rate
MASKED = -1e4  # the logit of an in-batch text of the anchor's own class (mnr): not a negative


class StrategyInterrupted(TunelabError):
    """SIGINT (exit 130) or SIGTERM (143) during stage 1, which keeps no checkpoint (it is short)."""

    def __init__(self, message: str, signal_name: str) -> None:
        super().__init__(message)
        self.exit_code = 143 if signal_name == "SIGTERM" else 130


def stage_learning_rate(config: Any) -> float:
    """training.contrastive.learning_rate, else SetFit's body rate for full fine-tuning and the
    method's own rate for the others (their adapters start from zero and want larger steps)."""
    chosen = config.training.contrastive.learning_rate
    if chosen is not None:
        return float(chosen)
    if config.method.name == "full":
        return SETFIT_BODY_LEARNING_RATE
    return float(config.method.effective_learning_rate(config.training.learning_rate))


def pair_loss(
    kind: str, a: torch.Tensor, b: torch.Tensor, targets: torch.Tensor, same: torch.Tensor | None, scale: float
) -> torch.Tensor:
    """The loss of a batch of pairs of unit vectors ``a[i]``, ``b[i]`` (float32). ``cosine``: the
    mean of (cos - target)²; ``mnr``: cross-entropy of each anchor over every positive of the batch,
    its own the right one; ``same[i, j]`` (True: b[j] has a[i]'s class, i != j) are masked out."""
    if kind == "cosine":
        return ((a * b).sum(dim=-1) - targets).pow(2).mean()
    logits = scale * (a @ b.T)
    if same is not None:
        logits = logits.masked_fill(same, MASKED)
    return torch.nn.functional.cross_entropy(logits, torch.arange(len(a), device=a.device))


class FittedRun:
    """What save_artifact and train() read of a Trainer when the contrastive stages made the model
    and no loop follows: stage 1's steps and pairs, no dev history, the precision stage 1 used."""

    def __init__(self, model: Any, workdir: Path, metric: str, precision: str, stats: dict[str, Any]) -> None:
        self.accelerator = make_accelerator(precision)
        self.model = model
        self.workdir = Path(workdir)
        self.metric = metric
        self.state = TrainState(global_step=int(stats.get("steps", 0)), samples_seen=int(stats.get("pairs", 0)))
        self.total_steps = int(stats.get("steps", 0))
        self.epoch_progress = float(stats.get("epochs", 0.0))
        self.samples_this_run = int(stats.get("pairs", 0))
        self.interrupt_signal = None

    def fit(self, resume: bool = False) -> TrainState:
        self.state.stop_reason = "completed"
        return self.state

    def restore(self) -> Any:
        raise CheckpointError("a contrastive run without end_to_end keeps no checkpoint; run it again without --resume")


class _Signals:
    """SIGINT/SIGTERM during stage 1: stop after the current step (the loop's behaviour)."""

    def __init__(self) -> None:
        self.received: str | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.received = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _progress(console: Console, total: int) -> tuple[Progress, Any]:
    progress = Progress(
        TextColumn("[bold]contrastive[/] epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  {task.fields[speed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    progress.start()
    return progress, progress.add_task("contrastive", total=total, epoch="1", loss="-", speed="")


def train_body(
    model: torch.nn.Module,
    support: Any,
    train_set: Any,
    collator: Any,
    config: Any,
    workdir: Path,
    console: Console,
    device: torch.device,
) -> dict[str, Any]:
    """Stage 1 (see the module docstring); returns what the run records."""
    settings, training = config.training.contrastive, config.training
    examples = list(train_set.examples)
    sampler = PairSampler(support.label_sets(examples), training.seed)
    negatives = settings.loss == "cosine"
    budget = pair_budget(len(examples), settings.iterations, settings.max_pairs, negatives=negatives)
    params = support.trainable_body(model)
    lr = stage_learning_rate(config)
    stats: dict[str, Any] = {"loss": settings.loss, "pairs_per_epoch": budget, "learning_rate": lr, "steps": 0}
    stats["trainable_parameters"] = sum(p.numel() for p in params)
    if not params:
        console.print(
            f"contrastive stage 1 skipped: method {config.method.name} trains no parameter of the body; "
            "the head is fitted on its embeddings as they are"
        )
        stats["skipped"] = "no trainable body parameter"
        return stats
    steps_per_epoch = max(1, math.ceil(budget / settings.batch_size))
    total = max(1, math.ceil(steps_per_epoch * settings.epochs))
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": training.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # the loop's optimizer: the fused kernel, and the input embeddings updated lazily (their rows of the
    # batch only): on a CPU the per-parameter AdamW and the dense 11.7M-row embedding update were most
    # of a MiniLM pair step (benchmarks/step_profile.py)
    optimizer = AdamW([g for g in groups if g["params"]], lr=lr, fused=fused_available(params) or None)
    trained_ids = {id(p) for p in params}
    sparse = [e for e in (lazy_embeddings(model) if training.lazy_embeddings else []) if id(e.weight) in trained_ids]
    scheduler = build_scheduler(optimizer, warmup_ratio=settings.warmup_ratio, total_steps=total)
    precision = resolve_precision(training.precision, device)
    autocast: contextlib.AbstractContextManager[Any] = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    console.print(
        f"contrastive stage 1: {total} steps ({settings.epochs:g} epochs × {steps_per_epoch}) of {settings.batch_size} "
        f"pairs, {budget:,} {settings.loss} pairs per epoch from {len(examples)} texts, learning rate {lr:g}, "
        f"{stats['trainable_parameters']:,} parameters train, precision {precision}"
    )
    log_path = workdir / "logs" / "contrastive_log.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(training.seed)
    model.train()
    losses: list[float] = []
    step, epoch, trained, started = 0, 0, 0, time.perf_counter()
    progress, bar = _progress(console, total)
    try:
        with _Signals() as signals, log_path.open("a", encoding="utf-8") as log:
            while step < total:
                pairs, targets = sampler.sample(budget, epoch, negatives=negatives)
                if not len(pairs):  # nothing to pair (cannot happen with two texts or more)
                    break
                for start in range(0, len(pairs), settings.batch_size):
                    chunk = pairs[start : start + settings.batch_size]
                    ids, where = np.unique(chunk, return_inverse=True)
                    where = where.reshape(chunk.shape)
                    batch = {k: v.to(device) for k, v in collator([train_set[int(i)] for i in ids]).items()}
                    with autocast, sparse_gradients(sparse):
                        vectors = support.embed(model, batch)
                    a = vectors[torch.as_tensor(where[:, 0], device=device)]
                    b = vectors[torch.as_tensor(where[:, 1], device=device)]
                    same = None
                    if not negatives:
                        mask = sampler.same_class(chunk[:, 0], chunk[:, 1]) & ~np.eye(len(chunk), dtype=bool)
                        same = torch.as_tensor(mask, device=device)
                    target = torch.as_tensor(targets[start : start + settings.batch_size], device=device)
                    loss = pair_loss(settings.loss, a.float(), b.float(), target, same, settings.scale)
                    loss.backward()
                    if training.max_grad_norm:
                        clip_grad_norm(params, training.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    trained += len(chunk)
                    losses.append(float(loss.detach()))
                    _report_step(console, progress, bar, log, step, total, epoch, losses, started, training.log_every)
                    if signals.received:
                        raise StrategyInterrupted(
                            f"contrastive stage 1 stopped by {signals.received} at step {step}/{total}; nothing was "
                            "saved (stage 1 keeps no checkpoint: it is short). Run the same command again, without "
                            "--resume, to start over",
                            signals.received,
                        )
                    if step >= total:
                        break
                epoch += 1
    finally:
        progress.stop()
    tenth = max(1, len(losses) // 10)
    stats.update(
        steps=step,
        epochs=round(step / steps_per_epoch, 4),
        pairs=trained,
        first_loss=round(float(np.mean(losses[:tenth])), 6) if losses else None,
        last_loss=round(float(np.mean(losses[-tenth:])), 6) if losses else None,
        seconds=round(time.perf_counter() - started, 2),
    )
    if not losses:
        return stats
    console.print(
        f"contrastive stage 1: loss {stats['first_loss']:.4f} -> {stats['last_loss']:.4f} in {stats['seconds']:.0f} s"
    )
    return stats


def _report_step(console, progress, bar, log, step, total, epoch, losses, started, every) -> None:
    recent = float(np.mean(losses[-every:]))
    speed = step / max(time.perf_counter() - started, 1e-9)
    progress.update(bar, completed=step, epoch=str(epoch + 1), loss=f"{recent:.4f}", speed=f"{speed:.1f} steps/s")
    if step % every == 0 or step == total:
        log.write(json.dumps({"stage": "contrastive", "step": step, "epoch": epoch + 1, "loss": recent}) + "\n")
        log.flush()
    if not console.is_terminal and step % max(1, total // 10) == 0:
        console.print(f"contrastive step {step}/{total}: loss {recent:.4f}")


@torch.no_grad()
def embed_all(
    model: torch.nn.Module, support: Any, train_set: Any, collator: Any, batch_size: int, device
) -> np.ndarray:
    """Every training text's features in fp32, eval mode (as the Predictor computes them), in order."""
    was_training = model.training
    model.eval()
    order = np.argsort([-n for n in train_set.lengths], kind="stable")
    rows: list[np.ndarray] = []
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in collator([train_set[int(i)] for i in chunk]).items()}
            rows.append(support.embed(model, batch).float().cpu().numpy())
    finally:
        model.train(was_training)
    features = np.empty((len(order), rows[0].shape[1]), dtype=np.float32)
    features[order] = np.concatenate(rows)
    return features


def run_contrastive(
    config: Any,
    task: Any,
    model: torch.nn.Module,
    train_set: Any,
    pad_id: int,
    workdir: Path,
    console: Console,
    *,
    resume: bool = False,
) -> tuple[dict[str, Any], FittedRun | None]:
    """Both stages on ``model`` (in place). Returns the record for tunelab.json and, unless
    ``end_to_end`` runs the loop next, the stand-in Trainer that save_artifact reads. ``resume``
    (end_to_end only: nothing else has a checkpoint): the checkpoint holds both stages' result."""
    support = task.contrastive()
    support.prepare(model)
    settings = config.training.contrastive
    record: dict[str, Any] = {"end_to_end": settings.end_to_end}
    if resume:
        console.print("resuming the end-to-end step: the contrastive stages' result is in the checkpoint")
        return record, None
    if train_set is None or not len(train_set):
        raise TunelabError("training.strategy contrastive needs training examples (data.train)")
    device = make_accelerator(config.training.precision).device
    model.to(device)
    started = time.perf_counter()
    collator = task.collator(pad_id)
    record["stage1"] = train_body(model, support, train_set, collator, config, workdir, console, device)
    features = embed_all(model, support, train_set, collator, config.training.eval_batch_size, device)
    record["head"] = support.fit_head(
        model, features, list(train_set.examples), c=settings.head_c, seed=config.training.seed
    )
    record["seconds"] = round(time.perf_counter() - started, 2)
    console.print(
        f"contrastive stage 2: {settings.head} head fitted on {len(features)} embeddings "
        f"(C {record['head'].get('c')}{' by cross-validation' if record['head'].get('c_cross_validated') else ''}, "
        f"training accuracy {record['head'].get('train_accuracy', float('nan')):.4f})"
    )
    if settings.end_to_end:
        console.print("end_to_end: the standard loop now trains the whole model from the fitted head")
        return record, None
    metric = config.training.metric or task.default_metric
    return record, FittedRun(model, workdir, metric, config.training.precision, record["stage1"])
