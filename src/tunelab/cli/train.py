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
    merge: bool = typer.Option(False, "--merge", help="Save a merged plain model (lora, adalora, ia3, frozen)."),
) -> None:
    """Fine-tune a model on a labelled file, evaluate it and save the artifact."""
    from tunelab.workflow.train import train

    cfg = load_config(config, list(overrides) + (["method.merge=true"] if merge else []))
    train(cfg, output_dir=output, overwrite=overwrite or None, resume=resume)
