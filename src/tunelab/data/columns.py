"""Decide which columns hold the text, the optional second text of a pair, and the label."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tunelab.errors import DataError

TEXT_CANDIDATES = (
    "text", "sentence", "content", "utterance", "query", "question", "review", "document",
    "sentence1", "text_a", "premise",
)  # fmt: skip
LABEL_CANDIDATES = ("label", "labels", "category", "intent", "class", "target", "sentiment", "topic")
# A pair column is detected only where the partner is unambiguous given the text column.
PAIR_PARTNERS = {"sentence1": "sentence2", "text_a": "text_b", "premise": "hypothesis", "text": "text_pair"}
PAIR_CANDIDATES = tuple(PAIR_PARTNERS.values())


@dataclass(frozen=True, slots=True)
class Columns:
    """Resolved column names, exactly as spelled in the file."""

    text: str
    text_pair: str | None
    label: str | None


def _normal(name: str) -> str:
    return name.strip().casefold()


def _find(available: Sequence[str], candidates: Sequence[str], exclude: set[str]) -> str | None:
    """The first candidate (in candidate order) that names an available column, ignoring case."""
    by_name: dict[str, str] = {}
    for column in available:
        by_name.setdefault(_normal(column), column)  # the leftmost column wins a case-only tie
    for candidate in candidates:
        column = by_name.get(candidate)
        if column is not None and column not in exclude:
            return column
    return None


def _listing(available: Sequence[str]) -> str:
    return ", ".join(available) if available else "(none)"


def _require(name: str, available: Sequence[str], path: Path | str, line: int) -> str:
    if name in available:
        return name
    hint = ""
    close = [c for c in available if _normal(c) == _normal(name)] or difflib.get_close_matches(name, available, n=1)
    if close:
        hint = f"; did you mean '{close[0]}'?"
    raise DataError(f"column not found (available columns: {_listing(available)}){hint}", path, line, name)


def resolve_columns(
    available: Sequence[str],
    *,
    path: Path | str,
    header_line: int = 1,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    require_labels: bool = True,
) -> Columns:
    """Check explicit column names and detect the missing ones.

    The pair column is detected only when the text column was detected too (an explicit
    ``text_column`` means the user picks columns, so a pair must also be named). Without
    ``require_labels`` a missing label column resolves to ``None`` (prediction input).
    """
    if text_column is not None:
        text = _require(text_column, available, path, header_line)
    else:
        found = _find(available, TEXT_CANDIDATES, exclude={label_column} if label_column else set())
        if found is None:
            raise DataError(
                f"cannot find the text column among the columns: {_listing(available)} "
                f"(looked for {', '.join(TEXT_CANDIDATES)}; the first row is the header). "
                "Set data.text_column to the name of the column that holds the text",
                path,
                header_line,
            )
        text = found

    pair: str | None = None
    if text_pair_column is not None:
        pair = _require(text_pair_column, available, path, header_line)
    elif text_column is None:
        partner = PAIR_PARTNERS.get(_normal(text))
        if partner is not None:
            pair = _find(available, (partner,), exclude={text})

    label: str | None = None
    if label_column is not None:
        if label_column in available or require_labels:
            label = _require(label_column, available, path, header_line)
    else:
        label = _find(available, LABEL_CANDIDATES, exclude={text} | ({pair} if pair else set()))
        if label is None and require_labels:
            raise DataError(
                f"cannot find the label column among the columns: {_listing(available)} "
                f"(looked for {', '.join(LABEL_CANDIDATES)}). "
                "Set data.label_column to the name of the column that holds the label",
                path,
                header_line,
            )

    used = [name for name in (text, pair, label) if name is not None]
    if len(set(used)) != len(used):
        raise DataError(
            f"the same column is used twice (text: {text}, text pair: {pair}, label: {label}); "
            "set data.text_column, data.text_pair_column and data.label_column to different columns",
            path,
            header_line,
        )
    return Columns(text, pair, label)
