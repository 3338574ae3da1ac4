"""`tunelab tune`: hyper-parameter search on optuna, one `tunelab train` run per trial.

Each trial is the config with the sampled values applied as ``--set`` overrides, trained by
:func:`tunelab.workflow.train.train` into ``OUT/trials/NNN`` (its own artifact). A callback reports
the dev metric to optuna at every evaluation and stops a trial the pruner gives up on (the trial
is recorded as pruned and its directory removed). The study lives in ``OUT/study.db`` (SQLite), so
running the same command again continues it to N trials: finished trials are kept, a trial cut
short by Ctrl-C or a kill is re-run with the same values, from its last checkpoint when it has one.

``OUT/best`` is a copy of the best trial's artifact by the tune metric and its direction, replaced
(through a temporary directory and a rename) only when a better trial finishes: never simply the
last trial's, which is what users of the Hugging Face Trainer's ``hyperparameter_search`` got
(transformers #23120). The other trials keep their reports but not their weights (``keep_all``).
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from tunelab.artifact import (
    META_FILE,
    PARTIAL_MARKER,
    TUNE_BEST_DIR,
    artifact_path,
    portable_path,
    read_meta,
    relocate,
    write_meta,
)
from tunelab.config import TunelabConfig, load_config
from tunelab.errors import ConfigError, TunelabError
from tunelab.files import write_json
from tunelab.training.callbacks import Callback
from tunelab.workflow.tune_space import (
    Search,
    check_space,
    grid_size,
    grid_values,
    resolve_search,
    suggest,
    trial_overrides,
)

STUDY_NAME = "tunelab"
STUDY_FILE = "study.db"
TRIALS_DIR = "trials"
# The model weights an artifact may hold; a trial that is not the best keeps everything else.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".gguf")
MAX_FAILURES_IN_A_ROW = 3


@dataclass
class Outcome:
    """How a trial ended: "complete" (``value``), "pruned" (at evaluation ``step``) or "failed" (``error``)."""

    number: int
    state: str
    value: float | None = None
    step: int | None = None
    error: BaseException | None = None


@dataclass
class TuneResult:
    output_dir: Path
    best_trial: int | None
    best_value: float | None
    summary: dict[str, Any]


# -- the study ---------------------------------------------------------------------------------


def _trial_name(number: int) -> str:
    return f"{number:03d}"


def check_tune_output(out: Path) -> None:
    """A new or empty directory, or one holding a study to continue; never an artifact or other files."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a directory")
    if (out / META_FILE).exists():
        raise ConfigError(f"output {out} is a trained artifact, not a tuning study; choose another -o")
    if any(out.iterdir()) and not (out / STUDY_FILE).is_file():
        raise ConfigError(f"output {out} is not empty and holds no {STUDY_FILE}; choose another -o")


def open_study(out: Path, config: TunelabConfig, search: Search, n_trials: int) -> Any:
    """Create ``OUT/study.db`` or load the study in it, which must search the same space for the same
    metric on the same config (other trials would not compare)."""
    import optuna

    from tunelab.workflow.resume import compare

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{out / STUDY_FILE}")
    if STUDY_NAME in optuna.study.get_all_study_names(storage):
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    else:
        study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction=search.optuna_direction)
    attrs = study.user_attrs
    space = {key: spec.describe() for key, spec in search.space.items()}
    record = {"config": config.to_dict()}
    if "space" in attrs:
        problems = []
        if attrs.get("metric") != search.metric:
            problems.append(f"metric {attrs.get('metric')} -> {search.metric}")
        if attrs["space"] != json.loads(json.dumps(space)):
            problems.append(f"space {attrs['space']} -> {space}")
        adjustable, fixed = compare(attrs.get("record", {}), record)
        problems += fixed + adjustable
        if problems:
            raise ConfigError(
                f"{out} holds a study of another search; its trials would not compare with this one's:\n  "
                + "\n  ".join(problems)
                + "\nUndo the changes or choose another -o"
            )
    elif study.direction.name.lower() != search.optuna_direction:
        raise ConfigError(f"{out} holds a study in the other direction than dev {search.metric}; choose another -o")
    else:
        study.set_user_attr("metric", search.metric)
        study.set_user_attr("direction", search.direction)
        study.set_user_attr("space", space)
        study.set_user_attr("record", record)
    study.sampler = _sampler(config, search, seed=config.training.seed + len(study.trials), n_trials=n_trials)
    study.pruner = _pruner(config)
    return study


