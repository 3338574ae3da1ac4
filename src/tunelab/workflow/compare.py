"""`tunelab compare RUN...`: several artifacts side by side.

Everything comes from what each artifact already holds: ``tunelab.json`` (the config, training
facts, method and weights size), ``report.json`` (the fp32 metrics per split) and
``logs/train_log.jsonl`` (train loss and dev metrics per step; ``tunelab.json``'s
``training.history`` for the dev curve of a run without it). Nothing is loaded or scored.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.artifact import ArtifactError, ArtifactMeta, artifact_path, read_meta
from tunelab.config import flatten
from tunelab.errors import OutputError
from tunelab.files import check_output_file, write_json
from tunelab.workflow.report import REPORT_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.console import Console

__all__ = ["RunFacts", "compare_figure", "compare_runs", "comparison", "config_differences", "load_run"]

TRAIN_LOG = Path("logs") / "train_log.jsonl"
SPLITS = ("dev", "test")
DIGITS = 4
# Keys that name the run rather than describe it: the output directory is each run's column header.
IGNORED_PREFIXES = ("output.",)
# Config keys holding paths recorded relative to the artifact (format 2) or absolute (format 1):
# compared as the files they point to, so runs at different depths do not differ spuriously.
PATH_KEYS = ("data.train", "data.dev", "data.test")
_MISSING = object()


@dataclass
class RunFacts:
    """What `compare` reads of one run."""

    name: str
    path: Path
    meta: ArtifactMeta
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_loss: list[tuple[float, float]] = field(default_factory=list)
    dev_curve: list[tuple[float, float]] = field(default_factory=list)

    @property
    def metric(self) -> str | None:
        """The dev metric that selected the best checkpoint."""
        best = self.meta.training.get("best_dev_metric")
        name = best.get("name") if isinstance(best, Mapping) else None
        if isinstance(name, str):
            return name
        configured = self.meta.config.get("training", {})
        configured = configured.get("metric") if isinstance(configured, Mapping) else None
        return configured if isinstance(configured, str) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _round(value: Any) -> Any:
    return round(float(value), DIGITS) if isinstance(value, float) else value


def _read_report(directory: Path) -> dict[str, dict[str, Any]]:
    """report.json's ``splits``: {split: scalar metrics}; {} when the run has no report."""
    path = directory / REPORT_FILE
    if not path.is_file():
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not readable JSON ({exc}); the artifact is damaged") from None
    splits = report.get("splits") if isinstance(report, dict) else None
    if not isinstance(splits, dict):
        return {}
    return {
        str(split): {str(k): _round(v) for k, v in metrics.items() if _is_number(v)}
        for split, metrics in splits.items()
        if isinstance(metrics, dict)
    }


def _read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a train log; a line that is not a JSON object (cut short by a kill) is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and _is_number(record.get("step")):
            records.append(record)
    return records


def _curve(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted by step; a step logged twice (a resumed run) keeps its last value."""
    return sorted(dict(points).items())


def load_run(path: str | os.PathLike[str], name: str | None = None) -> RunFacts:
    """Read one run; an argument that is not an artifact raises :class:`ArtifactError`."""
    directory = Path(path)
    meta = read_meta(directory)
    run = RunFacts(name=name or directory.resolve().name, path=directory, meta=meta, splits=_read_report(directory))
    metric = run.metric
    log = _read_log(directory / TRAIN_LOG)
    train, dev = [], []
    for record in log:
        step = float(record["step"])
        if _is_number(record.get("train_loss")):
            train.append((step, float(record["train_loss"])))
        evals = record.get("eval")
        if metric and isinstance(evals, Mapping) and _is_number(evals.get(metric)):
            dev.append((step, float(evals[metric])))
    if not dev and metric:  # no log: the evaluations tunelab.json keeps
        history = meta.training.get("history")
        for record in history if isinstance(history, list) else []:
            metrics = record.get("metrics", record.get("eval")) if isinstance(record, Mapping) else None
            if isinstance(metrics, Mapping) and _is_number(record.get("step")) and _is_number(metrics.get(metric)):
                dev.append((float(record["step"]), float(metrics[metric])))
    run.train_loss, run.dev_curve = _curve(train), _curve(dev)
    return run


def _run_names(paths: Sequence[Path]) -> list[str]:
    """Each run's folder name; the path as given where two share a name, numbered if still equal."""
    names = [p.resolve().name or str(p) for p in paths]
    names = [str(p) if names.count(n) > 1 else n for p, n in zip(paths, names)]
    seen: dict[str, int] = {}
    unique = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if names.count(n) == 1 else f"{n} #{seen[n]}")
    return unique


