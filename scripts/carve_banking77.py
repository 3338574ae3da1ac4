"""Carve a dev split out of the official BANKING77 train set and write data/banking77/{train,dev}.csv.

BANKING77 ships only train and test; tunelab's packaged copy keeps the official test set out and
uses a stratified 10% of train as dev, carved with tunelab's own split_examples so the split is
the one a user gets from `data.split.dev: 0.1, data.split.seed: 13`.

    python scripts/carve_banking77.py [--source PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from collections import Counter
from pathlib import Path

from tunelab.data import read_examples, split_examples
from tunelab.tasks.text_classification.labels import detect_labels

REPO = Path(__file__).resolve().parents[1]
HEADER = ("text", "category")
DEV, SEED = 0.1, 13


def write_csv(path: Path, examples) -> None:
    # The csv defaults (QUOTE_MINIMAL, CRLF) match the upstream file, so unchanged rows stay byte-identical.
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows((example.text, example.label) for example in examples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared/data/banking77/train.csv")
    parser.add_argument("--out", type=Path, default=REPO / "data/banking77")
    args = parser.parse_args(argv)

    loaded = read_examples(args.source, format="csv", text_column="text", label_column="category")
    train, dev, test = split_examples(loaded.examples, dev=DEV, test=0.0, seed=SEED)
    assert not test
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "train.csv", train)
    write_csv(args.out / "dev.csv", dev)
    licence = args.source.parent / "LICENSE.upstream"
    if licence.is_file():
        shutil.copyfile(licence, args.out / "LICENSE")

    per_label = Counter(example.label for example in dev)
    print(f"source: {args.source} ({len(loaded.examples)} rows, {len(detect_labels(loaded.examples))} labels)")
    print(f"train: {len(train)} rows, {len(detect_labels(train))} labels -> {args.out / 'train.csv'}")
    low, high = min(per_label.values()), max(per_label.values())
    print(f"dev:   {len(dev)} rows, {len(per_label)} labels, {low}-{high} per label")
    return 0


if __name__ == "__main__":
    sys.exit(main())
