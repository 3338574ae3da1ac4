"""The train/dev/test splits of a relation extraction run: dev/test carved from train stratified by
relation (each directed label keeps its share)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tunelab.data.split import carve_shares, check_carved, split_examples, split_sources
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.relation_extraction.config import RelationExtractionData
from tunelab.tasks.relation_extraction.example import RelationExample
from tunelab.tasks.relation_extraction.readers import read_relation_file


@dataclass
class RelationSplits:
    train: list[RelationExample]
    dev: list[RelationExample]
    test: list[RelationExample]
    dev_source: Literal["file", "split", "none"]
    test_source: Literal["file", "split", "none"]
    files: dict[str, str] = field(default_factory=dict)
    format: str = "semeval"

    def describe(self) -> dict[str, Any]:
        """How the files were read (``data.reading``): later files are read alike."""
        return {"format": self.format}


def entity_types(examples: list[RelationExample]) -> list[str] | None:
    """The sorted entity types when every entity has one, else None."""
    types = [e.type for ex in examples for e in (ex.head, ex.tail)]
    named = [t for t in types if t is not None]
    return sorted(set(named)) if types and len(named) == len(types) else None


def load_relation_splits(data: RelationExtractionData) -> RelationSplits:
    if data.train is None:
        raise DataError("no training file: set data.train in the config or pass --set data.train=PATH")
    if data.mask_pii:
        raise ConfigError("data.mask_pii is not available for relation_extraction: masking would move the entity spans")

    def read(path: Any, split: str):
        return read_relation_file(path, format=data.format, encoding=data.encoding, split=split)

    train_file = read(data.train, "train")
    files, loaded = {"train": str(data.train)}, {}
    for name in ("dev", "test"):
        path = getattr(data, name)
        if path is not None:
            loaded[name], files[name] = read(path, name).examples, str(path)
    shares = carve_shares(data.split, loaded)
    carved: Any = split_examples(train_file.examples, *shares, seed=data.split.seed)  # type: ignore[arg-type]
    train, dev, test = carved
    check_carved(shares, (dev, test), len(train_file.examples), data.train)
    sources = split_sources(loaded, dev, test)
    return RelationSplits(
        list(train),
        list(loaded.get("dev", dev)),
        list(loaded.get("test", test)),
        sources["dev"],
        sources["test"],
        files,
        train_file.format,
    )
