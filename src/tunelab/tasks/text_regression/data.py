"""Text regression's data: numbers parsed from the label column, and a seeded random dev/test split
(there are no classes to stratify on)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any, Literal

import numpy as np

from tunelab.data.example import Example
from tunelab.data.loading import Splits, read_examples
from tunelab.data.split import share
from tunelab.errors import ConfigError, DataError
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
    for ex in examples:
        if ex.label is None:
            out.append(ex)
        else:
            number = parse_number(ex.label, ex.source, ex.line, field or "label")
            out.append(replace(ex, label=number))  # type: ignore[arg-type]
    return out


def random_split(
    examples: Sequence[Example], dev: float, test: float, seed: int
) -> tuple[list[Example], list[Example], list[Example]]:
    """(train, dev, test): round(n * dev) and round(n * test) examples (halves up) drawn with
    ``numpy.random.default_rng(seed)``; at least one stays in train; each split keeps file order."""
    n = len(examples)
    n_dev = min(share(n, dev), max(n - 1, 0))
    n_test = min(share(n, test), max(n - 1 - n_dev, 0))
    order = np.random.default_rng(seed).permutation(n)
    assigned = np.zeros(n, dtype=np.int8)  # 0 train, 1 dev, 2 test
    assigned[order[:n_dev]] = 1
    assigned[order[n_dev : n_dev + n_test]] = 2
    splits: tuple[list[Example], list[Example], list[Example]] = ([], [], [])
    for example, target in zip(examples, assigned.tolist()):
        splits[target].append(example)
    return splits


def load_splits(data_config: TextRegressionData) -> Splits:
    """Read train (and dev/test files if set) with numeric labels; carve the missing dev/test from
    train per data.split. Dev and test files are read with train's columns and, under
    ``data.header: auto``, train's header decision (a number in the first row says nothing about a
    header the way a known class label does)."""
    if data_config.train is None:
        raise DataError("no training file: set data.train in the config or pass --set data.train=PATH")
    read = partial(read_examples, format=data_config.format, encoding=data_config.encoding)
    train_file = read(
        data_config.train,
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
                header=header,
                text_column=train_file.text_column,
                text_pair_column=train_file.text_pair_column,
                label_column=train_file.label_column,
            ).examples
            loaded[name] = with_numbers(examples, label_field)
            files[name] = str(path)
    examples = with_numbers(train_file.examples, label_field)

    split = data_config.split
    carve_dev = split.dev if "dev" not in loaded else 0.0
    carve_test = split.test if "test" not in loaded else 0.0
    if carve_dev + carve_test >= 1.0:
        raise ConfigError(
            f"data.split.dev + data.split.test must be below 1 (got {carve_dev} + {carve_test}): "
            "nothing would be left to train on"
        )
    train, dev, test = random_split(examples, carve_dev, carve_test, split.seed)
    for name, fraction, carved in (("dev", carve_dev, dev), ("test", carve_test, test)):
        if fraction > 0 and not carved:
            raise DataError(
                f"data.split.{name}={fraction} carved no {name} examples from {len(examples)} training examples; "
                f"set data.{name} to a {name} file or raise data.split.{name}",
                train_file.path,
            )
    sources: dict[str, Literal["file", "split", "none"]] = {
        name: "file" if name in loaded else "split" if carved else "none"
        for name, carved in (("dev", dev), ("test", test))
    }
    return Splits.read_like(train_file, train, loaded.get("dev", dev), loaded.get("test", test), sources, files)


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:39] + "…")
