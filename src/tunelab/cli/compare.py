"""`tunelab compare RUN [RUN ...]`: the runs' differing config keys and metrics side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


def compare_cli(
    runs: list[Path] = typer.Argument(..., help="Trained tunelab artifact directories (one or more)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the comparison as JSON here."),
    plot_out: Optional[Path] = typer.Option(
        None, "--plot", help="Write a PNG of every run's dev metric and train loss against the step here."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json or --plot file."),
) -> None:
    """Compare trained runs: the config keys whose values differ, the report's dev and test
    metrics, the best dev metric and its step, training time and speed, weights size and
    trainable parameters. Reads only the artifacts' files; nothing is loaded or scored.

    Examples:

      tunelab compare runs/full runs/lora

      tunelab compare runs/* --json compare.json --plot compare.png --overwrite
    """
    from tunelab.workflow.compare import compare_runs

    compare_runs(runs, json_out=json_out, plot_out=plot_out, overwrite=overwrite, console=Console())
