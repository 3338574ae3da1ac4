"""Read a CSV/TSV/JSONL table into Examples (text, optional text pair, label), shared by the text tasks."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tunelab.data.columns import NO_HEADER_HINT, guess_header, is_position, resolve_columns
from tunelab.data.example import Example
from tunelab.data.readers import READERS, CsvReader, Record, detect_format, json_type, positions, read_text
from tunelab.errors import ConfigError, DataError

if TYPE_CHECKING:
    pass

_MULTI_LABEL_HINT = "set task.multi_label: true for multi-label data"
HEADER_SETTINGS = ("auto", "yes", "no")


@dataclass
class LoadedFile:
    """One file's examples and the columns they were read from.

    ``header`` says whether a CSV/TSV file's first row was read as its header (None for JSONL).
    Without a header the column names are positions: ``text_column == "0"`` is the first column.
    """

    path: Path
    format: str
    text_column: str
    text_pair_column: str | None
    label_column: str | None
    examples: list[Example]
    header: bool | None = None


@dataclass
class Splits:
    """The data of a run. ``files`` maps each split read from a file to that file's path."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    text_column: str
    text_pair_column: str | None
    label_column: str | None
    dev_source: Literal["file", "split", "none"]
    test_source: Literal["file", "split", "none"]
    files: dict[str, str] = field(default_factory=dict)
    header: bool | None = None
    """Whether train's first row is its header (None for JSONL); False: the columns are positions."""
    format: str | None = None

    @classmethod
    def read_like(
        cls,
        train_file: LoadedFile,
        train: list[Example],
        dev: list[Example],
        test: list[Example],
        sources: dict[str, Any],
        files: dict[str, str],
    ) -> Splits:
        """Splits whose columns, header and format are those ``train_file`` was read with."""
        return cls(
            train=train,
            dev=dev,
            test=test,
            text_column=train_file.text_column,
            text_pair_column=train_file.text_pair_column,
            label_column=train_file.label_column,
            dev_source=sources["dev"],
            test_source=sources["test"],
            files=files,
            header=train_file.header,
            format=train_file.format,
        )

    def describe(self) -> dict[str, Any]:
        """How the files were read, for the artifact (``data.reading``): later files are read alike."""
        return {
            "columns": {"text": self.text_column, "text_pair": self.text_pair_column, "label": self.label_column},
            "format": self.format,
            "header": self.header,
        }


def _text(record: Record, column: str, path: Path) -> str:
    if column not in record.values:
        raise DataError("missing field", path, record.line, column)
    value = record.values[column]
    if isinstance(value, str):
        if not value.strip():
            raise DataError("empty text", path, record.line, column)
        return value  # kept exactly as written: whitespace may matter to the tokenizer or the user
    if value is None:
        raise DataError("empty text", path, record.line, column)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"expected text, found {json_type(value)}", path, record.line, column)


