"""Turn a CSV, TSV or JSON Lines file into a table of records, each tagged with its 1-based line.

Readers only parse: which columns hold the text and the label, and what makes a value valid, is
decided by :mod:`tunelab.data.columns` and :mod:`tunelab.data.loading`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from tunelab.data.delimiters import (  # noqa: F401  (re-exported)
    DELIMITERS,
    delimiter_name,
    normal_delimiter,
    sniff_delimiter,
)
from tunelab.data.error_list import MAX_ERRORS, DataErrors, ErrorCollector  # noqa: F401  (re-exported)
from tunelab.errors import DataError


def _raise_field_size_limit() -> None:
    """Lift the csv module's 128 KiB field limit: a text field may be megabytes long. The limit is
    stored in a C long, 32 bits on Windows, so halve sys.maxsize until it fits."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 2


_raise_field_size_limit()


def split_encoding(encoding: str | Mapping[str, str], split: str | None = None) -> str:
    """The codec of one split's file: ``data.encoding`` is one codec for every file, or a mapping
    per split (a split it does not name is utf-8). A file read without a split (evaluate, predict)
    takes the mapping's test entry."""
    if isinstance(encoding, Mapping):
        return str(encoding.get(split or "test", "utf-8"))
    return encoding


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
    """What a reader returns. ``columns`` is the header (CSV/TSV), the positions "0", "1", ... of a
    CSV/TSV file read without a header, or the first object's keys (JSONL). ``header_line`` is the
    line of the header row, None when there is none."""

    path: Path
    columns: list[str]
    header_line: int | None
    records: list[Record] = field(default_factory=list)
    header: bool = True


@dataclass(slots=True)
class Rows:
    """A CSV/TSV file cut into rows, before deciding whether the first row is a header.

    ``rows`` holds each non-blank row with the 1-based line it starts on. A parse error is kept in
    ``error`` and raised by :meth:`CsvReader.table` after the rows before it are checked, so the
    first problem in the file is the one reported.
    """

    path: Path
    rows: list[tuple[int, list[str]]]
    error: DataError | None = None
    note: str = ""  # how the rows were cut, when it is not the usual way; added to field-count errors


def positions(width: int) -> list[str]:
    """Column names of a file without a header: "0", "1", ... (what ``data.text_column`` names)."""
    return [str(i) for i in range(width)]


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


def read_text(path: str | Path, encoding: str | Mapping[str, str] = "utf-8", split: str | None = None) -> str:
    """Read and decode a whole file; every failure is a DataError that says where and what to do.

    ``encoding`` is a codec name or ``data.encoding``'s mapping per split (see :func:`split_encoding`)."""
    path = Path(path)
    key = "data.encoding"
    if isinstance(encoding, Mapping):
        key = f"data.encoding.{split or 'test'}"
        encoding = split_encoding(encoding, split)
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
            f"unknown encoding '{encoding}'; set {key} to a Python codec name such as utf-8, gb18030 or latin-1",
            path,
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
            f"re-save the file as UTF-8 or set {key}",
            path,
            line,
        ) from None


class Reader:
    """Parse decoded file contents into a :class:`Table`. Subclasses implement :meth:`read`."""

    name: ClassVar[str]

    def read(self, text: str, path: str | Path) -> Table:
        raise NotImplementedError


