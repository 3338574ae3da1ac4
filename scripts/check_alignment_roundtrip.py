"""Encode every sentence of the shared NER corpora to sub-words and decode it back from perfect
model outputs; print how many gold entities come back exactly (character offsets for text-based
data, token ranges for CoNLL data).

    python scripts/check_alignment_roundtrip.py [--data-dir ../shared/data]

English corpora use the packaged MiniLM tokenizer; Chinese ones a tokenizer built from the
bert-base-chinese vocabulary in tests/fixtures. Reads ../shared (the package never does).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from transformers import AutoTokenizer, BertTokenizerFast
from transformers.models.bert.tokenization_bert import load_vocab

from tunelab.config import TokenClassificationConfig
from tunelab.data.batching import IGNORE_INDEX
from tunelab.data.ner_readers import read_ner_file
from tunelab.models import resolve_model
from tunelab.tasks.token_classification import TokenClassificationTask

ROOT = Path(__file__).resolve().parents[1]
CORPORA = [
    ("wnut17/wnut17train.conll", "en"), ("wnut17/emerging.dev.conll", "en"),
    ("resume_ner/train.char.bmes", "zh"), ("resume_ner/dev.char.bmes", "zh"),
    ("msra_ner/dh_msra.txt", "zh"), ("cluener/train.json", "zh"), ("cluener/dev.json", "zh"),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    tokenizers = {
        "en": AutoTokenizer.from_pretrained(resolve_model("minilm").path),
        "zh": BertTokenizerFast(vocab=dict(load_vocab(str(ROOT / "tests/fixtures/vocab_zh/vocab.txt")))),
    }
    failures = 0
    for name, language in CORPORA:
        started = time.perf_counter()
        # the shared Resume, MSRA and CLUENER train files hold a few invalid sequences: repair them
        examples = read_ner_file(args.data_dir / name, repair=True).examples
        task = TokenClassificationTask.from_examples(TokenClassificationConfig(), examples)
        encoded = task.encode(tokenizers[language], examples, 128)
        outputs = []
        for labels in encoded.labels:
            rows = np.zeros((len(labels), len(task.labels)), dtype=np.float32)
            for i, label in enumerate(labels):
                if label != IGNORE_INDEX:
                    rows[i, label] = 1.0
            outputs.append(rows)
        predicted = task.entities(encoded, outputs)
        gold_total = exact = 0
        for example, seq, found in zip(examples, encoded.sequences, predicted):
            gold = example.entities()
            got = [(e["type"], e["token_start"], e["token_end"]) if example.text is None
                   else (e["type"], e["start"], e["end"]) for e in found]
            gold_total += len(gold)
            exact += len(set(gold) & set(got))
            assert all(seq.text[e["start"]:e["end"]] == e["text"] for e in found)
        failures += exact != gold_total
        print(f"{name:32s} sentences {len(examples):6d}  entities {gold_total:6d}  exact {exact:6d}  "
              f"windowed {encoded.num_windowed:4d}  {time.perf_counter() - started:5.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
