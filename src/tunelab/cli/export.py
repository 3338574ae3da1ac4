from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from tunelab.errors import TunelabError


def export_cli(
    artifact: Path = typer.Argument(..., help="A trained tunelab artifact directory."),
    format: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="Quantize the weights: int8 (default: fp32)."),
    output: Path = typer.Option(..., "-o", "--output", help="Directory to write the export to."),
    force: bool = typer.Option(False, "--force", help="Export even when the dev metric drops more than --max-drop."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing export, once the new one is complete."
    ),
    data: Optional[Path] = typer.Option(
        None, "--data", help="Labelled file for the parity check (default: the dev data)."
    ),
    max_drop: float = typer.Option(1.0, "--max-drop", help="Largest allowed drop of the dev metric, in points."),
    no_optimize: bool = typer.Option(False, "--no-optimize", help="Skip ONNX Runtime's graph fusions."),
) -> None:
    """Export an artifact to ONNX (optionally int8) and check it against the torch model on dev data.

    Examples:

      tunelab export runs/banking77 -o runs/banking77-onnx

      tunelab export runs/banking77 -o runs/banking77-int8 --quantize int8 --overwrite
    """
    if format.lower() != "onnx":
        raise TunelabError(f"unknown export format '{format}'; supported: onnx")
    from tunelab.artifact import is_ensemble, read_meta

    if is_ensemble(read_meta(artifact)):  # one graph per member would need its own combining runtime
        raise TunelabError(
            f"{artifact} is an ensemble (`tunelab ensemble`): ONNX export of an ensemble is not supported; "
            f"export the members ({artifact}/members/0, ...) and build the ensemble of the exports"
        )
    from tunelab.export.onnx import export_onnx

    status = Console(stderr=True)
    report = export_onnx(
        artifact,
        output,
        quantize=quantize,
        optimize=not no_optimize,
        max_metric_drop=max_drop,
        force=force,
        data=data,
        overwrite=overwrite,
        log=lambda message: status.print(message, highlight=False),
    )
    console = Console()
    console.print(parity_table(report))
    for note in report.get("notes", []):
        console.print(f"note: {note}", highlight=False)
    if not report["gate"]["passed"]:
        console.print(
            f"[yellow]warning:[/] the metric dropped more than {report['gate']['max_metric_drop']} points; "
            "exported anyway because of --force"
        )
    console.print(f"exported to {output}")


def parity_table(report: dict[str, Any]) -> Table:
    m, lat, thr, size = report["metric"], report["latency_ms"], report["throughput"], report["size_mb"]
    data = report["data"]
    table = Table("", "torch", "onnx", title=f"parity on {data['num_examples']} examples ({data['source']})")
    table.add_row(m["name"], f"{m['torch']:.4f}", f"{m['onnx']:.4f} ({-m['drop_points'] or 0.0:+.2f} points)")
    table.add_row("agreement", "", f"{report['agreement']:.2%} of {report['compared']} {report['agreement_unit']}")
    table.add_row("max |logit diff|", "", f"{report['max_abs_logit_diff']:.3g}")
    table.add_row(
        "latency p50 / p95 (ms, batch 1)",
        f"{lat['torch']['p50']:.1f} / {lat['torch']['p95']:.1f}",
        f"{lat['onnx']['p50']:.1f} / {lat['onnx']['p95']:.1f}",
    )
    table.add_row("throughput (samples/s, batch 32)", f"{thr['torch']:.0f}", f"{thr['onnx']:.0f} ({thr['ratio']:.2f}x)")
    table.add_row("model size (MB)", f"{size['torch']:.1f}", f"{size['onnx']:.1f}")
    bench = report.get("bench") or {}
    if bench:
        table.caption = f"timings on {bench['threads']} threads; load average {bench['load_average']} before timing"
    return table
