"""The record every reader produces: one labelled (or unlabelled) text, with where it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Example:
    """One text (optionally a pair) with its label.

    ``label`` is a string for single-label data, a tuple of strings for multi-label data, and
    ``None`` for unlabelled input (prediction). ``source`` and ``line`` point back to the file and
    1-based line the record started on, so later errors can name them.
    """

    text: str
    text_pair: str | None = None
    label: str | tuple[str, ...] | None = None
    source: str = "<memory>"
    line: int = 0
