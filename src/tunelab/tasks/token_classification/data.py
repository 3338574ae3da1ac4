"""The train/dev/test splits of a token-classification run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tunelab.data.loading import pii_description, pii_masker
from tunelab.data.pii import PiiMasker
from tunelab.data.split import carve_shares, split_sources
from tunelab.errors import DataError
from tunelab.tasks.token_classification.example import NerExample
from tunelab.tasks.token_classification.readers import read_ner_file

if TYPE_CHECKING:
    from tunelab.tasks.token_classification.config import TokenClassificationData as DataConfig


@dataclass
class NerSplits:
    train: list[NerExample]
    dev: list[NerExample]
    test: list[NerExample]
    dev_source: Literal["file", "split", "none"]
    test_source: Literal["file", "split", "none"]
    files: dict[str, str] = field(default_factory=dict)
    format: str = "conll"
    scheme: str = "iob2"
    repairs: int = 0
    masker: PiiMasker | None = None

    def describe(self) -> dict[str, Any]:
        """How the files were read, for the artifact (``data.reading``); with ``data.mask_pii``, the
        types masked and the items masked per type."""
        return {"format": self.format, "tag_scheme": self.scheme, **pii_description(self.masker)}


def split_sentences(examples: list[NerExample], dev: float, test: float, seed: int):
    """A seeded random split (sentences have no single label to stratify on); file order kept."""
    n = len(examples)
    order = np.random.default_rng(seed).permutation(n)
    n_dev, n_test = round(n * dev), round(n * test)
    dev_idx, test_idx = set(order[:n_dev].tolist()), set(order[n_dev : n_dev + n_test].tolist())
    pick = lambda keep: [ex for i, ex in enumerate(examples) if keep(i)]  # noqa: E731
    return (
        pick(lambda i: i not in dev_idx and i not in test_idx),
        pick(lambda i: i in dev_idx),
        pick(lambda i: i in test_idx),
    )


def entity_types(examples: list[NerExample]) -> list[str]:
    return sorted({type_ for ex in examples for type_, _, _ in ex.entities()})


def check_known_types(examples: list[NerExample], known: list[str], where: str) -> None:
    allowed = set(known)
    for ex in examples:
        for type_, _, _ in ex.entities():
            if type_ not in allowed:
                raise DataError(
                    f"entity type '{type_}' in {where} never appears in train (known: {', '.join(known)})",
                    ex.source,
                    ex.line,
                    "tags" if ex.text is None else "entities",
                )


def load_ner_splits(data: DataConfig) -> NerSplits:
    if data.train is None:
        raise DataError("no training file: set data.train in the config or pass --set data.train=PATH")
    fmt = data.format
    masker = pii_masker(data.mask_pii)

    def read(path, split):
        return read_ner_file(
            path,
            format=fmt,
            scheme=data.tag_scheme,
            repair=data.repair_tags,
            token_column=data.token_column,
            tag_column=data.tag_column,
            encoding=data.encoding,
            split=split,
            mask_pii=masker,
        )

    train_file = read(data.train, "train")
    files, loaded, repairs = {"train": str(data.train)}, {}, train_file.repairs
    for name in ("dev", "test"):
        path = getattr(data, name)
        if path is not None:
            ner_file = read(path, name)
            loaded[name], files[name] = ner_file.examples, str(path)
            repairs += ner_file.repairs
    train, dev, test = split_sentences(train_file.examples, *carve_shares(data.split, loaded), data.split.seed)
    sources = split_sources(loaded, dev, test)
    dev, test = loaded.get("dev", dev), loaded.get("test", test)
    known = entity_types(train)
    if not known:
        raise DataError("the training data has no entities", data.train)
    check_known_types(dev, known, "dev")
    check_known_types(test, known, "test")
    return NerSplits(
        train, dev, test, sources["dev"], sources["test"], files, train_file.format, train_file.scheme, repairs, masker
    )
