"""Reproducible stratified train/dev/test split."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tunelab.data.example import Example
from tunelab.errors import ConfigError, DataError

Source = Literal["file", "split", "none"]

# Strata sort by (kind, name): unlabelled or label-less examples first, then labels by string.
_NO_LABEL = (0, "")


def _stratum(example: Example) -> tuple[int, str]:
    label = example.label
    if isinstance(label, tuple):
        return (1, min(label)) if label else _NO_LABEL
    return _NO_LABEL if label is None else (1, label)


def share(n: int, fraction: float) -> int:
    """round(n * fraction), half up, computed exactly.

    Python's round() rounds halves to even (round(2.5) == 2, round(3.5) == 4), which would give
    classes of 25 and 35 examples different shares; and 0.1 is not exact in binary, so go through
    the decimal the user wrote.
    """
    exact = n * Fraction(str(float(fraction)))
    return int(exact + Fraction(1, 2))


def split_examples(
    examples: Sequence[Example], dev: float = 0.1, test: float = 0.0, seed: int = 13, *, stratify: bool = True
) -> tuple[list[Example], list[Example], list[Example]]:
    """Split into (train, dev, test), stratified by label (``stratify=False``: all examples form one
    group, for targets with no classes such as regression's numbers).

    For each label, in sorted order, the label's examples are shuffled with one
    ``numpy.random.default_rng(seed)`` and round(n * dev) go to dev, then round(n * test) to
    test (halves round up); at least one example of every label stays in train. Multi-label
    examples are stratified by their first label in sorted order; unlabelled ones form one group.
    Each split keeps the original order of the examples. Same input and seed give the same split.
    """
    # Written by hand rather than with sklearn's train_test_split: that refuses classes with a
    # single member and does not give exact per-class counts.
    for name, value in (("dev", dev), ("test", test)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} fraction must be in [0, 1), got {value}")
    if dev + test >= 1.0:
        raise ValueError(f"dev + test fractions must be below 1, got {dev} + {test}")

    groups: dict[tuple[int, str], list[int]] = {}
    for index, example in enumerate(examples):
        groups.setdefault(_stratum(example) if stratify else _NO_LABEL, []).append(index)

    rng = np.random.default_rng(seed)
    assigned = np.zeros(len(examples), dtype=np.int8)  # 0 train, 1 dev, 2 test
    for key in sorted(groups):
        members = np.asarray(groups[key])
        n = len(members)
        n_dev = min(share(n, dev), n - 1)
        n_test = min(share(n, test), n - 1 - n_dev)
        order = members[rng.permutation(n)]
        assigned[order[:n_dev]] = 1
        assigned[order[n_dev : n_dev + n_test]] = 2

    splits: tuple[list[Example], list[Example], list[Example]] = ([], [], [])
    for example, target in zip(examples, assigned.tolist()):
        splits[target].append(example)
    return splits


def carve_shares(split: Any, files: Collection[str]) -> tuple[float, float]:
    """The shares of train to carve as dev and test (``data.split``), 0 for a split that has its
    own file; ConfigError when nothing would be left to train on."""
    dev = split.dev if "dev" not in files else 0.0
    test = split.test if "test" not in files else 0.0
    if dev + test >= 1.0:
        raise ConfigError(
            f"data.split.dev + data.split.test must be below 1 (got {dev} + {test}): nothing would be left to train on"
        )
    return dev, test


def check_carved(
    shares: tuple[float, float], carved: tuple[Sequence[Any], Sequence[Any]], n: int, path: str | Path, note: str = ""
) -> None:
    """DataError when a share above 0 carved nothing from the ``n`` training examples."""
    for name, fraction, examples in zip(("dev", "test"), shares, carved):
        if fraction > 0 and not examples:
            raise DataError(
                f"data.split.{name}={fraction} carved no {name} examples from {n} training examples{note}; "
                f"set data.{name} to a {name} file or raise data.split.{name}",
                path,
            )


def split_sources(files: Collection[str], dev: Sequence[Any], test: Sequence[Any]) -> dict[str, Source]:
    """Where dev and test came from: their own file, carved from train, or nowhere."""
    return {
        name: "file" if name in files else "split" if carved else "none"
        for name, carved in (("dev", dev), ("test", test))
    }
