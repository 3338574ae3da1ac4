"""Read the shared NER corpora with tunelab's readers and check that tag conversion is lossless.

For each file: sentences, tokens (characters for text-based files), entities, the detected tag
scheme, the repairs needed (invalid tag sequences or overlapping spans; the strict read's first
error is printed), and two round trips:

- tag files: IOB2 -> the file's scheme -> IOB2 must give the same tags and entities, and writing
  IOB2 back in the file's scheme must give the original tags (it cannot where tags were repaired);
  entities are also counted straight from the original tags as a cross-check;
- span files (CLUENER): spans -> per-character IOB2 tags -> spans must give the same spans.

    python scripts/check_ner_roundtrip.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tunelab.errors import DataError
from tunelab.tasks.token_classification.example import char_tags_to_spans, spans_to_char_tags
from tunelab.tasks.token_classification.readers import read_cluener, read_conll, read_ner_file
from tunelab.tasks.token_classification.tags import entities_from_iob2, from_iob2, parse_tag, to_iob2

REPO = Path(__file__).resolve().parents[1]
FILES = [
    "wnut17/wnut17train.conll",
    "wnut17/emerging.dev.conll",
    "resume_ner/train.char.bmes",
    "resume_ner/dev.char.bmes",
    "msra_ner/dh_msra.txt",
    "cluener/train.json",
    "cluener/dev.json",
]
# Prefixes that start an entity in each scheme (IOB1 and IO are counted by runs instead).
STARTS = {"iob2": {"B"}, "bioes": {"B", "S"}, "bilou": {"B", "U"}, "bmes": {"B", "S"}}


def count_starts(tags: list[str], scheme: str) -> int:
    """Entities counted from the original tags alone, without tunelab's decoder."""
    count, prev = 0, ("O", None)
    for tag in tags:
        letter, type_ = parse_tag(tag)
        if scheme in STARTS:
            count += letter in STARTS[scheme]
        else:  # io / iob1: a new entity at B-, or at I- that does not continue the previous type
            count += letter == "B" or (letter == "I" and not (prev[0] in "BI" and prev[1] == type_))
        prev = (letter, type_)
    return count


def check_tags(path: Path, scheme: str, iob2_sentences: list[tuple[str, ...]]) -> dict[str, int]:
    raw = [[f"{tag[0].upper()}{tag[1:]}" if tag != "o" else "O" for tag in e.tags] for e in read_conll(path)]
    stats = {"tag_mismatch": 0, "entity_mismatch": 0, "entities_in_original_tags": 0}
    for original, iob2 in zip(raw, iob2_sentences, strict=True):
        written = from_iob2(list(iob2), scheme)
        back = to_iob2(written, scheme)
        stats["tag_mismatch"] += written != original
        stats["entity_mismatch"] += back != list(iob2) or entities_from_iob2(back) != entities_from_iob2(iob2)
        stats["entities_in_original_tags"] += count_starts(original, scheme)
    return stats


def check_spans(path: Path, examples) -> dict[str, int]:
    stats = {"span_mismatch": 0, "overlapping_spans_in_file": 0}
    for raw, example in zip(read_cluener(path), examples, strict=True):
        stats["overlapping_spans_in_file"] += len(raw.spans) - len(example.spans)
        back = char_tags_to_spans(example.text, spans_to_char_tags(example.text, example.spans))
        stats["span_mismatch"] += tuple(back) != example.spans
    return stats


def check(path: Path) -> None:
    print(f"== {path}")
    try:
        nf = read_ner_file(path)
    except DataError as exc:
        print(f"   strict read failed: {exc}")
        nf = read_ner_file(path, repair=True)
    sentences = len(nf.examples)
    units = sum(len(e.text) if e.text is not None else len(e.tokens) for e in nf.examples)
    entities = sum(len(e.entities()) for e in nf.examples)
    print(
        f"   format={nf.format} scheme={nf.scheme} sentences={sentences} "
        f"{'chars' if nf.scheme == 'spans' else 'tokens'}={units} entities={entities} repairs={nf.repairs}"
    )
    print(f"   types: {', '.join(nf.entity_types)}")
    if nf.scheme == "spans":
        stats = check_spans(path, nf.examples)
        exact = stats["span_mismatch"] == 0
    else:
        stats = check_tags(path, nf.scheme, [e.tags for e in nf.examples])
        exact = stats["entity_mismatch"] == 0
    details = " ".join(f"{key}={value}" for key, value in stats.items())
    print(f"   round trip exact: {'yes' if exact else 'NO'} ({details})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args(argv)
    missing = [name for name in FILES if not (args.data_dir / name).is_file()]
    for name in FILES:
        if name not in missing:
            check(args.data_dir / name)
    for name in missing:
        print(f"missing: {args.data_dir / name}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
