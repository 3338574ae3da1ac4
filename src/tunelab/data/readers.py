"""Turn a CSV, TSV or JSON Lines file into a table of records, each tagged with its 1-based line.

Readers only parse: which columns hold the text and the label, and what makes a value valid, is
decided by :mod:`tunelab.data.columns` and :mod:`tunelab.data.loading`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tunelab.errors import DataError

SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json-lines": "jsonl",
}


@dataclass(frozen=True, slots=True)
class Record:
    """One row (CSV/TSV) or object (JSONL) and the line it starts on."""

    line: int
    values: dict[str, Any]


@dataclass(slots=True)
class Table:
    """What a reader returns. ``columns`` is the header (CSV/TSV) or the first object's keys (JSONL)."""

    path: Path
    columns: list[str]
    header_line: int
    records: list[Record] = field(default_factory=list)


def detect_format(path: str | Path) -> str:
    """Format name ("csv", "tsv", "jsonl") from the file extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    supported = ", ".join(SUFFIXES)
    hint = ""
    if suffix == ".json":
        # A plain .json file is usually one big array, which the JSONL reader cannot read.
        hint = " A .json file is read only if it holds one object per line (JSON Lines);"
    raise DataError(
        f"cannot tell the format from the extension '{suffix or '(none)'}' (supported: {supported}).{hint}"
        " Rename the file or set data.format to csv, tsv or jsonl.",
        path,
    )


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Read and decode a whole file; every failure is a DataError that says where and what to do."""
    path = Path(path)
    if path.is_dir():
        raise DataError("file not found: this path is a directory, not a data file", path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", path) from None
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise DataError(
            f"unknown encoding '{encoding}'; set data.encoding to a Python codec name such as utf-8", path
        ) from None
    # utf-8-sig decodes plain UTF-8 too, and drops the BOM that Excel and Notepad write.
    if codec == "utf-8":
        encoding = "utf-8-sig"
    if not data.strip():
        raise DataError("file is empty", path)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        # Everything before exc.start decoded fine, so decoding it again gives the exact line and the
        # column in characters (what an editor shows), for any encoding, not just UTF-8.
        before = data[: exc.start].decode(encoding, errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        shown = "utf-8" if codec == "utf-8" else encoding
        bad = data[exc.start]
        raise DataError(
            f"bytes are not valid {shown} (byte 0x{bad:02x} at column {column}); "
            f"re-save the file as UTF-8 or set data.encoding",
            path,
            line,
        ) from None


class Reader:
    """Parse decoded file contents into a :class:`Table`. Subclasses implement :meth:`read`."""

    name: ClassVar[str]

    def read(self, text: str, path: str | Path) -> Table:
        raise NotImplementedError


class CsvReader(Reader):
    """Comma-separated values with a header row, read with the stdlib csv module."""

    name: ClassVar[str] = "csv"
    delimiter: ClassVar[str] = ","

    def read(self, text: str, path: str | Path) -> Table:
        path = Path(path)
        # newline="" lets csv see the raw line endings, so quoted fields may contain CRLF.
        # strict=True turns `"a"b` and an unclosed quote into errors instead of silently merged data.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter, strict=True)
        table: Table | None = None
        start = 1
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                if table is None:
                    table = Table(path, self._header(row, path, line), line)
                    continue
                if len(row) != len(table.columns):
                    raise DataError(
                        f"expected {len(table.columns)} fields, found {len(row)}"
                        f"{self._field_hint(row, len(table.columns))}",
                        path,
                        line,
                    )
                table.records.append(Record(line, dict(zip(table.columns, row))))
        except csv.Error as exc:
            raise DataError(self._explain(exc, start), path, start) from None
        if table is None:
            raise DataError("file is empty", path)
        if not table.records:
            raise DataError(f"file has a header but no rows (header: {', '.join(table.columns)})", path)
        return table

    def _header(self, row: list[str], path: Path, line: int) -> list[str]:
        seen: set[str] = set()
        for name in row:
            # A dict record would keep only the last of two same-named columns, losing data silently.
            if name in seen:
                raise DataError(f"the header names column '{name}' twice; column names must be unique", path, line)
            seen.add(name)
        return row

    def _field_hint(self, row: list[str], expected: int) -> str:
        if len(row) <= expected:
            return ""
        if self.delimiter == ",":
            return '; quote fields that contain commas, e.g. "Hello, world"'
        return "; a field contains a tab: remove it or quote the field"

    def _explain(self, exc: csv.Error, line: int) -> str:
        message = str(exc)
        if "unexpected end of data" in message:
            return f"a quoted field starting on line {line} is never closed (unmatched '\"')"
        if "expected after" in message:
            separator = "comma" if self.delimiter == "," else "tab"
            return (
                f"bad quoting: a field that starts with '\"' must end with '\"' right before the next {separator}; "
                'inside a quoted field write a quote as two quotes ("")'
            )
        if "field larger than field limit" in message:
            return f"{message}; this usually means an unmatched '\"' starting on line {line}"
        return f"cannot parse the row: {message}"


class TsvReader(CsvReader):
    """Tab-separated values with a header row."""

    name: ClassVar[str] = "tsv"
    delimiter: ClassVar[str] = "\t"


class JsonlReader(Reader):
    """JSON Lines: one JSON object per line. Columns are the keys of the first object."""

    name: ClassVar[str] = "jsonl"

    def read(self, text: str, path: str | Path) -> Table:
        path = Path(path)
        table: Table | None = None
        # Split on "\n" only: str.splitlines would also split on U+2028 and friends, which JSON
        # allows unescaped inside strings, and the line numbers would stop matching an editor's.
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, number) from None
            if not isinstance(value, dict):
                raise DataError(
                    f"expected a JSON object ({{...}}) on each line, found {json_type(value)}", path, number
                )
            if table is None:
                table = Table(path, list(value), number)
            table.records.append(Record(number, value))
        if table is None:
            raise DataError("file is empty", path)
        return table


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


READERS: dict[str, type[Reader]] = {
    CsvReader.name: CsvReader,
    TsvReader.name: TsvReader,
    JsonlReader.name: JsonlReader,
}
