"""Few-shot BANKING77: 8 examples per intent, several ways, over several seeded draws.

For each seed, 8 texts per intent (616 in all) are drawn from the shipped data/banking77/train.csv
and each arm trains on exactly those texts, each in its own `tunelab train` process, scored on the
shipped dev split (data/banking77/dev.csv; the official test set is held back):

- contrastive: examples/banking77_fewshot.yaml with method full (training.strategy contrastive:
  SetFit's stage 1, the body on sampled pairs, then a logistic-regression head, C by cross-validation);
- full: plain full fine-tuning, examples/banking77.yaml with training.strategy standard (more epochs
  than for the full data: 616 texts are 20 steps an epoch);
- frozen_lr: examples/banking77_fewshot.yaml as shipped (method frozen: stage 1 has nothing to train,
  the head is a logistic regression on the pretrained embeddings, C by cross-validation);
- contrastive_c1, frozen_lr_c1: the same with C = 1.0, scikit-learn's and SetFit's default (frozen_lr_c1
  is the recipe of the 0.798 anchor of issue 14, there on test).

The table gives the mean and standard deviation of dev accuracy over the draws and the training time;
--json writes every figure.

    python benchmarks/few_shot.py [--seeds 1,2,3] [--shots 8] [--arms contrastive,full,frozen_lr]
                                  [--full-epochs 20] [--out runs/few_shot] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "banking77"
FEW_SHOT = ROOT / "examples" / "banking77_fewshot.yaml"
FULL = ROOT / "examples" / "banking77.yaml"


def draw(seed: int, shots: int, target: Path) -> int:
    """``shots`` texts per label from the shipped train split, seeded, in file order; the CSV's rows."""
    with (DATA / "train.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row["category"], []).append(i)
    rng = random.Random(seed)
    chosen = sorted(i for label in sorted(by_label) for i in rng.sample(by_label[label], shots))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "category"])
        writer.writerows([rows[i]["text"], rows[i]["category"]] for i in chosen)
    return len(chosen)


def arm_command(arm: str, train_file: Path, out: Path, seed: int, full_epochs: float) -> list[str]:
    common = ["--overwrite", "--set", f"data.train={train_file}", "--set", f"training.seed={seed}"]
    command = [sys.executable, "-m", "tunelab.cli.app", "train"]
    c1 = ["--set", "training.contrastive.head_c=1.0"]  # scikit-learn's (and SetFit's) default C
    if arm in ("contrastive", "contrastive_c1"):
        full = [*common, "--set", "method.name=full"]
        return command + [str(FEW_SHOT), "-o", str(out), *full, *(c1 if arm.endswith("_c1") else [])]
    if arm in ("frozen_lr", "frozen_lr_c1"):  # the shipped config: method frozen
        return command + [str(FEW_SHOT), "-o", str(out), *common, *(c1 if arm.endswith("_c1") else [])]
    if arm == "full":
        return command + [
            str(FULL),
            "-o",
            str(out),
            *common,
            "--set",
            "training.strategy=standard",
            "--set",
            f"training.epochs={full_epochs}",
            "--set",
            "training.early_stopping.patience=null",
        ]
    raise SystemExit(f"unknown arm {arm}; choose contrastive, contrastive_c1, full, frozen_lr, frozen_lr_c1")


def run_arm(arm: str, seed: int, train_file: Path, out: Path, full_epochs: float, console: Console) -> dict:
    target = out / f"seed-{seed}" / arm
    started = time.perf_counter()
    done = subprocess.run(arm_command(arm, train_file, target, seed, full_epochs), capture_output=True, text=True)
    wall = time.perf_counter() - started
    (out / f"seed-{seed}").mkdir(parents=True, exist_ok=True)
    (out / f"seed-{seed}" / f"{arm}.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        console.print(f"[red]{arm} (seed {seed}) failed[/]\n{done.stderr[-2000:]}")
        return {"arm": arm, "seed": seed, "error": done.stderr[-500:]}
    meta = json.loads((target / "tunelab.json").read_text(encoding="utf-8"))
    strategy = meta["training"].get("strategy") or {}
    result = {
        "arm": arm,
        "seed": seed,
        "dev_accuracy": meta["metrics"]["accuracy"],
        "dev_macro_f1": meta["metrics"].get("macro_f1"),
        "train_seconds": meta["training"]["seconds"],
        "wall_seconds": round(wall, 1),
        "strategy": strategy.get("name"),
    }
    console.print(f"seed {seed} {arm}: dev accuracy {result['dev_accuracy']:.4f} ({wall:.0f} s)")
    return result


def summarise(results: list[dict], arms: list[str]) -> dict[str, dict]:
    summary = {}
    for arm in arms:
        values = [r["dev_accuracy"] for r in results if r["arm"] == arm and "dev_accuracy" in r]
        seconds = [r["train_seconds"] for r in results if r["arm"] == arm and "train_seconds" in r]
        summary[arm] = {
            "runs": len(values),
            "mean": round(statistics.mean(values), 4) if values else None,
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0 if values else None,
            "min": min(values, default=None),
            "max": max(values, default=None),
            "train_seconds_mean": round(statistics.mean(seconds), 1) if seconds else None,
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--arms", default="contrastive,full,frozen_lr")
    parser.add_argument("--full-epochs", type=float, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "few_shot")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console(stderr=True)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    results = []
    for seed in seeds:
        train_file = args.out / f"seed-{seed}" / f"train_{args.shots}shot.csv"
        count = draw(seed, args.shots, train_file)
        console.print(f"seed {seed}: {count} training texts ({args.shots} per intent)")
        for arm in arms:
            results.append(run_arm(arm, seed, train_file, args.out, args.full_epochs, console))
    summary = summarise(results, arms)
    table = Table(title=f"BANKING77, {args.shots} examples per intent, dev accuracy over seeds {args.seeds}")
    for column in ("arm", "mean", "std", "min", "max", "runs", "train s (mean)"):
        table.add_column(column)
    for arm, s in summary.items():
        shown = [f"{s[k]:.4f}" if isinstance(s[k], float) else "-" for k in ("mean", "std", "min", "max")]
        table.add_row(arm, *shown, str(s["runs"]), f"{s['train_seconds_mean'] or 0:.0f}")
    Console().print(table)
    payload = {"shots": args.shots, "seeds": seeds, "split": "dev", "summary": summary, "runs": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