class CsvReader(Reader):
    """Comma-separated values, read with the stdlib csv module; the first row is the header unless
    ``header=False`` (whether it is one is decided by :mod:`tunelab.data.loading`)."""

    name: ClassVar[str] = "csv"
    default_delimiter: ClassVar[str] = ","
    # Plain TSV (GLUE, CLUE, ...) writes quotes as ordinary characters and never quotes a field;
    # such a file is read line by line when it is not valid quoted TSV.
    plain_fallback: ClassVar[bool] = False
    # Whether "auto" looks at the content: a .csv file may well be ;-separated (Excel in many
    # locales), a .tsv file is tab-separated by definition.
    sniffs: ClassVar[bool] = True

    def __init__(self, delimiter: str = "auto") -> None:
        #: the delimiter in use: the one configured, or the one :meth:`parse` detected
        self.delimiter = self.default_delimiter if delimiter == "auto" or not self.sniffs else delimiter
        self.detect = delimiter == "auto" and self.sniffs

    def read(self, text: str, path: str | Path, header: bool = True) -> Table:
        """Parse and build the table; without ``header`` the columns are named by position."""
        return self.table(self.parse(text, path), header=header)

    def parse(self, text: str, path: str | Path) -> Rows:
        """Cut the text into rows (quoted fields may span lines); blank lines are skipped.

        With ``delimiter="auto"`` the delimiter is detected first (:func:`sniff_delimiter`).
        A TSV file that is not valid quoted TSV (a field starting with '"' that is not a quoted
        field) is plain TSV: it is read again with quotes as ordinary characters, one row a line,
        if that reads without error.
        """
        if self.detect:
            self.delimiter = sniff_delimiter(text, self.default_delimiter)
        rows = self._parse(text, Path(path), csv.QUOTE_MINIMAL)
        if rows.error is not None and self.plain_fallback:
            plain = self._parse(text, Path(path), csv.QUOTE_NONE)
            if plain.error is None:
                plain.note = (
                    f"; quotes are read as plain characters, one row a line, because the file is not valid "
                    f"quoted {self.name.upper()} (line {rows.error.line}: {rows.error.message})"
                )
                return plain
        return rows

    def _parse(self, text: str, path: Path, quoting: Literal[0, 1, 2, 3]) -> Rows:
        # newline="" lets csv see the raw line endings, so quoted fields may contain CRLF.
        # strict=True turns `"a"b` and an unclosed quote into errors instead of silently merged data.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter, strict=True, quoting=quoting)
        rows = Rows(path, [])
        start = 1
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                rows.rows.append((line, row))
        except csv.Error as exc:
            rows.error = DataError(self._explain(exc, start), path, start)
        return rows

    def table(
        self,
        rows: Rows,
        *,
        header: bool = True,
        hint: str = "",
        width: int | None = None,
        errors: ErrorCollector | None = None,
    ) -> Table:
        """Records from parsed rows. With ``header`` the first row names the columns; without it
        every row is data and the columns are "0", "1", ... as wide as the first row. ``hint`` is
        added to errors about the header row (e.g. how to read the file without one).

        ``width`` (no header only) is set when the columns to read are named by position: the
        table is then that many columns wide, and a row may carry extra trailing fields (STS-B's
        distributed files add source columns to some rows), which are ignored; every row must
        still have the ``width`` fields the named columns need.

        Rows with the wrong number of fields are all reported, in one error (see
        :class:`ErrorCollector`); with ``errors`` they are added to it and left out of the table,
        for the caller to report along with its own checks of the records."""
        path = rows.path
        collector = ErrorCollector() if errors is None else errors
        if not rows.rows:
            if rows.error is not None:
                raise rows.error
            raise DataError("file is empty", path)
        first_line, first = rows.rows[0]
        at_least = not header and width is not None
        if header:
            table = Table(path, self._header(first, path, first_line, hint), first_line)
            data = rows.rows[1:]
            width_note = ""
        elif at_least:
            table = Table(path, positions(width or 0), None, header=False)
            data = rows.rows
            width_note = f" (the columns named by position need at least {width}; the file has no header)"
        else:
            table = Table(path, positions(len(first)), None, header=False)
            data = rows.rows
            width_note = f" (as many as the first row, line {first_line}; the file has no header)"
        width = len(table.columns)
        for line, row in data:
            if at_least and len(row) > width:
                row = row[:width]
            if len(row) != width:
                hint = self._field_hint(row, width, plain=bool(rows.note))
                collector.add(
                    DataError(f"expected {width} fields, found {len(row)}{width_note}{hint}{rows.note}", path, line)
                )
                continue
            table.records.append(Record(line, dict(zip(table.columns, row))))
        if rows.error is not None:
            collector.add(rows.error)
        if errors is None or rows.error is not None:
            collector.check()  # a parse error stops the reading: what follows it is unknown
        if not table.records and not collector:
            raise DataError(f"file has a header but no rows (header: {', '.join(table.columns)}){hint}", path)
        return table

    def _header(self, row: list[str], path: Path, line: int, hint: str = "") -> list[str]:
        seen: set[str] = set()
        for name in row:
            # A dict record would keep only the last of two same-named columns, losing data silently.
            if name in seen:
                raise DataError(
                    f"the header names column '{name}' twice; column names must be unique{hint}", path, line
                )
            seen.add(name)
        return row

    def _field_hint(self, row: list[str], expected: int, plain: bool = False) -> str:
        if len(row) <= expected:
            return ""
        if self.delimiter == ",":
            return '; quote fields that contain commas, e.g. "Hello, world"'
        if self.delimiter == "\t":
            return "; a field contains a tab: remove it" + ("" if plain else " or quote the field")
        shown = delimiter_name(self.delimiter)
        detected = " (detected; set data.delimiter if it is not the separator)" if self.detect else ""
        return (
            f"; the fields are separated by {shown}{detected}: quote fields that contain it, "
            f'e.g. "Hello{self.delimiter} world"'
        )

    def _explain(self, exc: csv.Error, line: int) -> str:
        message = str(exc)
        if "unexpected end of data" in message:
            return f"a quoted field starting on line {line} is never closed (unmatched '\"')"
        if "expected after" in message:
            separator = delimiter_name(self.delimiter)
            return (
                f"bad quoting: a field that starts with '\"' must end with '\"' right before the next {separator}; "
                'inside a quoted field write a quote as two quotes ("")'
            )
        if "field larger than field limit" in message:
            return f"{message}; this usually means an unmatched '\"' starting on line {line}"
        return f"cannot parse the row: {message}"


class TsvReader(CsvReader):
    """Tab-separated values; like :class:`CsvReader`."""

    name: ClassVar[str] = "tsv"
    default_delimiter: ClassVar[str] = "\t"
    plain_fallback: ClassVar[bool] = True
    sniffs: ClassVar[bool] = False


class JsonlReader(Reader):
    """JSON Lines: one JSON object per line. Columns are the keys of the first object."""

    name: ClassVar[str] = "jsonl"

    def read(self, text: str, path: str | Path, errors: ErrorCollector | None = None) -> Table:
        """Every line that is not a JSON object is reported, in one error (with ``errors``: added to
        it, for the caller to report with its own checks)."""
        path = Path(path)
        collector = ErrorCollector() if errors is None else errors
        table: Table | None = None
        # Split on "\n" only: str.splitlines would also split on U+2028 and friends, which JSON
        # allows unescaped inside strings, and the line numbers would stop matching an editor's.
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                collector.add(DataError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, number))
                continue
            if not isinstance(value, dict):
                collector.add(
                    DataError(f"expected a JSON object ({{...}}) on each line, found {json_type(value)}", path, number)
                )
                continue
            if table is None:
                table = Table(path, list(value), number)
            table.records.append(Record(number, value))
        if errors is None or table is None:
            collector.check()
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
