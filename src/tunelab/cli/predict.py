from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from tunelab.errors import TunelabError


def write_predictions(records: list[dict[str, Any]], path: Path, task) -> None:
    """CSV/TSV (the task's columns) or JSONL, by extension; written to a temporary file, then renamed."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv", ".tsv"):
        raise TunelabError(f"cannot write predictions to {path}: use a .csv, .tsv or .jsonl file name")
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        if suffix in (".jsonl", ".ndjson"):
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            writer = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
            header, rows = task.record_table(records)
            writer.writerow(header)
            writer.writerows(rows)
    os.replace(tmp, path)


def predict_cli(
    artifact: Path = typer.Argument(..., help="A trained tunelab artifact directory."),
    texts: Optional[list[str]] = typer.Argument(None, help="Texts to predict (pair models: see --pair)."),
    pairs: Optional[list[str]] = typer.Option(
        None, "--pair", "-p", help="Second text of a pair, once per text (models trained on text pairs)."
    ),
    input_file: Optional[Path] = typer.Option(None, "-i", "--input", help="CSV/TSV/JSONL file of texts."),
    output_file: Optional[Path] = typer.Option(None, "-o", "--output", help="Write predictions here (.csv or .jsonl)."),
    text_column: Optional[str] = typer.Option(None, help="Text column of the input file."),
    text_pair_column: Optional[str] = typer.Option(None, help="Second-text column of the input file (pair models)."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="How many labels with scores to return per text."),
    batch_size: int = typer.Option(64, help="Texts per forward pass."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Predict with scores for texts (or text pairs) given inline or in a file.

    Examples:
      tunelab predict runs/banking77 "I lost my card"
      tunelab predict runs/stsb "A man plays a guitar." --pair "Someone is playing a guitar."
      tunelab predict runs/banking77 -i questions.csv -o predictions.csv
    """
    from tunelab.inference.predictor import load
    from tunelab.workflow.evaluate import read_for_artifact

    if not texts and input_file is None:
        raise TunelabError("give texts to predict or an input file with -i FILE")
    predictor = load(artifact, batch_size=batch_size)
    examples = predictor.task.make_examples(list(texts), text_pairs=list(pairs) if pairs else None) if texts else []
    if pairs and not texts:
        raise TunelabError("--pair gives the second text of an inline text; give the texts too")
    if input_file is not None:
        examples += read_for_artifact(
            predictor, input_file, text_column=text_column, text_pair_column=text_pair_column, require_labels=False
        )
    records = predictor.records_for(examples, top_k=top_k)
    if output_file is not None:
        write_predictions(records, output_file, predictor.task)
        Console(stderr=True).print(f"wrote {len(records)} predictions to {output_file}")
        return
    if as_json:
        for record in records:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    header, rows = predictor.task.terminal_rows(records)
    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
