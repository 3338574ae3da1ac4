"""Carve a dev split out of the official SemEval-2010 Task 8 train file and write
data/semeval2010_task8/{train,dev}.txt.

SemEval-2010 Task 8 ships train (8,000) and test (2,717) only; tunelab's packaged copy keeps the
test file out and uses a 10% of train, stratified per directed label, as dev, carved with
tunelab's own split_examples (the split a user gets from `data.split.dev: 0.1, data.split.seed: 13`).
Each four-line block (sentence, relation, comment, blank line) is copied byte for byte, in order.

    python scripts/carve_semeval.py [--source PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from tunelab.data.split import split_examples
from tunelab.tasks.relation_extraction.readers import read_relation_file

REPO = Path(__file__).resolve().parents[1]
DEV, SEED = 0.1, 13


def blocks(raw: bytes) -> dict[int, bytes]:
    """Line number of each block's sentence -> the block's bytes (up to the next sentence)."""
    lines = raw.split(b"\n")
    starts = [i for i, line in enumerate(lines) if line[:1].isdigit() and b"\t" in line]
    out = {}
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        chunk = b"\n".join(lines[start:end])
        out[start + 1] = chunk + (b"\n" if end < len(lines) else b"")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared/data/semeval2010_task8/TRAIN_FILE.TXT")
    parser.add_argument("--out", type=Path, default=REPO / "data/semeval2010_task8")
    args = parser.parse_args(argv)

    examples = read_relation_file(args.source, format="semeval").examples
    train, dev, test = split_examples(examples, dev=DEV, test=0.0, seed=SEED)  # type: ignore[arg-type]
    assert not test
    raw = blocks(args.source.read_bytes())
    assert len(raw) == len(examples)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("dev", dev)):
        (args.out / f"{name}.txt").write_bytes(b"".join(raw[ex.line] for ex in part))
    per_label = Counter(ex.label for ex in dev)
    print(f"source: {args.source} ({len(examples)} examples, {len({ex.label for ex in examples})} labels)")
    print(f"train: {len(train)} -> {args.out / 'train.txt'}")
    print(f"dev:   {len(dev)}, {len(per_label)} labels, {min(per_label.values())}-{max(per_label.values())} per label")
    return 0


if __name__ == "__main__":
    sys.exit(main())
