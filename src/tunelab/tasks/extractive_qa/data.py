"""The train/dev/test splits of an extractive QA run. A dev (or test) split carved from train takes
whole articles (SQuAD's ``title``; the context itself when there is none), so no context, and no
question about the same article, is in two splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tunelab.data.split import carve_shares, check_carved, split_sources
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.extractive_qa.example import QaExample
from tunelab.tasks.extractive_qa.readers import QaFile, read_qa_file

if TYPE_CHECKING:
    from tunelab.tasks.extractive_qa.config import ExtractiveQaData


@dataclass
class QaSplits:
    train: list[QaExample]
    dev: list[QaExample]
    test: list[QaExample]
    dev_source: Literal["file", "split", "none"]
    test_source: Literal["file", "split", "none"]
    files: dict[str, str] = field(default_factory=dict)
    format: str = "squad"
    answer_offsets: str = "check"
    repaired: int = 0
    text_only: int = 0
    versions: dict[str, str | None] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """How the files were read (``data.reading``): later files are read alike."""
        return {
            "format": self.format,
            "answer_offsets": self.answer_offsets,
            "repaired": self.repaired,
            "text_only": self.text_only,
            "versions": self.versions,
        }


def article_key(example: QaExample) -> str:
    """What a carved split keeps together: the article, else the context."""
    return example.title or example.context


def split_by_article(
    examples: Sequence[QaExample], dev: float, test: float, seed: int
) -> tuple[list[QaExample], list[QaExample], list[QaExample]]:
    """Whole articles, in a seeded random order, go to dev (then test) until each holds at least its
    share of the questions; every split keeps the file's order."""
    keys: dict[str, int] = {}
    for ex in examples:
        keys.setdefault(article_key(ex), len(keys))
    sizes = np.zeros(len(keys), dtype=np.int64)
    for ex in examples:
        sizes[keys[article_key(ex)]] += 1
    order = np.random.default_rng(seed).permutation(len(keys))
    target = {"dev": round(len(examples) * dev), "test": round(len(examples) * test)}
    where: dict[int, str] = {}
    taken = {"dev": 0, "test": 0}
    for k in order.tolist():
        name = next((n for n in ("dev", "test") if taken[n] < target[n]), None)
        if name is None:
            break
        where[k] = name  # a split overshoots its share by less than one article
        taken[name] += int(sizes[k])
    parts: dict[str, list[QaExample]] = {"train": [], "dev": [], "test": []}
    for ex in examples:
        parts[where.get(keys[article_key(ex)], "train")].append(ex)
    return parts["train"], parts["dev"], parts["test"]


def load_qa_splits(data: ExtractiveQaData) -> QaSplits:
    if data.train is None:
        raise DataError("no training file: set data.train in the config or pass --set data.train=PATH")
    if data.mask_pii:
        raise ConfigError(
            "data.mask_pii is not available for extractive_qa: masking changes the contexts and would move "
            "every answer offset; mask the files before training instead"
        )

    def read(path: Any, split: str) -> QaFile:
        return read_qa_file(
            path, format=data.format, encoding=data.encoding, split=split, answer_offsets=data.answer_offsets
        )

    train_file = read(data.train, "train")
    files = {"train": str(data.train)}
    loaded: dict[str, list[QaExample]] = {}
    read_files = {"train": train_file}
    for name in ("dev", "test"):
        path = getattr(data, name)
        if path is not None:
            read_files[name] = read(path, name)
            loaded[name], files[name] = read_files[name].examples, str(path)
    shares = carve_shares(data.split, loaded)
    train, dev, test = split_by_article(train_file.examples, *shares, seed=data.split.seed)
    check_carved(shares, (dev, test), len(train_file.examples), train_file.examples[0].source, " (whole articles)")
    if not train:
        raise DataError("carving dev/test by article left no training questions", data.train)
    if not any(ex.spans or ex.unanswerable for ex in train):
        raise DataError("no training question has an answer located in its context", data.train, field="answers")
    sources = split_sources(loaded, dev, test)
    return QaSplits(
        train,
        loaded.get("dev", dev),
        loaded.get("test", test),
        sources["dev"],
        sources["test"],
        files,
        train_file.format,
        data.answer_offsets,
        sum(f.repaired for f in read_files.values()),
        sum(f.text_only for f in read_files.values()),
        {name: f.version for name, f in read_files.items()},
    )
