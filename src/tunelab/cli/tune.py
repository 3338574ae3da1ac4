from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def tune_cli(
    config: Path = typer.Argument(..., help="YAML config; its tune: section holds the search space."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Study directory: study.db, trials/, best/ (the best trial's artifact)."
    ),
    trials: Optional[int] = typer.Option(
        None, "--trials", "-n", help="Trials in all, finished or pruned (default: tune.trials)."
    ),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: --set training.epochs=2 (repeatable)."),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", help="Minutes after which no further trial is started (the running one finishes)."
    ),
    keep_all: bool = typer.Option(
        False, "--keep-all", help="Keep every trial's model weights (default: only the best trial's)."
    ),
) -> None:
    """Search hyper-parameters with optuna: one training run per trial, the best trial's artifact in OUT/best.

    The space is tune.space in the config (default: the method's, docs/tuning.md); bad trials are
    pruned on their dev metric. Running the same command again continues the study to --trials
    trials in all; Ctrl-C stops after the current trial's checkpoint. `tunelab evaluate OUT FILE`
    and `tunelab.load(OUT)` use OUT/best.

    Examples:
      tunelab tune examples/banking77.yaml --trials 6 --set training.epochs=2 -o runs/banking77-tune
      tunelab tune config.yaml -o runs/tune --timeout 120
    """
    from tunelab.workflow.tune import tune

    tune(
        config,
        output_dir=output,
        trials=trials,
        overrides=list(overrides),
        timeout_minutes=timeout,
        keep_all=keep_all,
    )
