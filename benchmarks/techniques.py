"""Ablation of the training techniques (docs/techniques.md): each on small data, 3 seeds, clean and perturbed dev.

Settings (each from data the project may read; the dev files are the official dev splits):

  banking10   BANKING77, 10 training questions per intent (770; drawn once, seed 0) from the shipped
              train.csv; dev: the shipped dev.csv (1,005).
  sst2-500    SST-2, 500 training sentences drawn once (seed 0) from ../shared/data/sst2/train.tsv;
              dev: its dev.tsv (872).
  wnut-500    WNUT-17, 500 training sentences drawn once (seed 0) from the shipped train.conll; dev:
              the shipped dev.conll (1,009 sentences).

Cells: baseline (full fine-tuning with the setting's recipe), fgm, pgd, freelb, rdrop, ema, llrd,
eda, synonym, typos (augmentation), noise (typos + punctuation, as examples/banking77_robust.yaml), ensemble
(`tunelab ensemble` of the 3 baseline seeds, mean of probabilities). Every cell trains 3 seeds
(42, 13, 7) with the same data and recipe; only the technique changes. Evaluation happens once,
at the end of training (no checkpoint is picked on the dev set that is reported).

Metrics per run: the dev metric (accuracy; entity F1 for WNUT-17) on the clean dev file and on
perturbed copies (`tunelab evaluate --perturb typos,case,punctuation`, seed 0: each perturbation
alone and all together; the table shows "all"), and the training seconds. A cell's figure is the
mean and the standard deviation over the seeds; time is relative to the baseline's mean.

    python benchmarks/techniques.py [--settings banking10,sst2-500,wnut-500] [--cells baseline,fgm,...]
        [--seeds 42,13,7] [--out runs/bench-techniques] [--data-dir ../shared/data]

Before the first timed run, one untimed epoch of the first setting's baseline takes the process's
one-time costs (the first training in a process was 10-30% slower; --no-warmup skips it).
Results are cached per run in OUT/results.json: running again skips what is done (so the ablation
can be run in pieces); OUT/techniques.md gets the table. Runs happen one after another in this
process; only the baseline artifacts are kept (the ensemble is built from them).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import random
import re
import shutil
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (42, 13, 7)
PERTURB = "typos,case,punctuation"

# Recipes: full fine-tuning of the packaged MiniLM, evaluated once at the end.
COMMON = [
    "model.name=minilm",
    "training.eval_steps=1000000",  # evaluate at the end only
    "training.early_stopping.patience=null",
    "training.checkpoint.every_steps=null",
    "training.checkpoint.every_minutes=null",
    "training.trackers=[]",
    "output.plots=false",
    "output.overwrite=true",
]
SETTINGS = {
    "banking10": {
        "task": "text_classification",
        "metric": "accuracy",
        "overrides": ["training.epochs=8", "training.batch_size=16", "training.learning_rate=4e-4"],
    },
    "sst2-500": {
        "task": "text_classification",
        "metric": "accuracy",
        "overrides": ["training.epochs=6", "training.batch_size=16", "training.learning_rate=1e-4"],
    },
    "wnut-500": {
        "task": "token_classification",
        "metric": "f1",
        "overrides": ["training.epochs=8", "training.batch_size=16", "training.learning_rate=2e-4"],
    },
}
CELLS = {  # in the order they run: the cheap ones first, so a partial run has the most cells
    "baseline": [],
    "ensemble": None,  # built from the baseline seeds
    "ema": ["training.ema=0.99"],
    "llrd": ["training.layer_decay=0.8"],
    "fgm": ["training.adversarial.name=fgm"],
    "rdrop": ["training.rdrop=1.0"],
    "typos": ["augment.ops=[typos]"],
    "noise": ["augment.ops=[typos,punctuation]"],
    "synonym": ["augment.ops=[synonym]"],
    "eda": ["augment.ops=[eda]"],
    "pgd": ["training.adversarial.name=pgd"],
    "freelb": ["training.adversarial.name=freelb"],
}


def write_data(setting: str, data_dir: Path, out: Path) -> tuple[Path, Path]:
    """The setting's training subset (drawn once, seed 0) and its dev file."""
    directory = out / "data" / setting
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    if setting == "banking10":
        with open(ROOT / "data/banking77/train.csv", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        by_label: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_label[row["category"]].append(row)
        chosen = [row for label in sorted(by_label) for row in rng.sample(by_label[label], 10)]
        train = directory / "train.csv"
        with open(train, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "category"])
            writer.writeheader()
            writer.writerows(chosen)
        return train, ROOT / "data/banking77/dev.csv"
    if setting == "sst2-500":
        lines = (data_dir / "sst2/train.tsv").read_text(encoding="utf-8").splitlines()
        train = directory / "train.tsv"
        train.write_text("\n".join([lines[0], *rng.sample(lines[1:], 500)]) + "\n", encoding="utf-8")
        dev_lines = (data_dir / "sst2/dev.tsv").read_text(encoding="utf-8").splitlines()
        dev = directory / "dev.tsv"  # the dev file names its text column "content": the train file's name here
        dev.write_text("\n".join([lines[0], *dev_lines[1:]]) + "\n", encoding="utf-8")
        return train, dev
    if setting == "wnut-500":
        # sentences end at an empty line or a line of only spaces/tabs (both occur in the shipped file)
        text = (ROOT / "data/wnut17/train.conll").read_text(encoding="utf-8").strip()
        blocks = re.split(r"\n[ \t]*\n", text)
        train = directory / "train.conll"
        train.write_text("\n\n".join(rng.sample(blocks, 500)) + "\n", encoding="utf-8")
        return train, ROOT / "data/wnut17/dev.conll"
    raise SystemExit(f"unknown setting {setting}")


