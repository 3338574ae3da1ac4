"""Training curves: losses, the selected dev metric with its best step, other 0-1 metrics, learning rate."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from tunelab.evaluation.plots.base import (
    _LOSS_KEYS,
    _is_number,
    _new_figure,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _is_count(name: str) -> bool:
    low = name.lower()
    return (
        low.startswith(("num_", "n_"))
        or low in {"support", "count", "examples"}
        or low.endswith(("_count", "_support"))
    )


def training_curves_figure(
    history: Sequence[Mapping[str, Any]],
    *,
    metric: str | None = None,
    best_step: int | None = None,
) -> Figure | None:
    """Loss, the selected dev metric, the other dev metrics on a 0-1 scale, and the learning rate
    against the optimizer step; None when there is nothing to plot.

    ``history`` mixes train records ``{"step", "train_loss", "learning_rate"}`` (``logs/train_log.jsonl``)
    and eval records ``{"step", "eval": {metric: value}}`` (or ``"metrics"``, as in ``tunelab.json``'s
    ``training.history``). Records without a numeric ``step`` and values that are not finite numbers
    are skipped. Dev loss is drawn with the train loss. ``metric`` (the one that selected the best
    checkpoint) gets its own panel, its best value marked (at ``best_step``, else at the last eval
    record marked ``"improved"``). Other metrics appear only when every value lies in [-1, 1] and the
    name is not a count (``num_examples``, ``support``): error metrics and counts would flatten them.
    """
    train: list[tuple[float, float]] = []
    rates: list[tuple[float, float]] = []
    evals: dict[str, list[tuple[float, float]]] = {}
    improved: list[float] = []
    for record in history:
        if not isinstance(record, Mapping):
            continue
        step = record.get("step")
        if not _is_number(step):
            continue
        at = float(cast(float, step))
        if _is_number(record.get("train_loss")):
            train.append((at, float(record["train_loss"])))
        if _is_number(record.get("learning_rate")):
            rates.append((at, float(record["learning_rate"])))
        metrics = record.get("eval", record.get("metrics"))
        if isinstance(metrics, Mapping):
            for name, value in metrics.items():
                if _is_number(value):
                    evals.setdefault(str(name), []).append((at, float(value)))
            if record.get("improved"):
                improved.append(at)

    eval_loss = {name: pts for name, pts in evals.items() if name in _LOSS_KEYS}
    selected = evals.get(metric) if metric and metric not in _LOSS_KEYS else None
    bounded = {
        name: pts
        for name, pts in sorted(evals.items())
        if name not in _LOSS_KEYS and name != metric and not _is_count(name) and all(-1.0 <= v <= 1.0 for _, v in pts)
    }
    panels = [
        name
        for name, present in (("loss", train or eval_loss), ("selected", selected), ("bounded", bounded), ("lr", rates))
        if present
    ]
    if not panels:
        return None

    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    fig = _new_figure(6.0 * columns, 4.0 * rows)
    for index, panel in enumerate(panels, start=1):
        ax = fig.add_subplot(rows, columns, index)
        if panel == "loss":
            if train:
                ax.plot(*zip(*sorted(train)), label="train loss", linewidth=1.2, color="#1f77b4")
            for name, pts in eval_loss.items():
                label = "dev loss" if name == "loss" else f"dev {name}"
                ax.plot(*zip(*sorted(pts)), marker="o", markersize=3, label=label, color="#ff7f0e")
            ax.set_ylabel("loss")
            ax.set_title("Loss: train and dev")
        elif panel == "selected":
            pts = sorted(cast(list, selected))
            ax.plot(*zip(*pts), marker="o", markersize=4, color="#2ca02c", label=f"dev {metric}")
            best = best_step if best_step is not None else (improved[-1] if improved else None)
            at_best = [(s, v) for s, v in pts if best is not None and s == float(best)]
            if at_best:
                s, v = at_best[-1]
                ax.plot(
                    [s],
                    [v],
                    marker="*",
                    markersize=14,
                    color="#d62728",
                    linestyle="none",
                    label=f"best {v:.4f} (step {int(s)})",
                )
            ax.set_ylabel(str(metric))
            ax.set_title(f"Dev {metric} (selects the best checkpoint)")
        elif panel == "bounded":
            for name, pts in bounded.items():
                ax.plot(*zip(*sorted(pts)), marker="o", markersize=2.5, linewidth=1.0, label=name)
            low = min(v for pts in bounded.values() for _, v in pts)
            ax.set_ylim(min(0.0, low) - 0.02, 1.02)
            ax.set_ylabel("value (0-1 scale)")
            ax.set_title("Other dev metrics")
        else:
            ax.plot(*zip(*sorted(rates)), color="#9467bd", linewidth=1.2, label="learning rate")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
            ax.set_ylabel("learning rate")
            ax.set_title("Learning rate")
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7 if panel == "bounded" else 8, ncol=2 if panel == "bounded" and len(bounded) > 5 else 1)
    return fig
