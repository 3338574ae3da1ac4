"""`tunelab check CONFIG`: the data checks of tunelab.workflow.check, without training."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from tunelab.config import load_config


def check_cli(
    config: Path = typer.Argument(
        ..., help="YAML config (see `tunelab init TASK`); its data is read as `train` reads it."
    ),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: --set data.dev=dev.csv (repeatable)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON here."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any warning was found (for CI)."),
    min_examples: int = typer.Option(
        5, "--min-examples", min=1, help="Report classes with fewer examples than this in a split."
    ),
    max_imbalance: float = typer.Option(
        10.0, "--max-imbalance", min=1.0, help="Report train imbalance above this largest/smallest class ratio."
    ),
) -> None:
    """Check the data of a config without training: duplicates, train/dev/test overlap, rare and
    imbalanced classes, texts that will be truncated, conflicting labels, and the task's own facts.

    Exit 0 when the data reads (warnings are shown), 1 with --strict when there are warnings,
    2 when the data or config has an error.

    Example: tunelab check config.yaml --set data.dev=dev.csv --json check.json --strict
    """
    from tunelab.workflow.check import check_data

    cfg = load_config(config, list(overrides))
    report = check_data(
        cfg,
        min_examples=min_examples,
        max_imbalance=max_imbalance,
        json_out=json_out,
        overwrite=overwrite,
        inputs=[config],
        console=Console(),
    )
    if strict and report["warnings"]:
        raise typer.Exit(1)
