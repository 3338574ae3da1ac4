"""CSV field separators: ``data.delimiter`` values, their names in messages, and detection."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

DELIMITERS = (",", ";", "\t", "|")
"""What ``data.delimiter: auto`` chooses from, in order of preference on a tie."""

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "space"}
_SNIFF_ROWS = 50
_SNIFF_CHARS = 1 << 20


def delimiter_name(delimiter: str) -> str:
    """How error messages name a delimiter: "comma", "tab", "';'", ..."""
    return _DELIMITER_NAMES.get(delimiter, repr(delimiter))


def normal_delimiter(value: Any) -> str:
    """``data.delimiter`` as "auto" or one character ("tab" and a written "\\t" are a tab)."""
    if not isinstance(value, str):
        raise ValueError("must be auto or one character such as , ; | or tab")
    aliases = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
    value = aliases.get(value.lower(), value) if value.lower() != "auto" else "auto"
    if value == "auto":
        return value
    if len(value) != 1 or value in ('"', "\r", "\n"):
        raise ValueError("must be auto or one character such as , ; | or tab (not a quote or a line break)")
    return value


def sniff_delimiter(text: str, default: str = ",", candidates: tuple[str, ...] = DELIMITERS) -> str:
    """The delimiter of a CSV text: the candidate that cuts the first rows into the same number
    (at least 2, the first row's) of fields most consistently, quotes respected; ``default`` when
    none does.

    csv.Sniffer guesses from character frequencies and fails on short files, on a text column full
    of commas, and on files with a single column; parsing the rows with each candidate and
    comparing field counts is what a person checks by eye. Ties go to the earlier candidate
    (the comma first)."""
    sample = text[:_SNIFF_CHARS]
    best: tuple[float, int] | None = None
    choice = default
    for order, delimiter in enumerate(candidates):
        if delimiter not in sample:
            continue
        counts: list[int] = []
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                counts.append(len(row))
                if len(counts) >= _SNIFF_ROWS:
                    break
        except csv.Error:
            pass  # a quoting problem (or a sample cut inside a quoted field): judge the rows before it
        if len(sample) == _SNIFF_CHARS and len(counts) > 1 and len(counts) < _SNIFF_ROWS:
            counts.pop()  # the last row may be cut by the sample's end
        if not counts:
            continue
        width, hits = Counter(counts).most_common(1)[0]
        if width < 2 or counts[0] != width:
            continue  # the first row (the header, usually) is cut like the others in a real table
        score = (hits / len(counts), -order)
        if best is None or score > best:
            best, choice = score, delimiter
    return choice
