"""The label set of a dataset, in a deterministic order, and checks that other splits stay inside it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from tunelab.data.example import Example
from tunelab.errors import DataError

# ASCII digits only: int() also accepts "1_000", " 3" and non-ASCII digits, which are not what a
# user means by a numeric label.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_SHOWN = 10  # labels listed in an error message before "... and N more"


def _labels_of(example: Example) -> Iterator[str]:
    if isinstance(example.label, tuple):
        yield from example.label
    elif example.label is not None:
        yield example.label


def detect_labels(examples: Iterable[Example]) -> list[str]:
    """All labels (the union, for multi-label data), sorted.

    Numerically when every label is an integer literal ("2" before "10"), else as strings.
    Unlabelled examples contribute nothing.
    """
    labels = {label for example in examples for label in _labels_of(example)}
    if labels and all(_INTEGER.fullmatch(label) for label in labels):
        # The string breaks ties such as "1" and "01", so the order never depends on set order.
        return sorted(labels, key=lambda label: (int(label), label))
    return sorted(labels)


def format_labels(labels: list[str], limit: int = _SHOWN) -> str:
    """``a, b, c`` or ``a, b, ... and 75 more`` for error messages."""
    if len(labels) <= limit:
        return ", ".join(labels)
    return f"{', '.join(labels[:limit])}, ... and {len(labels) - limit} more"


def check_known_labels(
    examples: Iterable[Example],
    labels: Iterable[str],
    split_name: str,
    *,
    field: str = "label",
    out_of_scope: str | None = None,
    oos_hint: str | None = None,
) -> None:
    """Raise a DataError at the first example whose label is not in ``labels`` (the train label set).

    ``field`` is the label column name used in the message. ``out_of_scope``: the label that marks
    out-of-scope rows, allowed (task.out_of_scope on); ``oos_hint``: that label while detection is
    off, whose rows are refused with a hint to switch it on.
    """
    ordered = list(labels)
    known = set(ordered) | ({out_of_scope} if out_of_scope else set())
    first: tuple[Example, str] | None = None
    unseen: set[str] = set()
    for example in examples:
        for label in _labels_of(example):
            if label not in known:
                unseen.add(label)
                if first is None:
                    first = (example, label)
    if first is None:
        return
    example, label = first
    more = ""
    if len(unseen) > 1:
        others = sorted(unseen - {label})
        more = f"; other unseen labels: {format_labels(others, 5)}"
    if oos_hint is not None and label == oos_hint:
        more += f"; set task.out_of_scope.scorer to treat '{label}' rows as out-of-scope"
    raise DataError(
        f"label '{label}' in {split_name} never appears in train (known: {format_labels(ordered)}){more}",
        example.source,
        example.line,
        field,
    )
