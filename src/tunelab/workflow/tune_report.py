"""What `tunelab tune` writes about its study: ``tune.json`` (every trial's values, outcome, duration
and the best trial), ``trials.csv``, ``trials.png`` and the terminal table."""

from __future__ import annotations

import csv
import math
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from tunelab.artifact import TUNE_BEST_DIR, TUNE_FILE
from tunelab.files import atomic_writer, write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tunelab.workflow.tune import Search

CSV_FILE = "trials.csv"
PNG_FILE = "trials.png"


def trial_records(study: Any, out: Path) -> list[dict[str, Any]]:
    """One JSON-ready record per trial, in trial order (waiting ones, queued but not started, left out)."""
    from tunelab.workflow.tune import TRIALS_DIR, _trial_name, has_weights

    records = []
    for trial in study.get_trials(deepcopy=False):
        state = trial.state.name.lower()
        if state == "waiting":
            continue
        directory = f"{TRIALS_DIR}/{_trial_name(trial.number)}"
        seconds = trial.user_attrs.get("seconds")
        if seconds is None and trial.datetime_start and trial.datetime_complete:
            seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 2)
        record: dict[str, Any] = {
            "number": trial.number,
            "state": state,
            "value": trial.value if state == "complete" else None,
            "params": dict(trial.params),
            "seconds": seconds,
            # the dev metric at each evaluation (what the pruner compared)
            "intermediate": [trial.intermediate_values[step] for step in sorted(trial.intermediate_values)],
            "directory": directory if (out / directory).is_dir() else None,
            "weights_kept": has_weights(out / directory),
        }
        for key in ("error", "rerun_of"):
            if key in trial.user_attrs:
                record[key] = trial.user_attrs[key]
        records.append(record)
    return records


def summary(study: Any, search: Search, out: Path, n_trials: int) -> dict[str, Any]:
    from tunelab.workflow.tune import best_trial

    records = trial_records(study, out)
    best = best_trial(study, search)
    counts: dict[str, int] = {}
    for record in records:
        counts[record["state"]] = counts.get(record["state"], 0) + 1
    return {
        "metric": search.metric,
        "direction": search.direction,
        "space": {key: spec.describe() for key, spec in search.space.items()},
        "trials_requested": n_trials,
        "counts": counts,
        "best": None
        if best is None
        else {"trial": best.number, "value": best.value, "params": dict(best.params), "artifact": TUNE_BEST_DIR},
        "trials": records,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_csv(records: list[dict[str, Any]], path: Path) -> None:
    params = list(dict.fromkeys(key for record in records for key in record["params"]))
    with atomic_writer(path) as fh:
        writer = csv.writer(fh)
        writer.writerow(["trial", "state", "value", "seconds", *params, "directory"])
        for r in records:
            value = "" if r["value"] is None else r["value"]
            values = [r["params"].get(p, "") for p in params]
            writer.writerow([r["number"], r["state"], value, r["seconds"], *values, r["directory"]])


def _importances(study: Any) -> dict[str, float]:
    """optuna's parameter importances over the complete trials; {} when too few to say anything."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = {k for t in complete for k in t.params if len({str(u.params.get(k)) for u in complete}) > 1}
    if len(complete) < 3 or len(varied) < 2 or len({t.value for t in complete}) < 2:
        return {}  # nothing to tell apart (one varied parameter is trivially all the importance)
    try:
        with warnings.catch_warnings():  # optuna warns when few trials make the importances uncertain
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study, params=sorted(varied))
    except (RuntimeError, ValueError, ZeroDivisionError):  # degenerate values
        return {}


def trials_figure(records: list[dict[str, Any]], search: Search, importances: dict[str, float]) -> Figure:
    """The dev metric per trial with the best-so-far line (pruned trials at their last value), the
    dev metric at each evaluation of every trial, and the parameter importances when known."""
    from matplotlib.ticker import MaxNLocator

    from tunelab.evaluation.plots.base import _new_figure

    panels = 3 if importances else 2
    fig = _new_figure(5.0 * panels, 4.2)
    axes = fig.subplots(1, panels)
    ax = axes[0]
    styles = {"complete": ("o", "tab:blue"), "pruned": ("x", "tab:orange"), "fail": ("s", "tab:red")}
    for state, (marker, colour) in styles.items():
        points = [
            (r["number"], r["value"] if r["value"] is not None else r["intermediate"][-1])
            for r in records
            if r["state"] == state and (r["value"] is not None or r["intermediate"])
        ]
        if points:
            ax.scatter(*zip(*points, strict=True), marker=marker, color=colour, label=state, zorder=3)
    best_line: list[tuple[int, float]] = []
    best: float | None = None
    for r in records:
        if r["state"] == "complete" and r["value"] is not None and search.better(r["value"], best):
            best = r["value"]
        if best is not None:
            best_line.append((r["number"], best))
    if best_line:
        ax.step(*zip(*best_line, strict=True), where="post", color="tab:green", label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(f"dev {search.metric}")
    ax.set_title(f"{len(records)} trials ({search.direction}imise)")
    ax.legend(fontsize=8)
    ax = axes[1]
    for r in records:
        values = r["intermediate"]
        if values:
            style = "--" if r["state"] == "pruned" else "-"
            ax.plot(range(1, len(values) + 1), values, style, marker=".", label=str(r["number"]))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("evaluation")
    ax.set_ylabel(f"dev {search.metric}")
    ax.set_title("each trial (dashed: pruned)")
    if 0 < len(records) <= 12:
        ax.legend(fontsize=7, title="trial", title_fontsize=7)
    if importances:
        ax = axes[2]
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names], color="tab:purple")
        ax.set_xlabel("importance")
        ax.set_title("parameter importance")
    return fig


def print_table(records: list[dict[str, Any]], search: Search, best_number: int | None, console: Console) -> None:
    params = list(dict.fromkeys(key for record in records for key in record["params"]))
    table = Table(title=f"tunelab tune: dev {search.metric} ({search.direction}imise)")
    for column in ("trial", "state", search.metric, "seconds", *params):
        table.add_column(column, justify="right" if column != "state" else "left")
    for r in records:
        value = "" if r["value"] is None else f"{r['value']:.4f}"
        cells = [_cell(r["params"].get(p)) for p in params]
        seconds = "" if r["seconds"] is None else f"{r['seconds']:.0f}"
        style = "bold green" if r["number"] == best_number else None
        name = f"{r['number']} *" if r["number"] == best_number else str(r["number"])
        table.add_row(name, r["state"], value, seconds, *cells, style=style)
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float) and value != 0 and not (1e-3 <= abs(value) < 1e4):
        return f"{value:.3g}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_summary(
    out: Path, study: Any, search: Search, n_trials: int, *, console: Console | None = None
) -> dict[str, Any]:
    """tune.json, trials.csv and trials.png (rewritten after every trial); the table on ``console``."""
    from tunelab.evaluation.plots.base import _save, _with_fonts

    result = summary(study, search, out, n_trials)
    records = result["trials"]
    importances = _importances(study)
    result["importance"] = importances
    write_json(result, out / TUNE_FILE)
    write_csv(records, out / CSV_FILE)
    _with_fonts(lambda: _save(trials_figure(records, search, importances), out / PNG_FILE))()
    if console is not None:
        best = result["best"]
        print_table(records, search, best["trial"] if best else None, console)
        if best:
            value = best["value"]
            shown = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else value
            console.print(
                f"best: trial {best['trial']}, dev {search.metric} {shown}; its artifact: {out / TUNE_BEST_DIR}"
            )
        else:
            console.print("no trial finished yet")
    return result
