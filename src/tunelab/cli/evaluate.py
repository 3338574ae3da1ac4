from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


def evaluate_cli(
    artifact: Path = typer.Argument(..., help="A trained tunelab artifact directory."),
    data: Path = typer.Argument(..., help="Labelled CSV/TSV/JSONL file."),
    text_column: Optional[str] = typer.Option(None, help="Text column (default: as in training, else detected)."),
    text_pair_column: Optional[str] = typer.Option(None, help="Second text column for pairs."),
    label_column: Optional[str] = typer.Option(None, help="Label column (default: as in training, else detected)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON here."),
    html_out: Optional[Path] = typer.Option(
        None, "--html", help="Write a self-contained HTML report here (metrics, worst errors, plots; opens offline)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json or --html file."),
    batch_size: int = typer.Option(64, help="Texts per forward pass."),
    perturb: Optional[str] = typer.Option(
        None,
        "--perturb",
        help="Also score perturbed copies of the file, one per name and 'all' of them together: typos, case, "
        "punctuation (and for text tasks synonym, swap, delete, insert, eda); comma-separated. Labels are kept.",
    ),
    perturb_seed: int = typer.Option(0, "--perturb-seed", help="Seed of the perturbations (same seed: same copies)."),
    perturb_p: float = typer.Option(0.1, "--perturb-p", help="Share of the words each perturbation changes."),
) -> None:
    """Score an artifact on a labelled file: the same numbers as the training-time report.

    Examples:

      tunelab evaluate runs/banking77 data/test.csv

      tunelab evaluate runs/banking77 data/test.csv --json reports/test.json --overwrite

      tunelab evaluate runs/banking77 data/test.csv --html reports/test.html

      tunelab evaluate runs/banking77 data/test.csv --perturb typos,case,punctuation --json reports/robust.json
    """
    from tunelab.workflow.evaluate import evaluate_artifact

    evaluate_artifact(
        artifact,
        data,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        json_out=json_out,
        html_out=html_out,
        overwrite=overwrite,
        batch_size=batch_size,
        console=Console(),
        perturb=[perturb] if perturb is not None else None,
        perturb_seed=perturb_seed,
        perturb_p=perturb_p,
    )
