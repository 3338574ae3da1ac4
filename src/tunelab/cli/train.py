from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tunelab.config import load_config


def train_cli(
    config: Path = typer.Argument(..., help="YAML config (see `tunelab init classification`)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Artifact directory (default: output.dir)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: --set training.epochs=3 (repeatable)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing artifact, once the new one is complete."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
) -> None:
    """Fine-tune a model on a labelled file, evaluate it and save the artifact."""
    from tunelab.workflow.train import train

    cfg = load_config(config, overrides)
    train(cfg, output_dir=output, overwrite=overwrite or None, resume=resume)
