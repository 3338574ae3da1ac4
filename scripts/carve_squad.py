"""Carve train and dev files, by article, out of the 36 public articles of the SQuAD v1.1 dev set
and write data/squad/{train,dev}.json (SQuAD v1.1 JSON, articles and questions unchanged).

The articles go to dev exactly as tunelab carves a dev split by article from one file
(``split_by_article`` with ``data.split.dev: 0.15, data.split.seed: 13``), so training on
``train.json`` alone with that split gives the same dev questions.

    python scripts/carve_squad.py [--source PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from tunelab.tasks.extractive_qa.data import split_by_article
from tunelab.tasks.extractive_qa.readers import read_qa_file

REPO = Path(__file__).resolve().parents[1]
DEV, SEED = 0.15, 13


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared/data/squad_v1.1/squad_dev_public.json")
    parser.add_argument("--licence", type=Path, default=REPO.parent / "shared/data/cmrc2018/LICENCE")
    parser.add_argument("--out", type=Path, default=REPO / "data/squad")
    args = parser.parse_args(argv)
    whole = json.loads(args.source.read_text(encoding="utf-8"))
    examples = read_qa_file(args.source).examples  # checks every answer offset
    _, dev, _ = split_by_article(examples, DEV, 0.0, SEED)
    dev_titles = {ex.title for ex in dev}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, keep in (("train", lambda t: t not in dev_titles), ("dev", lambda t: t in dev_titles)):
        articles = [a for a in whole["data"] if keep(a["title"])]
        questions = sum(len(p["qas"]) for a in articles for p in a["paragraphs"])
        body = json.dumps({"version": whole.get("version", "1.1"), "data": articles}, ensure_ascii=False)
        (args.out / f"{name}.json").write_text(body + "\n", encoding="utf-8")
        print(f"{name}.json: {len(articles)} articles, {questions} questions", file=sys.stderr)
    if args.licence.is_file():  # the CC BY-SA 4.0 legal code (CMRC 2018 ships the same text)
        shutil.copyfile(args.licence, args.out / "LICENSE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
