"""Build the format-1 artifacts kept in tests/fixtures/legacy_v1 (run once, with the release that
wrote format 1: `PYTHONPATH=<checkout of af10661>/src python scripts/make_legacy_fixtures.py`).

The artifacts are kept without weights (no model files in git): tests/helpers.py
`materialise_legacy` writes deterministic weights computed in code, and expected.json holds what
the format-1 release predicted with those weights. tests/inference/test_legacy_artifacts.py checks
that the current code predicts exactly the same."""

from __future__ import annotations

import json
import shutil
import string
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers import (  # noqa: E402
    CUES,
    FILLER,
    PEOPLE,
    PLACES,
    VERBS,
    build_tiny_bert,
    make_ner_sentences,
    make_texts,
    materialise_legacy,
    tiny_overrides,
    write_conll,
    write_csv,
)

OUT = ROOT / "tests" / "fixtures" / "legacy_v1"


def small_vocab(path: Path) -> Path:
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words += sorted(
        {w for ws in CUES.values() for w in ws}
        | set(FILLER)
        | set(PEOPLE)
        | set(PLACES)
        | set(VERBS)
        | {"in", "today", "smith", "and", "or"}
    )
    words += list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase] + list(string.punctuation)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(dict.fromkeys(words)) + "\n", encoding="utf-8")
    return path


def main() -> None:
    from tunelab.artifact import FORMAT_VERSION

    if FORMAT_VERSION != 1:  # the fixtures are the previous release's artifacts: never rewrite them
        raise SystemExit(
            f"this release writes format {FORMAT_VERSION}; run this script with the format-1 release "
            "(git checkout af10661) to rebuild tests/fixtures/legacy_v1"
        )
    from tunelab.config import load_config
    from tunelab.inference.predictor import load
    from tunelab.workflow.train import train

    work = Path("/tmp/legacy-fixtures")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(OUT, ignore_errors=True)
    model = build_tiny_bert(work / "model", small_vocab(work / "vocab.txt"))
    data = {
        "train": write_csv(work / "train.csv", make_texts(90, seed=1)),
        "dev": write_csv(work / "dev.csv", make_texts(30, seed=2)),
    }
    pair_rows = [(t, t.split()[0], lab) for t, lab in make_texts(90, seed=4)]
    pairs = {
        "train": write_csv(work / "ptrain.csv", pair_rows, header=("text", "text_pair", "label")),
        "dev": write_csv(work / "pdev.csv", pair_rows[:30], header=("text", "text_pair", "label")),
    }
    ner = {
        "train": write_conll(work / "train.conll", make_ner_sentences(80, seed=1)),
        "dev": write_conll(work / "dev.conll", make_ner_sentences(20, seed=2)),
    }
    runs = {
        "classification": tiny_overrides(model, data, **{"training.epochs": 3}),
        "pair_classification": tiny_overrides(model, pairs, **{"training.epochs": 3}),
        "ner": tiny_overrides(model, ner, **{"training.epochs": 3, "task.name": "token_classification"}),
    }
    texts = ["my invoice was charged again", "where is my parcel", "i met john smith in paris today"]
    for name, overrides in runs.items():
        train(load_config(None, overrides), output_dir=OUT / name)
        for sub in ("logs", "checkpoints"):
            shutil.rmtree(OUT / name / sub, ignore_errors=True)
        for leftover in [*(OUT / name).glob("*.png"), OUT / name / "model.safetensors"]:
            leftover.unlink()
    weighted = materialise_legacy(work / "weighted")
    expected = {}
    for name in runs:
        predictor = load(weighted / name)
        pair_args = {"text_pairs": [t.split()[0] for t in texts]} if name.startswith("pair") else {}
        expected[name] = {"texts": texts, **pair_args, "records": predictor.predict_scores(texts, top_k=2, **pair_args)}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
