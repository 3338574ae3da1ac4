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


def write_predictions(records: list[dict[str, Any]], path: Path) -> None:
    """CSV (one row per text, top labels as extra columns) or JSONL, by extension; atomic."""
    suffix = path.suffix.lower()
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        if suffix in (".jsonl", ".ndjson"):
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif suffix in (".csv", ".tsv") and records and "entities" in records[0]:
            writer = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
            writer.writerow(["text", "entities"])
            for r in records:
                writer.writerow([r["text"], json.dumps(r["entities"], ensure_ascii=False)])
        elif suffix in (".csv", ".tsv"):
            writer = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
            k = max((len(r["top"]) for r in records), default=1)
            pair = any("text_pair" in r for r in records)
            multi = any("labels" in r for r in records)
            header = ["text"] + (["text_pair"] if pair else []) + (["labels"] if multi else ["label", "score"])
            header += [f"{kind}_{i + 1}" for i in range(k) for kind in ("top_label", "top_score")] if k > 1 else []
            writer.writerow(header)
            for r in records:
                row = [r["text"]] + ([r.get("text_pair", "")] if pair else [])
                row += ["|".join(r["labels"])] if multi else [r["label"], f"{r['score']:.6f}"]
                if k > 1:
                    for top in r["top"]:
                        row += [top["label"], f"{top['score']:.6f}"]
                writer.writerow(row)
        else:
            tmp.unlink(missing_ok=True)
            raise TunelabError(f"cannot write predictions to {path}: use a .csv, .tsv or .jsonl file name")
    os.replace(tmp, path)


def predict_cli(
    artifact: Path = typer.Argument(..., help="A trained tunelab artifact directory."),
    texts: Optional[list[str]] = typer.Argument(None, help="Texts to classify."),
    input_file: Optional[Path] = typer.Option(None, "-i", "--input", help="CSV/TSV/JSONL file of texts."),
    output_file: Optional[Path] = typer.Option(None, "-o", "--output", help="Write predictions here (.csv or .jsonl)."),
    text_column: Optional[str] = typer.Option(None, help="Text column of the input file."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="How many labels with scores to return per text."),
    batch_size: int = typer.Option(64, help="Texts per forward pass."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Predict labels (or entities) with scores for texts given inline or in a file."""
    from tunelab.inference.predictor import load
    from tunelab.workflow.evaluate import read_for_artifact

    if not texts and input_file is None:
        raise TunelabError("give texts to classify or an input file with -i FILE")
    predictor = load(artifact, batch_size=batch_size)
    examples = predictor.task.make_examples(list(texts)) if texts else []
    if input_file is not None:
        examples += read_for_artifact(predictor, input_file, text_column=text_column, require_labels=False)
    records = predictor.records_for(examples, top_k=top_k)
    if output_file is not None:
        write_predictions(records, output_file)
        Console(stderr=True).print(f"wrote {len(records)} predictions to {output_file}")
        return
    if as_json:
        for record in records:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    Console().print(predictions_table(records))


def predictions_table(records: list[dict[str, Any]]) -> Table:
    if records and "entities" in records[0]:
        table = Table("text", "entities")
        for r in records:
            table.add_row(r["text"], "\n".join(
                f"{e['type']}: {e['text']} [{e['start']}, {e['end']}) {e['score']:.3f}" for e in r["entities"]
            ) or "-")
        return table
    table = Table("text", "prediction", "top labels")
    for r in records:
        pred = ", ".join(r["labels"]) if "labels" in r else f"{r['label']} ({r['score']:.3f})"
        table.add_row(r["text"], pred, ", ".join(f"{t['label']} {t['score']:.3f}" for t in r["top"]))
    return table
