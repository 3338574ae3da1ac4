"""Text regression's data: numbers parsed from the label column, and a seeded random dev/test split
(there are no classes to stratify on)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from tunelab.data.example import Example
from tunelab.data.loading import Splits, pii_masker, read_examples
from tunelab.data.readers import ErrorCollector
from tunelab.data.split import carve_shares, check_carved, split_examples, split_sources
from tunelab.errors import DataError
from tunelab.tasks.text_regression.config import TextRegressionData

# A plain decimal number, ASCII only: float() also takes "1_000", "nan", "inf" and non-ASCII
# digits, none of which a person means by a score.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(value: Any, source: str | None = None, line: int | None = None, field: str | None = None) -> float:
    """A label as a finite float; a DataError naming the file, line and label column otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        raise DataError(f"label {_shown(value)} is not a number", source, line, field)
    if not math.isfinite(number):
        raise DataError(f"label {_shown(value)} is not a finite number", source, line, field)
    return number


def with_numbers(examples: Sequence[Example], field: str | None) -> list[Example]:
    """The examples with their labels parsed as floats (unlabelled ones stay unlabelled).

    ``Example.label`` is typed for class labels; a float works at runtime (the dataclass does not
    check types, and the artifact's fingerprint serialises it as a JSON number)."""
    out = []
    errors = ErrorCollector()  # every bad number of the file, in one error
    for ex in examples:
        if ex.label is None:
            out.append(ex)
            continue
        try:
            number = parse_number(ex.label, ex.source, ex.line, field or "label")
        except DataError as err:
            errors.add(err)
            continue
        out.append(replace(ex, label=number))  # type: ignore[arg-type]
    errors.check()
    return out


def load_splits(data_config: TextRegressionData) -> Splits:
    """Read train (and dev/test files if set) with numeric labels; carve the missing dev/test from
    train per data.split. Dev and test files are read with train's columns and, under
    ``data.header: auto``, train's header decision (a number in the first row says nothing about a
    header the way a known class label does)."""
    if data_config.train is None:
        raise DataError("no training file: set data.train in the config or pass --set data.train=PATH")
    masker = pii_masker(data_config.mask_pii)
    read = partial(
        read_examples,
        format=data_config.format,
        encoding=data_config.encoding,
        delimiter=data_config.delimiter,
        mask_pii=masker,
    )
    train_file = read(
        data_config.train,
        split="train",
        header=data_config.header,
        text_column=data_config.text_column,
        text_pair_column=data_config.text_pair_column,
        label_column=data_config.label_column,
    )
    label_field = train_file.label_column or "label"
    header = data_config.header
    if header == "auto" and train_file.header is not None:
        header = "yes" if train_file.header else "no"
    files = {"train": str(train_file.path)}
    loaded: dict[str, list[Example]] = {}
    for name in ("dev", "test"):
        path = getattr(data_config, name)
        if path is not None:
            examples = read(
                path,
                split=name,
                header=header,
                text_column=train_file.text_column,
                text_pair_column=train_file.text_pair_column,
                label_column=train_file.label_column,
            ).examples
            loaded[name] = with_numbers(examples, label_field)
            files[name] = str(path)
    examples = with_numbers(train_file.examples, label_field)

    shares = carve_shares(data_config.split, loaded)
    train, dev, test = split_examples(examples, *shares, seed=data_config.split.seed, stratify=False)
    check_carved(shares, (dev, test), len(examples), train_file.path)
    sources = split_sources(loaded, dev, test)
    dev, test = loaded.get("dev", dev), loaded.get("test", test)
    return Splits.read_like(train_file, train, dev, test, sources, files, masker)


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:39] + "…")
