"""`tunelab ensemble ARTIFACT... -o OUT`: one artifact made of several of one task and labels."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


def ensemble_cli(
    artifacts: list[Path] = typer.Argument(
        ..., help="Two or more trained artifacts of one task, the same labels and one tokenizer."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Directory of the ensemble artifact."),
    combine: str = typer.Option(
        "mean",
        "--combine",
        help="mean: average the probabilities (numbers for regression); vote: majority of the predicted "
        "classes (ties: the mean probability); weighted: weighted mean, weights tuned on --dev.",
    ),
    dev: Optional[Path] = typer.Option(
        None, "--dev", help="Labelled file: score each member and the ensemble (required for weighted)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing output, once the new ensemble is complete."
    ),
    batch_size: int = typer.Option(64, help="Texts per forward pass on --dev."),
) -> None:
    """Combine trained artifacts into one ensemble artifact that `tunelab evaluate`, `predict`,
    `serve` and tunelab.load use like any other. The members are copied into OUT/members/, so OUT
    can be moved on its own. With --dev, prints each member's dev metric and the ensemble's.

    Examples:

      tunelab ensemble runs/seed1 runs/seed2 runs/seed3 -o runs/ensemble

      tunelab ensemble runs/seed* -o runs/ensemble --combine weighted --dev data/dev.csv --overwrite
    """
    from tunelab.workflow.ensemble import build_ensemble, summary

    status = Console(stderr=True)
    result = build_ensemble(
        artifacts,
        output,
        combine=combine,
        dev=dev,
        overwrite=overwrite,
        batch_size=batch_size,
        log=lambda message: status.print(message, highlight=False, markup=False),
    )
    console = Console()
    if result.rows:
        console.print(summary(result))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    weights = ", ".join(f"{w:.3f}" for w in result.meta["ensemble"]["weights"])
    console.print(
        f"ensemble of {len(artifacts)} artifacts ({combine}; weights {weights}) written to {output}",
        highlight=False,
        markup=False,
    )