def _display_path(recorded: Any, directory: Path) -> Any:
    if not isinstance(recorded, str) or not recorded:
        return recorded
    resolved = artifact_path(recorded, directory)
    try:
        return os.path.relpath(resolved) if resolved.is_relative_to(Path.cwd()) else str(resolved)
    except ValueError:  # pragma: no cover - another Windows drive
        return str(resolved)


def _flat_config(run: RunFacts) -> dict[str, Any]:
    flat = {k: v for k, v in flatten(run.meta.config).items() if not k.startswith(IGNORED_PREFIXES)}
    for key in PATH_KEYS:
        if key in flat:
            flat[key] = _display_path(flat[key], run.path)
    if "model.name" in flat and run.meta.model.source == "local":
        flat["model.name"] = _display_path(flat["model.name"], run.path)
    return flat


def config_differences(runs: Sequence[RunFacts]) -> dict[str, dict[str, Any]]:
    """``{dotted key: {run name: value}}`` for the keys whose values differ between the runs (a key
    one run lacks, such as a LoRA rank beside a full fine-tune, differs; the lacking run is left
    out of its dict). Data paths are compared as the files they point to; ``output.*`` is left out."""
    if len(runs) < 2:
        return {}
    flats = [_flat_config(run) for run in runs]
    keys = sorted(set().union(*flats))
    differs: dict[str, dict[str, Any]] = {}
    for key in keys:
        values = [flat.get(key, _MISSING) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            differs[key] = {run.name: v for run, v in zip(runs, values) if v is not _MISSING}
    return differs


def _run_metrics(run: RunFacts) -> dict[str, Any]:
    training = run.meta.training
    best = training.get("best_dev_metric")
    best_step = training.get("best_step")
    parameters = run.meta.method.parameters
    trainable = parameters.get("trainable") if isinstance(parameters, Mapping) else None
    return {
        **{split: run.splits[split] for split in SPLITS if split in run.splits},
        "best_dev_metric": {
            "name": best.get("name") if isinstance(best, Mapping) else None,
            "value": _round(best.get("value")) if isinstance(best, Mapping) and _is_number(best.get("value")) else None,
            "step": best_step if isinstance(best_step, int) and not isinstance(best_step, bool) else None,
        },
        "training_seconds": _round(training.get("seconds")) if _is_number(training.get("seconds")) else None,
        "samples_per_second": (
            _round(training.get("samples_per_second")) if _is_number(training.get("samples_per_second")) else None
        ),
        "weights_bytes": run.meta.method.weights_bytes,
        "trainable_parameters": trainable if isinstance(trainable, int) and not isinstance(trainable, bool) else None,
    }


def comparison(runs: Sequence[RunFacts]) -> dict[str, Any]:
    """The data `compare` prints and writes with ``--json``."""
    return {
        "runs": [
            {"name": run.name, "path": str(run.path), "task": run.meta.task.name, "method": run.meta.method.name}
            for run in runs
        ],
        "config_differences": config_differences(runs),
        "metrics": {run.name: _run_metrics(run) for run in runs},
        "curves": {
            run.name: {
                "dev_metric": run.metric,
                "dev": [[s, _round(v)] for s, v in run.dev_curve],
                "train_loss": [[s, _round(v)] for s, v in run.train_loss],
            }
            for run in runs
        },
    }


def compare_figure(runs: Sequence[RunFacts]) -> Figure | None:
    """Dev metric vs step (left) and train loss vs step (right), one line per run labelled with its
    name; None when no run has a curve."""
    from tunelab.evaluation.plots import _new_figure

    with_dev = [run for run in runs if run.dev_curve]
    with_loss = [run for run in runs if run.train_loss]
    panels = [p for p, present in (("dev", with_dev), ("loss", with_loss)) if present]
    if not panels:
        return None
    fig = _new_figure(6.0 * len(panels), 4.2)
    metrics = {run.metric for run in with_dev}
    shared = next(iter(metrics)) if len(metrics) == 1 else None
    for index, panel in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), index)
        if panel == "dev":
            for run in with_dev:
                label = run.name if shared else f"{run.name} ({run.metric})"
                ax.plot(*zip(*run.dev_curve), marker="o", markersize=3, linewidth=1.2, label=label)
            ax.set_ylabel(f"dev {shared}" if shared else "dev metric (each run's own)")
            ax.set_title((f"Dev {shared}" if shared else "Dev metric") + _lacking(runs, with_dev, "no evaluations"))
        else:
            for run in with_loss:
                single = len(run.train_loss) == 1  # one logged step: a dot, not an invisible line
                ax.plot(*zip(*run.train_loss), linewidth=1.2, marker="o" if single else None, label=run.name)
            ax.set_ylabel("train loss")
            ax.set_title("Train loss" + _lacking(runs, with_loss, "no train log"))
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def _lacking(runs: Sequence[RunFacts], drawn: Sequence[RunFacts], why: str) -> str:
    shown = {id(run) for run in drawn}
    missing = [run.name for run in runs if id(run) not in shown]
    return f"\n({why}: {', '.join(missing)})" if missing else ""


