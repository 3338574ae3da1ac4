"""Training methods side by side on the same classification data and budget.

Each method trains in its own process (so peak RSS is its own) from the same config, with the
learning rate that suits it, and the table shows dev accuracy, trainable parameters, the size
of the stored weights, training speed and peak RSS.

    python benchmarks/methods.py [--config examples/banking77.yaml] [--methods full,lora,ia3]
                                 [--epochs 6] [--out runs/methods] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunelab.config_methods import METHOD_CONFIGS

ROOT = Path(__file__).resolve().parents[1]
# No per-method overrides: each method brings its own measured defaults (learning rate, rank,
# target modules: tunelab/config_methods.py); full fine-tuning uses the config's training.learning_rate.
SETTINGS: dict[str, list[str]] = {}


def run(method: str, config: Path, epochs: float, out: Path, console: Console) -> dict:
    target = out / method
    command = [
        sys.executable,
        "-m",
        "tunelab.cli.app",
        "train",
        str(config),
        "-o",
        str(target),
        "--overwrite",
        "--set",
        f"method.name={method}",
        "--set",
        f"training.epochs={epochs}",
        "--set",
        "training.early_stopping.patience=null",
    ]
    for item in SETTINGS.get(method, []):
        command += ["--set", item]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        console.print(f"[red]{method} failed[/]\n{done.stderr[-2000:]}")
        return {"method": method, "error": done.stderr[-500:]}
    meta = json.loads((target / "tunelab.json").read_text())
    return {
        "method": method,
        "dev_accuracy": meta["metrics"]["accuracy"],
        "trainable_parameters": meta["method"]["parameters"]["trainable"],
        "trainable_share": meta["method"]["parameters"]["share"],
        "weights_mb": round(meta["method"]["weights_bytes"] / 1e6, 2),
        "samples_per_second": meta["training"]["samples_per_second"],
        "peak_rss_mb": meta["training"]["peak_rss_mb"],
        "wall_seconds": round(time.perf_counter() - started, 1),
        "settings": SETTINGS.get(method, []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "banking77.yaml")
    parser.add_argument("--methods", default=",".join(METHOD_CONFIGS))
    parser.add_argument("--epochs", type=float, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "methods")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    console = Console()
    rows = []
    for method in args.methods.split(","):
        console.print(f"training {method} ...")
        rows.append(run(method, args.config, args.epochs, args.out, console))
        console.print(rows[-1])
    table = Table(
        "method",
        "dev accuracy",
        "trainable params",
        "share",
        "weights MB",
        "samples/s",
        "peak RSS MB",
        title=f"{args.config.name}, {args.epochs:g} epochs",
    )
    for r in rows:
        if "error" in r:
            table.add_row(r["method"], "failed", "", "", "", "", "")
            continue
        table.add_row(
            r["method"],
            f"{r['dev_accuracy']:.4f}",
            f"{r['trainable_parameters']:,}",
            f"{100 * r['trainable_share']:.2f}%",
            f"{r['weights_mb']:.2f}",
            f"{r['samples_per_second']:.1f}",
            f"{r['peak_rss_mb']}",
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