def _scalar_label(value: Any, path: Path, line: int, column: str) -> str:
    """A JSON scalar as a label string; labels are identifiers, so surrounding spaces are dropped."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"  # JSON's spelling, not Python's "True"
    if isinstance(value, (int, float)):
        return str(value)
    raise DataError(f"expected a label, found {json_type(value)}", path, line, column)


def _label(
    record: Record,
    column: str | None,
    path: Path,
    *,
    multi_label: bool,
    separator: str,
    require_labels: bool,
) -> str | tuple[str, ...] | None:
    if column is None:
        return None
    if column not in record.values:
        if require_labels:
            raise DataError("missing field", path, record.line, column)
        return None
    value = record.values[column]
    line = record.line
    if not multi_label:
        if isinstance(value, list):
            raise DataError(f"expected one label, found an array; {_MULTI_LABEL_HINT}", path, line, column)
        label = "" if value is None else _scalar_label(value, path, line, column)
        if not label:
            if require_labels:
                raise DataError("empty label", path, line, column)
            return None
        return label
    if value is None:
        if require_labels:
            raise DataError("label is null; write [] for an example without labels", path, line, column)
        return None
    if isinstance(value, list):
        parts = [_scalar_label(item, path, line, column) for item in value]
    elif isinstance(value, str):
        parts = [part.strip() for part in value.split(separator)]
    else:
        parts = [_scalar_label(value, path, line, column)]
    # An empty tuple is a valid multi-label target: the example has none of the labels.
    return tuple(sorted({part for part in parts if part}))


def read_examples(
    path: str | Path,
    *,
    format: str = "auto",
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_separator: str = "|",
    multi_label: bool = False,
    encoding: str = "utf-8",
    require_labels: bool = True,
    header: str | bool | None = "auto",
    known_labels: Collection[str] = (),
) -> LoadedFile:
    """Read one CSV, TSV or JSONL file. Columns left as None are detected from the header.

    ``header`` (CSV/TSV): "yes", the first row is the header; "no", every row is data and the
    columns are named by position ("0", "1", ...) and detected from their content; "auto" decides
    from the first row (see :func:`tunelab.data.columns.guess_header`). ``known_labels`` are labels
    already known (from train, or a trained model): a first row whose label is one of them is data.
    """
    path = Path(path)
    if format != "auto" and format not in READERS:
        raise DataError(f"unknown format '{format}'; data.format must be auto, {', '.join(READERS)}", path)
    if multi_label and not label_separator:
        raise ConfigError("data.label_separator must not be empty for multi-label data")
    setting = header_setting(header)
    text = read_text(path, encoding)  # first, so a mistyped path says "file not found", not "unknown extension"
    if format == "auto":
        format = detect_format(path)
    reader = READERS[format]()
    if isinstance(reader, CsvReader):
        rows = reader.parse(text, path)
        has_header = setting == "yes"
        if setting == "auto":
            has_header = guess_header(
                [row for _, row in rows.rows],
                configured=(text_column, text_pair_column, label_column),
                text_column=text_column,
                label_column=label_column,
                known_labels=known_labels,
                label_parts=partial(_label_parts, separator=label_separator) if multi_label else None,
            ).header
        width = (
            None
            if has_header
            else _positional_width(rows.rows, text_column, text_pair_column, label_column, require_labels)
        )
        table = reader.table(
            rows, header=has_header, hint=f"; {NO_HEADER_HINT}" if setting == "auto" else "", width=width
        )
    else:
        table = reader.read(text, path)  # JSONL: every object names its fields
    columns = resolve_columns(
        table.columns,
        path=path,
        header_line=table.header_line,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        require_labels=require_labels,
        # A header that only numbers the columns (pandas' for unnamed ones) names nothing: detect by content.
        header=table.header and table.columns != positions(len(table.columns)),
        rows=(record.values for record in table.records),
    )
    examples = [
        Example(
            text=_text(record, columns.text, path),
            text_pair=_text(record, columns.text_pair, path) if columns.text_pair else None,
            label=_label(
                record,
                columns.label,
                path,
                multi_label=multi_label,
                separator=label_separator,
                require_labels=require_labels,
            ),
            source=str(path),
            line=record.line,
        )
        for record in table.records
    ]
    header_read = table.header if isinstance(reader, CsvReader) else None
    return LoadedFile(path, format, columns.text, columns.text_pair, columns.label, examples, header_read)


def _positional_width(
    rows: list[tuple[int, list[str]]],
    text_column: str | None,
    text_pair_column: str | None,
    label_column: str | None,
    require_labels: bool,
) -> int | None:
    """Without a header, when every column to read is named by position (none is detected from
    content): how many leading columns they need. Rows may then carry extra trailing fields (see
    :meth:`CsvReader.table`). None when a column is to be detected, or when the first row is
    narrower than that (the missing column is then reported by name)."""
    named = [name for name in (text_column, text_pair_column, label_column) if name is not None]
    if text_column is None or (label_column is None and require_labels) or not all(map(is_position, named)):
        return None
    width = max(int(name) for name in named) + 1
    return width if rows and len(rows[0][1]) >= width else None


def header_setting(value: str | bool | None) -> str:
    """ "auto", "yes" or "no" from the config value (YAML reads a bare yes/no as a boolean)."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value in HEADER_SETTINGS:
        return value
    raise ConfigError(f"data.header must be auto, yes or no, not {value!r}")


def _label_parts(value: str, separator: str) -> list[str]:
    return [part.strip() for part in value.split(separator) if part.strip()]