def _save_figure(fig: Figure, path: Path) -> Path:
    from tunelab.evaluation.plots import _save, _with_fonts

    saved: Path = _with_fonts(_save)(fig, path)
    return saved


def _run_files(directory: Path) -> list[Path]:
    """The files of a run that no output may replace: its top level and its logs."""
    files: list[Path] = []
    for folder in (directory, directory / "logs"):
        if folder.is_dir():
            files.extend(p for p in sorted(folder.iterdir()) if p.is_file())
    return files


def compare_runs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    json_out: str | os.PathLike[str] | None = None,
    plot_out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Read the runs, print their differing config keys and metrics on ``console``, write the same
    data to ``json_out`` and their curves to ``plot_out`` (a PNG) when given. Outputs are checked
    before anything is written: an existing file only with ``overwrite``, never a file of a run."""
    directories = [Path(p) for p in paths]
    for directory in directories:  # every argument must be an artifact before anything is written
        read_meta(directory)
    protected = [f for d in directories for f in _run_files(d)]
    if json_out is not None:
        check_output_file(json_out, overwrite=overwrite, inputs=protected, option="--json")
    if plot_out is not None:
        inputs = [*protected, *([json_out] if json_out is not None else [])]
        check_output_file(plot_out, overwrite=overwrite, inputs=inputs, option="--plot")
    runs = [load_run(d, name) for d, name in zip(directories, _run_names(directories))]
    data = comparison(runs)
    fig = compare_figure(runs) if plot_out is not None else None
    if plot_out is not None and fig is None:
        raise OutputError(
            f"--plot {plot_out}: no run records training curves (logs/train_log.jsonl or training.history "
            "in tunelab.json); nothing to plot"
        )
    if console is not None:
        print_comparison(data, console)
    if json_out is not None:
        write_json(data, json_out)
        if console is not None:
            console.print(f"wrote {json_out}", highlight=False)
    if fig is not None and plot_out is not None:
        _save_figure(fig, Path(plot_out))
        if console is not None:
            console.print(f"wrote {plot_out}", highlight=False)
    return data


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{DIGITS}f}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _setting(value: Any) -> str:
    """A config value as written in YAML: strings bare, the rest (null, true, 0.003, lists) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _figure(value: Any, digits: int) -> str:
    return f"{value:,.{digits}f}" if _is_number(value) else "-"


def _size(n: Any) -> str:
    if not isinstance(n, int):
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def print_comparison(data: Mapping[str, Any], console: Console) -> None:
    """The two tables: differing config keys, then metrics; one column per run."""
    from rich.table import Table

    names = [run["name"] for run in data["runs"]]
    if len(names) < 2:
        console.print("config: one run: nothing to compare", highlight=False)
    elif not data["config_differences"]:
        console.print("config: the runs' configs are the same", highlight=False)
    else:
        table = Table(title="Config: the keys that differ", title_justify="left")
        table.add_column("key", style="bold", no_wrap=True)
        for name in names:
            table.add_column(name, overflow="fold")
        for key, values in data["config_differences"].items():
            table.add_row(key, *(_setting(values[n]) if n in values else "(not set)" for n in names))
        console.print(table)

    metrics = data["metrics"]
    table = Table(title="Metrics", title_justify="left")
    table.add_column("metric", style="bold")
    for name in names:
        table.add_column(name, justify="right")
    for split in SPLITS:
        keys: list[str] = []
        for name in names:
            keys.extend(k for k in metrics[name].get(split, {}) if k not in keys)
        for key in keys:
            table.add_row(f"{split} {key}", *(_cell(metrics[n].get(split, {}).get(key)) for n in names))
    bests = [metrics[n]["best_dev_metric"] for n in names]
    table.add_row(
        "best dev metric",
        *(f"{b['name']} {_cell(b['value'])}" if b["name"] is not None else "-" for b in bests),
    )
    table.add_row("best step", *(_cell(b["step"]) for b in bests))
    table.add_row("training seconds", *(_figure(metrics[n]["training_seconds"], 1) for n in names))
    table.add_row("samples/s", *(_figure(metrics[n]["samples_per_second"], 1) for n in names))
    table.add_row("weights size", *(_size(metrics[n]["weights_bytes"]) for n in names))
    table.add_row(
        "trainable parameters",
        *(f"{t:,}" if isinstance(t, int) else "-" for t in (metrics[n]["trainable_parameters"] for n in names)),
    )
    console.print(table)