def score(artifact: Path, dev: Path, metric: str, out: Path) -> dict:
    """Clean and perturbed dev metrics through `tunelab evaluate --perturb` (what users run)."""
    from typer.testing import CliRunner

    from tunelab.cli.app import app

    report = out / "perturb.json"
    result = CliRunner().invoke(
        app, ["evaluate", str(artifact), str(dev), "--perturb", PERTURB, "--json", str(report), "--overwrite"]
    )
    if result.exit_code != 0:
        raise RuntimeError(f"evaluate --perturb failed: {result.output[-2000:]}")
    data = json.loads(report.read_text(encoding="utf-8"))
    return {name: rows.get(metric) for name, rows in perturbed_rows(data).items()}


def perturbed_rows(data: dict) -> dict[str, dict]:
    """{row name: metrics} from `evaluate --perturb`'s JSON: clean, each perturbation, all."""
    return data["robustness"]["metrics"]


def train_one(config_path: Path, overrides: list[str], output: Path) -> tuple[float, Path]:
    import tunelab

    config = tunelab.load_config(config_path, overrides)
    started = time.perf_counter()
    result = tunelab.train(config, output_dir=output)
    seconds = (result.meta.training or {}).get("seconds") if result.meta else None
    gc.collect()
    return float(seconds or time.perf_counter() - started), result.output_dir


