"""Out-of-scope detection on BANKING77 with unknown intents held out of training.

    .venv/bin/python benchmarks/out_of_scope.py [--seed 0] [--held-out 10] [--work runs/oos-bench]

From the shipped data/banking77 files: ``--held-out`` intents (drawn with ``--seed``) are removed from
training; the model is trained on the other intents with the recipe of examples/banking77.yaml
(``tunelab train examples/banking77.yaml --set data.train=... --set data.dev=...
--set task.out_of_scope.scorer=auto``, the command users run). The dev split is cut in two halves,
stratified by intent: the first tunes (it is the run's data.dev: the held-out intents' rows
relabelled ``oos``), the second is where every scorer is measured, so no threshold is scored on
the rows it was tuned on. The trained model is then refitted with each scorer (msp, energy,
mahalanobis, knn: the same ``fit_after_training`` the training ran, on the same tuning half) and
evaluated with ``tunelab evaluate``'s code; ``auto`` is refitted the same way (what training fits).

Writes a table to stdout and ``results.json`` in ``--work``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "banking77"
SCORERS = ("msp", "energy", "mahalanobis", "knn")
COLUMNS = ("in_scope_accuracy", "oos_recall", "oos_precision", "oos_auroc", "oos_fpr_at_95_recall", "accuracy")


def read_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [(row["text"], row["category"]) for row in csv.DictReader(fh)]


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def prepare(work: Path, seed: int, held_out: int) -> dict[str, Any]:
    """train.csv (known intents only), tune.csv and eval.csv (the two dev halves, unknown intents as oos)."""
    train, dev = read_rows(DATA / "train.csv"), read_rows(DATA / "dev.csv")
    intents = sorted({label for _, label in train})
    unknown = sorted(random.Random(seed).sample(intents, held_out))
    relabel = lambda rows: [(text, "oos" if label in unknown else label) for text, label in rows]  # noqa: E731
    tune, evaluate = [], []
    rng = random.Random(seed + 1)
    for intent in intents:  # stratified halves of dev
        rows = [row for row in dev if row[1] == intent]
        rng.shuffle(rows)
        tune += rows[: len(rows) // 2]
        evaluate += rows[len(rows) // 2 :]
    return {
        "unknown": unknown,
        "train": write_rows(work / "data" / "train.csv", [row for row in train if row[1] not in unknown]),
        "tune": write_rows(work / "data" / "tune.csv", relabel(tune)),
        "eval": write_rows(work / "data" / "eval.csv", relabel(evaluate)),
    }


def train(work: Path, files: dict[str, Any]) -> Path:
    output = work / "model"
    command = [
        str(Path(sys.executable).with_name("tunelab")),
        "train",
        str(ROOT / "examples" / "banking77.yaml"),
        "-o",
        str(output),
        "--overwrite",
        "--set",
        f"data.train={files['train']}",
        "--set",
        f"data.dev={files['tune']}",
        "--set",
        "task.out_of_scope.scorer=auto",
    ]
    subprocess.run(command, check=True)
    return output


def refit(artifact: Path, target: Path, scorer: str, files: dict[str, Any]) -> Path:
    """A copy of ``artifact`` whose out-of-scope detector is fitted again with ``scorer``."""
    from tunelab.artifact import read_meta, write_meta
    from tunelab.inference.predictor import Predictor
    from tunelab.tasks.text_classification.out_of_scope import STATS_FILE

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(artifact, target)
    (target / STATS_FILE).unlink(missing_ok=True)
    meta = read_meta(target)
    config = dict(meta.task.config)
    config["out_of_scope"] = {**config.get("out_of_scope", {}), "scorer": scorer, "threshold": None}
    state = {k: v for k, v in meta.task.state.items() if k != "out_of_scope"}
    meta.task.config, meta.task.state = config, state
    write_meta(meta, target)
    predictor = Predictor.from_artifact(target)
    parts = {name: predictor.task.read_file(files[name], meta) for name in ("train", "tune")}
    fitted = predictor.task.fit_after_training(predictor, {"train": parts["train"], "dev": parts["tune"]}, target)
    meta.task.state = {**state, **(fitted or {})}
    write_meta(meta, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="draws the held-out intents and the dev halves")
    parser.add_argument("--held-out", type=int, default=10)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "oos-bench")
    parser.add_argument("--skip-training", action="store_true", help="reuse --work/model")
    args = parser.parse_args()
    work = args.work.resolve()
    files = prepare(work, args.seed, args.held_out)
    artifact = work / "model" if args.skip_training else train(work, files)

    from tunelab.artifact import read_meta
    from tunelab.workflow.evaluate import evaluate_artifact

    results: dict[str, Any] = {"seed": args.seed, "unknown_intents": files["unknown"], "scorers": {}}
    # every detector refitted on the tuning half, auto too (with --skip-training the trained model's own
    # detector may predate the current code); the fit is the one training runs (fit_after_training)
    runs = {s: refit(artifact, work / f"refit-{s}", s, files) for s in ("auto", *SCORERS)}
    for name, path in runs.items():
        metrics = evaluate_artifact(path, files["eval"])["metrics"]
        detector = read_meta(path).task.state["out_of_scope"]
        results["scorers"][name] = {
            **{key: metrics.get(key) for key in COLUMNS},
            "scorer": detector["scorer"],
            "threshold": detector["threshold"],
            "threshold_rule": detector["threshold_rule"],
        }
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"held-out intents ({len(files['unknown'])}): {', '.join(files['unknown'])}")
    print("| scorer | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for name, row in results["scorers"].items():
        shown = name if name != "auto" else f"auto ({row['scorer']})"
        cells = " | ".join("-" if row[key] is None else f"{row[key]:.4f}" for key in COLUMNS)
        print(f"| {shown} | {cells} |")
    print(f"results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
