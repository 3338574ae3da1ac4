from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tunelab.config import load_config


def train_cli(
    config: Path = typer.Argument(..., help="YAML config (see `tunelab init TASK`)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Artifact directory (default: output.dir)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: --set training.epochs=3 (repeatable)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing artifact, once the new one is complete."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    merge: bool = typer.Option(False, "--merge", help="Save a merged plain model (lora, adalora, ia3, frozen)."),
) -> None:
    """Fine-tune a model on a labelled file, evaluate it and save the artifact.

    Runs unchanged under `torchrun` / `accelerate launch` for several processes (docs/distributed.md)."""
    from tunelab.workflow.train import train

    cfg = load_config(config, list(overrides) + (["method.merge=true"] if merge else []))
    try:
        train(cfg, output_dir=output, overwrite=overwrite or None, resume=resume)
    finally:
        _end_process_group()


def _end_process_group() -> None:
    """Under torchrun / accelerate launch: leave the process group before exiting, as PyTorch
    asks (NCCL warns otherwise). Only the main process writes the report, after the others have
    returned; nothing here waits for anyone."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