def _sampler(config: TunelabConfig, search: Search, *, seed: int, n_trials: int) -> Any:
    import optuna

    kind = config.tune.sampler
    if kind == "grid":
        return optuna.samplers.GridSampler({k: grid_values(s) for k, s in search.space.items()}, seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # TPE models the trials so far after a few random ones: a third of the budget, 2 to 10
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, n_trials // 3)))


def _pruner(config: TunelabConfig) -> Any:
    import optuna

    if config.tune.pruner == "none":
        return optuna.pruners.NopPruner()
    # from the third trial on, and never at a trial's first evaluation (its head is still random)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


def recover(study: Any, out: Path, console: Console) -> None:
    """A trial left running by a kill is marked failed and queued again with the same values (a
    trial stopped by Ctrl-C was queued again when it stopped); its checkpoint is taken over then."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        _queue_again(study, trial.number, trial.params)
        console.print(f"trial {trial.number} was cut short by a kill: queued again with the same values")


def _queue_again(study: Any, number: int, params: dict[str, Any]) -> None:
    study.enqueue_trial(params, user_attrs={"rerun_of": number})


class TrialReporter(Callback):
    """Reports the dev metric to the optuna trial at every evaluation (step: the evaluation's index,
    the same point of training in every trial) and stops the run when the pruner says so."""

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.pruned_at: int | None = None
        self.reported: set[int] = set()

    def _report(self, step: int, metrics: dict[str, Any]) -> None:
        value = metrics.get(self.metric)
        if step in self.reported or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        self.trial.report(float(value), step)
        self.reported.add(step)

    def on_train_begin(self, trainer: Any) -> None:
        for step, record in enumerate(trainer.state.history):  # a resumed trial's earlier evaluations
            self._report(step, record.get("metrics", {}))

    def on_evaluate(self, trainer: Any, metrics: dict[str, Any], improved: bool) -> None:
        step = len(trainer.state.history) - 1
        self._report(step, metrics)
        finished = trainer.state.global_step >= trainer.total_steps  # nothing left to save: keep the result
        if step in self.reported and not finished and self.trial.should_prune():
            self.pruned_at = step
            trainer.request_stop("pruned")

    def on_train_end(self, trainer: Any) -> None:
        if self.pruned_at is not None and trainer.state.stop_reason == "pruned":
            import optuna

            # out of fit() before the artifact is saved and reported: the trial is discarded
            raise optuna.TrialPruned(f"pruned at evaluation {self.pruned_at + 1}")


# -- one trial -----------------------------------------------------------------------------------


def _take_over_checkpoint(out: Path, rerun_of: int | None, trial_dir: Path) -> bool:
    """Move the checkpoints of the trial this one re-runs to this trial's scratch directory; True
    when there is one to resume from."""
    from tunelab.training.checkpoints import newest_checkpoint
    from tunelab.workflow.train import workdir_for

    if rerun_of is None:
        return False
    old = workdir_for(out / TRIALS_DIR / _trial_name(rerun_of))
    if not (old / PARTIAL_MARKER).exists() or newest_checkpoint(old / "checkpoints") is None:
        shutil.rmtree(old, ignore_errors=True)
        return False
    os.replace(old, workdir_for(trial_dir))
    return True


def trial_value(report: dict[str, Any], meta: Any, metric: str) -> float | None:
    """The trial's dev metric: the report's (the artifact reloaded and scored as `tunelab evaluate`
    does), else the in-loop best (``loss`` is only measured in the loop)."""
    value = (report.get("splits") or {}).get("dev", {}).get(metric)
    if not isinstance(value, (int, float)):
        value = ((meta.training or {}).get("best_dev_metric") or {}).get("value") if meta is not None else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def run_trial(
    study: Any,
    out: Path,
    config_path: str | Path | None,
    overrides: list[str],
    config: TunelabConfig,
    search: Search,
    console: Console,
    position: str,
) -> Outcome:
    """Ask optuna for a trial, train it, tell optuna the outcome. Ctrl-C: the trial is queued again
    and TrainingInterrupted raised."""
    from optuna.trial import TrialState

    from tunelab.workflow.train import TrainingInterrupted, train, workdir_for

    trial = study.ask()
    values = {key: suggest(trial, key, spec) for key, spec in search.space.items()}
    name = _trial_name(trial.number)
    trial_dir = out / TRIALS_DIR / name
    trial.set_user_attr("directory", f"{TRIALS_DIR}/{name}")
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    console.print(f"[bold]trial {trial.number}[/] ({position}): {shown}", highlight=False)
    reporter = TrialReporter(trial, search.metric)
    started = time.perf_counter()
    try:
        resume = _take_over_checkpoint(out, trial.user_attrs.get("rerun_of"), trial_dir)
        cfg = load_config(config_path, overrides + trial_overrides(config, values, search))
        result = train(
            cfg, output_dir=trial_dir, resume=resume, restart=not resume, console=console, callbacks=[reporter]
        )
    except (TrainingInterrupted, KeyboardInterrupt) as err:
        study.tell(trial, state=TrialState.FAIL)
        _queue_again(study, trial.number, trial.params)
        stopped = TrainingInterrupted(
            f"tuning stopped during trial {trial.number}; run the same command again to continue the study "
            f"(the trial is run again, from its checkpoint in {workdir_for(trial_dir)} when it has one)"
        )
        stopped.exit_code = getattr(err, "exit_code", 130)
        raise stopped from None
    except Exception as err:
        import optuna

        shutil.rmtree(workdir_for(trial_dir), ignore_errors=True)
        if isinstance(err, optuna.TrialPruned):
            study.tell(trial, state=TrialState.PRUNED)
            return Outcome(trial.number, "pruned", step=reporter.pruned_at)
        trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
        study.tell(trial, state=TrialState.FAIL)
        return Outcome(trial.number, "failed", error=err)
    finally:
        trial_seconds = time.perf_counter() - started
        gc.collect()  # the trial's model, optimizer and data go before the next trial's arrive
        _empty_device_cache()
    value = trial_value(result.report, result.meta, search.metric)
    if value is None:
        trial.set_user_attr("error", f"no dev {search.metric} to optimise (is there a dev split?)")
        study.tell(trial, state=TrialState.FAIL)
        error = ConfigError(f"trial {trial.number} has no dev {search.metric}: tuning needs a dev split")
        return Outcome(trial.number, "failed", error=error)
    trial.set_user_attr("seconds", round(trial_seconds, 2))
    study.tell(trial, value)
    return Outcome(trial.number, "complete", value=value)


def _empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- the best artifact and the weights of the others ---------------------------------------------


def best_trial(study: Any, search: Search) -> Any | None:
    """The complete trial with the best value (the first of equals), by the tune metric's direction."""
    from optuna.trial import TrialState

    best = None
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.value is not None and search.better(trial.value, None if best is None else best.value):
            best = trial
    return best


def _link_or_copy(source: str, target: str) -> None:
    # the copy shares the trial's files (no second copy of the weights on disk) where links work
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def publish_best(out: Path, trial_dir: Path) -> Path:
    """Copy a trial's artifact to ``OUT/best`` through a temporary directory and a rename; the paths
    it records (relative to the artifact) are rewritten for the new place."""
    best = out / TUNE_BEST_DIR
    staging = out / f".{TUNE_BEST_DIR}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(trial_dir, staging, copy_function=_link_or_copy)
    write_meta(relocate(read_meta(trial_dir), trial_dir, best), staging)  # a new file: the link is broken
    for file_name, key in (("config.json", "_name_or_path"), ("adapter_config.json", "base_model_name_or_path")):
        path = staging / file_name
        values = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        recorded = values.get(key)
        source = artifact_path(recorded, trial_dir) if isinstance(recorded, str) else None
        if source is not None and not Path(str(recorded)).is_absolute() and source.exists():
            values[key] = portable_path(source, best)
            write_json(values, path)
    old = out / f".{TUNE_BEST_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if best.exists():
        os.replace(best, old)
    os.replace(staging, best)
    shutil.rmtree(old, ignore_errors=True)
    return best


def has_weights(directory: Path) -> bool:
    return directory.is_dir() and any(p.suffix in WEIGHT_SUFFIXES for p in directory.iterdir() if p.is_file())


def drop_weights(study: Any, out: Path, keep: int | None) -> None:
    """Delete the model weights of every finished trial but ``keep`` (their reports stay)."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        directory = out / TRIALS_DIR / _trial_name(trial.number)
        if trial.number == keep or not directory.is_dir():
            continue
        for path in directory.iterdir():
            if path.is_file() and path.suffix in WEIGHT_SUFFIXES:
                path.unlink()


# -- the command ----------------------------------------------------------------------------------


def tune(
    config_path: str | Path | None,
    *,
    output_dir: str | Path,
    trials: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    timeout_minutes: float | None = None,
    keep_all: bool = False,
    console: Console | None = None,
) -> TuneResult:
    """Search the config's ``tune.space`` (or the method's default space) with ``trials`` trials in
    all (default ``tune.trials``); see the module's docstring. Running it again on the same
    ``output_dir`` continues the study. ``timeout_minutes``: start no trial after this long."""
    from optuna.trial import TrialState

    from tunelab.training.distributed import process_state
    from tunelab.workflow.tune_report import write_summary

    console = console or Console(stderr=True)
    if process_state().num_processes > 1:
        raise ConfigError("tunelab tune runs its trials in one process; start it without torchrun / accelerate launch")
    overrides = list(overrides)
    config = load_config(config_path, overrides)
    n_trials = trials if trials is not None else config.tune.trials
    if n_trials < 1:
        raise ConfigError(f"--trials must be at least 1 (got {n_trials})")
    if timeout_minutes is not None and timeout_minutes <= 0:
        raise ConfigError(f"--timeout must be a positive number of minutes (got {timeout_minutes})")
    search = resolve_search(config)
    check_space(config_path, overrides, config, search)
    if config.tune.sampler == "grid" and n_trials > grid_size(search):
        console.print(f"the grid has {grid_size(search)} combinations: {grid_size(search)} trials, not {n_trials}")
        n_trials = grid_size(search)
    out = Path(output_dir).expanduser().resolve()
    check_tune_output(out)
    (out / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    study = open_study(out, config, search, n_trials)
    recover(study, out, console)
    space = ", ".join(f"{k} {s.describe()}" for k, s in search.space.items())
    console.print(f"tuning dev {search.metric} ({search.direction}imise), {config.tune.sampler} sampler: {space}")
    started = time.monotonic()
    failures: list[Any] = []
    finished = (TrialState.COMPLETE, TrialState.PRUNED)

    def done() -> int:
        return len(study.get_trials(deepcopy=False, states=finished))

    best = best_trial(study, search)
    if best is not None and not (out / TUNE_BEST_DIR / META_FILE).is_file():  # killed before it was copied
        publish_best(out, out / TRIALS_DIR / _trial_name(best.number))
    while done() < n_trials:
        if timeout_minutes is not None and time.monotonic() - started > 60 * timeout_minutes:
            console.print(f"--timeout {timeout_minutes:g} min reached: no further trial started")
            break
        outcome = run_trial(study, out, config_path, overrides, config, search, console, f"{done() + 1} of {n_trials}")
        if outcome.state == "failed":
            error = outcome.error
            console.print(f"[red]trial {outcome.number} failed:[/] {error}", highlight=False)
            write_summary(out, study, search, n_trials)
            if isinstance(error, TunelabError):  # the data or the config: every trial would fail alike
                raise error
            failures.append(error)
            if len(failures) >= MAX_FAILURES_IN_A_ROW:
                raise TunelabError(f"{len(failures)} trials in a row failed; the last: {error}") from error
            continue
        failures.clear()
        if outcome.state == "pruned":
            console.print(f"trial {outcome.number} [yellow]pruned[/] at evaluation {(outcome.step or 0) + 1}")
        else:
            previous, best = best, best_trial(study, search)
            assert best is not None  # this trial at least
            new_best = previous is None or best.number != previous.number
            if new_best:
                publish_best(out, out / TRIALS_DIR / _trial_name(best.number))
            mark = " [green](best so far: copied to best/)[/]" if new_best else f" (best: trial {best.number})"
            console.print(f"trial {outcome.number} complete: dev {search.metric} {outcome.value:.4f}{mark}")
        if not keep_all:
            drop_weights(study, out, best.number if best is not None else None)
        write_summary(out, study, search, n_trials)
    summary = write_summary(out, study, search, n_trials, console=console)
    best = best_trial(study, search)
    return TuneResult(out, best.number if best else None, best.value if best else None, summary)
