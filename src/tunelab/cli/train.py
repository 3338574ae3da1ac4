from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tunelab.config import load_config
from tunelab.errors import ConfigError


def train_cli(
    config: Path = typer.Argument(..., help="YAML config (see `tunelab init TASK`)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Artifact directory (default: output.dir)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: --set training.epochs=3 (repeatable)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing artifact, once the new one is complete."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run from its newest checkpoint (config and data checked)."
    ),
    allow_changes: bool = typer.Option(
        False, "--allow-changes", help="With --resume: accept deliberate config changes such as more epochs."
    ),
    restart: bool = typer.Option(
        False, "--restart", help="Delete an interrupted run's checkpoints and start over (refused otherwise)."
    ),
    merge: bool = typer.Option(False, "--merge", help="Save a merged plain model (lora, adalora, ia3, frozen)."),
) -> None:
    """Fine-tune a model on a labelled file, evaluate it and save the artifact.

    Checkpoints are written every training.checkpoint.every_steps steps / every_minutes minutes and on
    Ctrl-C or SIGTERM; --resume continues from the newest. Runs unchanged under `torchrun` /
    `accelerate launch` for several processes (docs/distributed.md).

    Examples:
      tunelab train examples/banking77.yaml -o runs/banking77
      tunelab train config.yaml --set training.epochs=3 --set method.name=lora
      tunelab train config.yaml --resume
      tunelab train config.yaml --resume --allow-changes --set training.epochs=8
    """
    from tunelab.workflow.train import train

    if allow_changes and not resume:
        raise ConfigError("--allow-changes applies to --resume; add --resume")
    if resume and restart:
        raise ConfigError("--resume continues an interrupted run and --restart deletes it: choose one")

    cfg = load_config(config, list(overrides) + (["method.merge=true"] if merge else []))
    try:
        train(
            cfg,
            output_dir=output,
            overwrite=overwrite or None,
            resume=resume,
            restart=restart,
            allow_changes=allow_changes,
        )
    finally:
        _end_process_group()


def _end_process_group() -> None:
    """Under torchrun / accelerate launch: leave the process group before exiting, as PyTorch
    asks (NCCL warns otherwise). Only the main process writes the report, after the others have
    returned; nothing here waits for anyone."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