def base_config(setting: str, train: Path, dev: Path, out: Path) -> Path:
    spec = SETTINGS[setting]
    path = out / "data" / setting / "config.yaml"
    lines = [
        f"task: {{name: {spec['task']}}}",
        f"data: {{train: {train.resolve()}, dev: {dev.resolve()}}}",
        f"training: {{metric: {spec['metric']}}}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cell(setting: str, cell: str, seeds: list[int], ctx: dict, results: dict, save) -> None:
    spec, config, dev, out = SETTINGS[setting], ctx["config"], ctx["dev"], ctx["out"]
    for seed in seeds:
        key = f"{setting}/{cell}/{seed}"
        if key in results:
            continue
        run_dir = out / "runs" / setting / f"{cell}-{seed}"
        if cell == "ensemble":
            members = [out / "runs" / setting / f"baseline-{s}" for s in seeds]
            if seed != seeds[0] or not all((m / "tunelab.json").exists() for m in members):
                continue
            from typer.testing import CliRunner

            from tunelab.cli.app import app

            res = CliRunner().invoke(
                app, ["ensemble", *map(str, members), "-o", str(run_dir), "--combine", "mean", "--overwrite"]
            )
            if res.exit_code != 0:
                raise RuntimeError(f"ensemble failed: {res.output[-2000:]}")
            seconds = sum(results[f"{setting}/baseline/{s}"]["seconds"] for s in seeds)
        else:
            overrides = [*COMMON, *spec["overrides"], *CELLS[cell], f"training.seed={seed}"]
            print(f"== {key}: {' '.join(CELLS[cell]) or 'baseline'}", flush=True)
            # a run this script stopped (killed) left its checkpoints: start that run over
            shutil.rmtree(run_dir.with_name(run_dir.name + ".partial"), ignore_errors=True)
            seconds, run_dir = train_one(config, overrides, run_dir)
        metrics = score(run_dir, dev, spec["metric"], run_dir.parent)
        results[key] = {"seconds": seconds, **{f"dev_{name}": value for name, value in metrics.items()}}
        print(f"   {key}: {results[key]}", flush=True)
        save()
        if cell not in ("baseline",):
            shutil.rmtree(run_dir, ignore_errors=True)


def table(results: dict, settings: list[str], cells: list[str]) -> str:
    """One markdown table per setting: clean and perturbed dev metric (mean ± sd over seeds) and relative time."""
    parts = []
    for setting in settings:
        metric = SETTINGS[setting]["metric"]
        base_times = [r["seconds"] for k, r in results.items() if k.startswith(f"{setting}/baseline/")]
        base = statistics.mean(base_times) if base_times else None
        lines = [
            f"### {setting} (dev {metric}, mean ± sd over seeds)",
            "",
            "| technique | clean | typos | case | punctuation | all perturbations | time vs baseline | seeds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for cell in cells:
            runs = [r for k, r in results.items() if k.startswith(f"{setting}/{cell}/")]
            if not runs:
                continue

            def cellfmt(name: str, runs: list[dict] = runs) -> str:
                values = [100 * r[name] for r in runs if r.get(name) is not None]
                if not values:
                    return "-"
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                return f"{statistics.mean(values):.2f} ± {sd:.2f}"

            rel = f"{statistics.mean(r['seconds'] for r in runs) / base:.2f}x" if base else "-"
            lines.append(
                f"| {cell} | {cellfmt('dev_clean')} | {cellfmt('dev_typos')} | {cellfmt('dev_case')} | "
                f"{cellfmt('dev_punctuation')} | {cellfmt('dev_all')} | {rel} | {len(runs)} |"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-techniques")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--no-warmup", action="store_true", help="skip the untimed epoch that takes the process's one-time costs"
    )
    args = parser.parse_args()
    settings, cells = args.settings.split(","), args.cells.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    store = out / "results.json"
    results = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}

    def save() -> None:
        tmp = store.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(store)
        (out / "techniques.md").write_text(table(results, settings, list(CELLS)), encoding="utf-8")

    warm = args.no_warmup
    for setting in settings:
        train, dev = write_data(setting, args.data_dir, out)
        ctx = {"config": base_config(setting, train, dev, out), "dev": dev, "out": out}
        todo = [c for c in cells if CELLS[c] is not None and any(f"{setting}/{c}/{s}" not in results for s in seeds)]
        if todo and not warm:  # the first training of a process is slower (lazy imports, kernel and allocator warm-up)
            overrides = [*COMMON, *SETTINGS[setting]["overrides"], "training.epochs=1"]
            train_one(ctx["config"], overrides, out / "runs" / "warmup")
            shutil.rmtree(out / "runs" / "warmup", ignore_errors=True)
            warm = True
        for cell in cells:
            run_cell(setting, cell, seeds, ctx, results, save)
    save()
    sys.stdout.write(table(results, settings, list(CELLS)))


if __name__ == "__main__":
    main()
