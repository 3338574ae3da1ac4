"""Encode every sentence of the shared NER corpora to sub-words and decode it back from perfect
model outputs; print how many gold entities come back exactly (character offsets for text-based
data, token ranges for CoNLL data).

    python scripts/check_alignment_roundtrip.py [--data-dir ../shared/data]
    python scripts/check_alignment_roundtrip.py --tokenizer /tmp/gemma_cache [--compare] [--only resume]

English corpora use the packaged MiniLM tokenizer; Chinese ones a tokenizer built from the
bert-base-chinese vocabulary in tests/fixtures. ``--tokenizer DIR`` uses that tokenizer for every
corpus instead (a decoder's tokenizer goes through the offsets alignment); ``--compare`` also runs
it with whole-text tokenisation (no segment per CJK/full-width character) to show what that
loses. ``pieces`` counts the tokens that cover more than one word, ``boundaries in pieces`` the
gold words whose tag such a piece cannot give back, ``tokens/sentence`` the sub-words per
sentence. Reads ../shared (the package never does).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from transformers import AutoTokenizer, BertTokenizerFast
from transformers.models.bert.tokenization_bert import load_vocab

from tunelab.data.batching import IGNORE_INDEX
from tunelab.models import resolve_model
from tunelab.tasks.token_classification.align import SPLIT_WIDE, encode_words
from tunelab.tasks.token_classification.config import TokenClassificationConfig
from tunelab.tasks.token_classification.readers import read_ner_file
from tunelab.tasks.token_classification.task import TokenClassificationTask
from tunelab.tasks.token_classification.words import to_words

ROOT = Path(__file__).resolve().parents[1]
CORPORA = [
    ("wnut17/wnut17train.conll", "en"),
    ("wnut17/emerging.dev.conll", "en"),
    ("resume_ner/train.char.bmes", "zh"),
    ("resume_ner/dev.char.bmes", "zh"),
    ("msra_ner/dh_msra.txt", "zh"),
    ("cluener/train.json", "zh"),
    ("cluener/dev.json", "zh"),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--tokenizer", type=Path, help="a tokenizer directory to use for every corpus")
    parser.add_argument("--compare", action="store_true", help="also tokenise whole texts (split_wide off)")
    parser.add_argument("--only", action="append", default=[], help="corpora whose path contains this (repeatable)")
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    if args.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        tokenizers = {"en": tokenizer, "zh": tokenizer}
    else:
        tokenizers = {
            "en": AutoTokenizer.from_pretrained(resolve_model("minilm").path),
            "zh": BertTokenizerFast(vocab=dict(load_vocab(str(ROOT / "tests/fixtures/vocab_zh/vocab.txt")))),
        }
    modes = [True, False] if args.compare else [SPLIT_WIDE]
    failures = 0
    for name, language in CORPORA:
        if args.only and not any(part in name for part in args.only):
            continue
        # the shared Resume, MSRA and CLUENER train files hold a few invalid sequences: repair them
        examples = read_ner_file(args.data_dir / name, repair=True).examples
        task = TokenClassificationTask.from_examples(TokenClassificationConfig(), examples)
        for split_wide in modes:
            started = time.perf_counter()
            exact, gold_total, stats = round_trip(task, tokenizers[language], examples, args.max_length, split_wide)
            failures += exact != gold_total
            mode = "" if not args.compare else ("split  " if split_wide else "whole  ")
            print(
                f"{mode}{name:28s} sentences {len(examples):6d}  entities {gold_total:6d}  exact {exact:6d}  "
                f"lost {gold_total - exact:5d} ({100 * (gold_total - exact) / max(gold_total, 1):5.2f}%)  "
                f"pieces {stats['pieces']:6d}  boundaries in pieces {stats['boundaries']:5d}  "
                f"tokens/sentence {stats['tokens'] / len(examples):6.1f}  "
                f"windowed {stats['windowed']:4d}  {time.perf_counter() - started:5.1f} s"
            )
    return 1 if failures else 0


def round_trip(task, tokenizer, examples, max_length: int, split_wide: bool) -> tuple[int, int, dict[str, int]]:
    sequences = [to_words(example) for example in examples]
    encoded = encode_words(
        tokenizer,
        sequences,
        task.tag2id,
        max_length=max_length,
        overlap=task.config.window_overlap,
        split_wide=split_wide,
    )
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
        got = [
            (e["type"], e["token_start"], e["token_end"]) if example.text is None else (e["type"], e["start"], e["end"])
            for e in found
        ]
        gold_total += len(gold)
        exact += len(set(gold) & set(got))
        assert all(seq.text[e["start"] : e["end"]] == e["text"] for e in found)
    lasts_per_item = encoded.item_last_word_ids or encoded.item_word_ids  # empty for WordPiece
    pieces = sum(
        1
        for firsts, lasts in zip(encoded.item_word_ids, lasts_per_item)
        for first, last in zip(firsts, lasts)
        if first is not None and last != first
    )
    stats = {
        "pieces": pieces,
        "tokens": sum(map(len, encoded.input_ids)),
        "windowed": encoded.num_windowed,
        "boundaries": encoded.num_boundaries_in_pieces,
    }
    return exact, gold_total, stats


if __name__ == "__main__":
    sys.exit(main())
