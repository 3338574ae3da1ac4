"""Decide which columns hold the text, the optional second text of a pair, and the label, and
whether the first row of a CSV/TSV file is a header.

With a header, columns are found by name (the candidates below). Without one they are named by
position ("0", "1", ...) and found by content: the text is the column with the longest values on
average (not one whose values repeat like a label's, when there is another), the label the
remaining column with the fewest distinct values (under half of the rows).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.data.readers import positions
from tunelab.errors import DataError

TEXT_CANDIDATES = (
    "text", "sentence", "content", "utterance", "query", "question", "review", "document",
    "sentence1", "text_a", "premise",
)  # fmt: skip
LABEL_CANDIDATES = ("label", "labels", "category", "intent", "class", "target", "sentiment", "topic")
# A pair column is detected only where the partner is unambiguous given the text column.
PAIR_PARTNERS = {"sentence1": "sentence2", "text_a": "text_b", "premise": "hypothesis", "text": "text_pair"}
PAIR_CANDIDATES = tuple(PAIR_PARTNERS.values())
KNOWN_NAMES = frozenset(TEXT_CANDIDATES + LABEL_CANDIDATES + PAIR_CANDIDATES)
MAX_LABEL_SHARE = 0.5  # a label column repeats its values: fewer distinct values than half the rows
NO_HEADER_HINT = "set data.header: no if the file has no header row (its first row is data)"


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
        found = by_name.get(candidate)
        if found is not None and found not in exclude:
            return found
    return None


def _listing(available: Sequence[str]) -> str:
    return ", ".join(available) if available else "(none)"


def is_position(name: str) -> bool:
    """A column name that is a position ("0", "1", ...): how columns of a file without a header are named."""
    return name.isascii() and name.isdigit()


def _require(name: str, available: Sequence[str], path: Path | str, line: int | None, *, header: bool = True) -> str:
    if name in available:
        return name
    if not header:
        hint = "; without a header, columns are named by position"
        if not is_position(name):
            hint += " (set data.header: yes if the first row is a header)"
        raise DataError(f"column not found (columns: {_listing(available)}){hint}", path, line, name)
    hint = ""
    close = [c for c in available if _normal(c) == _normal(name)] or difflib.get_close_matches(name, available, n=1)
    if close:
        hint = f"; did you mean '{close[0]}'?"
    elif is_position(name):
        hint = "; columns are named by position only in a file without a header: set data.header: no if it has none"
    raise DataError(f"column not found (available columns: {_listing(available)}){hint}", path, line, name)


def _check_distinct(text: str, pair: str | None, label: str | None, path: Path | str, line: int | None) -> None:
    used = [name for name in (text, pair, label) if name is not None]
    if len(set(used)) != len(used):
        raise DataError(
            f"the same column is used twice (text: {text}, text pair: {pair}, label: {label}); "
            "set data.text_column, data.text_pair_column and data.label_column to different columns",
            path,
            line,
        )


def resolve_columns(
    available: Sequence[str],
    *,
    path: Path | str,
    header_line: int | None = 1,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    require_labels: bool = True,
    header: bool = True,
    rows: Iterable[Mapping[str, Any]] = (),
) -> Columns:
    """Check explicit column names and detect the missing ones.

    The pair column is detected only when the text column was detected too (an explicit
    ``text_column`` means the user picks columns, so a pair must also be named). Without
    ``require_labels`` a missing label column resolves to ``None`` (prediction input).

    Without ``header`` the columns are positions and the missing ones are detected from the
    values in ``rows`` (see :func:`detect_by_content`); a pair column is then only taken when named.
    """
    if not header:
        return _resolve_by_content(
            available,
            rows,
            path=path,
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            require_labels=require_labels,
        )
    if text_column is not None:
        text = _require(text_column, available, path, header_line)
    else:
        found = _find(available, TEXT_CANDIDATES, exclude={label_column} if label_column else set())
        if found is None:
            raise DataError(
                f"cannot find the text column among the columns: {_listing(available)} "
                f"(looked for {', '.join(TEXT_CANDIDATES)}; the first row is the header). "
                f"Set data.text_column to the name of the column that holds the text, or {NO_HEADER_HINT}",
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

    _check_distinct(text, pair, label, path, header_line)
    return Columns(text, pair, label)


# --- files without a header -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """What content detection needs to know about one column."""

    name: str
    rows: int  # rows that have a value in this column
    mean_length: float
    distinct: int

    @property
    def distinct_share(self) -> float:
        return self.distinct / self.rows if self.rows else 1.0


def profile_columns(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[ColumnProfile]:
    """Average length and distinct values of each column; ``rows`` are values in column order."""
    width = len(columns)
    counts = [0] * width
    lengths = [0] * width
    values: list[set[str]] = [set() for _ in range(width)]
    for row in rows:
        for i, value in enumerate(row[:width]):
            if value is None:
                continue
            text = value.strip() if isinstance(value, str) else str(value)
            counts[i] += 1
            lengths[i] += len(text)
            values[i].add(text)
    return [
        ColumnProfile(name, counts[i], lengths[i] / counts[i] if counts[i] else 0.0, len(values[i]))
        for i, name in enumerate(columns)
    ]


def detect_by_content(
    profiles: Sequence[ColumnProfile],
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
) -> tuple[str | None, str | None]:
    """(text, label) of a file without a header; explicit columns are kept as given.

    text: the column with the longest values on average (the leftmost on a tie), among those not
    named as the label or pair; a column whose values repeat like a label's is passed over when
    another one does not (short Chinese reviews are shorter than "positive"). label: among the
    other columns, the one with the fewest distinct values, if that is under half of the rows
    (labels repeat; ids and texts do not); else None.
    """
    taken = {name for name in (text_pair_column, label_column) if name is not None}
    text = text_column
    if text is None:
        choices = [p for p in profiles if p.name not in taken]
        choices = [p for p in choices if not _label_like(p)] or choices
        text = max(choices, key=lambda p: p.mean_length).name if choices else None  # max keeps the first
    label = label_column
    if label is None:
        choices = [p for p in profiles if p.name not in taken and p.name != text and _label_like(p)]
        label = min(choices, key=lambda p: p.distinct).name if choices else None
    return text, label


def _label_like(profile: ColumnProfile) -> bool:
    return profile.rows > 0 and profile.distinct_share < MAX_LABEL_SHARE


def _resolve_by_content(
    available: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    path: Path | str,
    text_column: str | None,
    text_pair_column: str | None,
    label_column: str | None,
    require_labels: bool,
) -> Columns:
    text = _require(text_column, available, path, None, header=False) if text_column is not None else None
    pair = _require(text_pair_column, available, path, None, header=False) if text_pair_column is not None else None
    label: str | None = None
    if label_column is not None and (label_column in available or require_labels):
        label = _require(label_column, available, path, None, header=False)
    profiles = profile_columns(available, ([row.get(c) for c in available] for row in rows))
    detected_text, detected_label = detect_by_content(
        profiles, text_column=text, text_pair_column=pair, label_column=label
    )
    if text is None:
        if detected_text is None:
            raise DataError(
                f"cannot find the text column: the file has no header and no column is left for it "
                f'(columns: {_listing(available)}). Set data.text_column to its position, e.g. "0"',
                path,
            )
        text = detected_text
    if label_column is None:
        label = detected_label
        if label is None and require_labels:
            shares = ", ".join(f"{p.name}: {p.distinct} of {p.rows}" for p in profiles if p.name not in (text, pair))
            raise DataError(
                "cannot find the label column: the file has no header, so columns are named by position "
                f"({_listing(available)}) and the label column is the one other than the text column ({text}) "
                f"whose values repeat (fewer distinct values than half the rows; distinct values: "
                f'{shares or "no other column"}). Set data.label_column to its position, e.g. "1"',
                path,
            )
    _check_distinct(text, pair, label, path, None)
    return Columns(text, pair, label)


# --- is the first row a header? ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderGuess:
    """Whether the first row is a header, and why. ``decided`` is False when the rows gave no
    evidence either way and the first row is taken as a header (as it always was)."""

    header: bool
    reason: str
    decided: bool = True


def guess_header(
    rows: Sequence[Sequence[str]],
    *,
    configured: Iterable[str | None] = (),
    text_column: str | None = None,
    label_column: str | None = None,
    known_labels: Collection[str] = (),
    label_parts: Callable[[str], Collection[str]] | None = None,
) -> HeaderGuess:
    """Decide whether ``rows[0]`` is a header (``data.header: auto``).

    A header if the first row names a known column (text, label, ... candidates, any case) or a
    configured one (``configured``; positions such as "0" do not count), or if it reads 0, 1, ...
    (pandas' header for unnamed columns). Not a header only on evidence that the first row is
    data: its value in the label column (``label_column`` if it is a position, else detected from
    the other rows' content) also occurs in that column further down (in a row that is not a copy
    of the first row, as a header repeated by concatenated files would be), or is one of
    ``known_labels`` (labels of the training data, every part of it per ``label_parts`` for
    multi-label values), which a column name would not. Otherwise, undecided: a header.
    """
    if not rows:
        return HeaderGuess(True, "the file has no rows", decided=False)
    first = [value.strip() for value in rows[0]]
    names = KNOWN_NAMES | {_normal(name) for name in configured if name and not is_position(name)}
    for value in first:
        if _normal(value) in names:
            return HeaderGuess(True, f"the first row names the column '{value}'")
    if first == positions(len(first)):
        return HeaderGuess(True, "the first row numbers the columns 0, 1, ...")

    width = len(first)
    rest = [row for row in rows[1:] if len(row) == width]
    columns = positions(width)
    text = text_column if text_column in columns else None
    label = label_column if label_column in columns else None
    if label is None:
        text, label = detect_by_content(profile_columns(columns, rest), text_column=text)
    if label is None:
        return HeaderGuess(True, "no column of the following rows repeats its values like a label", decided=False)
    index = int(label)
    value = first[index]
    if not value:
        return HeaderGuess(True, f"the first row has no value in column {label}", decided=False)
    same_label = [row for row in rest if row[index].strip() == value]
    # Rows that repeat the whole first row do not count: concatenated files repeat their header.
    if any([v.strip() for v in row] != first for row in same_label):
        return HeaderGuess(False, f"its value '{value}' in column {label} also occurs in the following rows")
    parts = label_parts(value) if label_parts is not None else (value,)
    if known_labels and parts and all(part in known_labels for part in parts):
        return HeaderGuess(False, f"its value '{value}' in column {label} is a known label")
    return HeaderGuess(True, f"its value '{value}' in column {label} occurs nowhere else", decided=False)
