"""Read a CSV/TSV/JSONL table into Examples (text, optional text pair, label), shared by the text tasks."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from tunelab.data.columns import NO_HEADER_HINT, guess_header, is_position, resolve_columns
from tunelab.data.example import Example
from tunelab.data.pii import PiiMasker
from tunelab.data.readers import (
    READERS,
    CsvReader,
    ErrorCollector,
    JsonlReader,
    Record,
    detect_format,
    json_type,
    positions,
    read_text,
)
from tunelab.errors import ConfigError, DataError

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
    delimiter: str | None = None
    """The CSV delimiter used (configured or detected) when it is not a comma; None otherwise."""


def pii_masker(setting: bool | list[str] | tuple[str, ...] | None) -> PiiMasker | None:
    """The masker ``data.mask_pii`` asks for: None when false (the default), every type when true,
    else the types listed. Pass the same masker to every split's read, then
    :meth:`Splits.read_like` (or ``describe``) reports its counts."""
    if not setting:
        return None
    return PiiMasker() if isinstance(setting, bool) else PiiMasker(tuple(setting))


def pii_description(masker: PiiMasker | None) -> dict[str, Any]:
    """What ``data.reading`` records about masking: the types masked and how many items of each
    were masked over every split (empty when masking is off)."""
    if masker is None:
        return {}
    return {"mask_pii": {"types": list(masker.entities), "masked": masker.summary()}}


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
    delimiter: str | None = None
    """train's CSV delimiter when it is not a comma (detected or configured)."""
    masker: PiiMasker | None = None
    """The PII masker the splits were read with (``data.mask_pii``), holding its counts."""

    @classmethod
    def read_like(
        cls,
        train_file: LoadedFile,
        train: list[Example],
        dev: list[Example],
        test: list[Example],
        sources: dict[str, Any],
        files: dict[str, str],
        masker: PiiMasker | None = None,
    ) -> Splits:
        """Splits whose columns, header and format are those ``train_file`` was read with;
        ``masker``: the PII masker every split was read with, for its counts."""
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
            delimiter=train_file.delimiter,
            masker=masker,
        )

    def describe(self) -> dict[str, Any]:
        """How the files were read, for the artifact (``data.reading``): later files are read alike.
        A CSV delimiter other than the comma and the PII masking counts (``mask_pii``: types and items
        masked per type) are added when they apply."""
        described: dict[str, Any] = {
            "columns": {"text": self.text_column, "text_pair": self.text_pair_column, "label": self.label_column},
            "format": self.format,
            "header": self.header,
        }
        if self.delimiter is not None:
            described["delimiter"] = self.delimiter
        described.update(pii_description(self.masker))
        return described


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
    encoding: str | Mapping[str, str] = "utf-8",
    require_labels: bool = True,
    header: str | bool | None = "auto",
    known_labels: Collection[str] = (),
    split: str | None = None,
    delimiter: str = "auto",
    mask_pii: PiiMasker | None = None,
) -> LoadedFile:
    """Read one CSV, TSV or JSONL file. Columns left as None are detected from the header.

    ``encoding`` is a codec or ``data.encoding``'s mapping per split, of which ``split``'s entry is
    used. ``delimiter`` (CSV): one character, or "auto" to detect it. ``mask_pii``: a
    :class:`~tunelab.data.pii.PiiMasker` that masks every text and text pair (and counts what it
    masked). Every bad row of the file is reported, in one error (up to
    :data:`~tunelab.data.readers.MAX_ERRORS`).

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
    text = read_text(path, encoding, split)  # first: a mistyped path says "file not found", not "unknown extension"
    if format == "auto":
        format = detect_format(path)
    reader = CsvReader(delimiter) if format == "csv" else READERS[format]()
    errors = ErrorCollector()
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
            rows,
            header=has_header,
            hint=f"; {NO_HEADER_HINT}" if setting == "auto" else "",
            width=width,
            errors=errors,
        )
    else:
        assert isinstance(reader, JsonlReader)
        table = reader.read(text, path, errors=errors)  # JSONL: every object names its fields
    try:
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
    except DataError:
        errors.check()  # rows left out as malformed may be why no column fits: report them first
        raise
    examples: list[Example] = []
    for record in table.records:
        # Every field of every record is checked, so one run reports all the file's problems.
        text_value = _checked(errors, _text, record, columns.text, path)
        pair = _checked(errors, _text, record, columns.text_pair, path) if columns.text_pair else None
        label = _checked(
            errors,
            _label,
            record,
            columns.label,
            path,
            multi_label=multi_label,
            separator=label_separator,
            require_labels=require_labels,
        )
        if errors:
            continue
        if mask_pii is not None:
            text_value = mask_pii(text_value)
            pair = mask_pii(pair) if pair is not None else None
        examples.append(Example(text=text_value, text_pair=pair, label=label, source=str(path), line=record.line))
    errors.check()
    header_read = table.header if isinstance(reader, CsvReader) else None
    used = reader.delimiter if isinstance(reader, CsvReader) and format == "csv" and reader.delimiter != "," else None
    return LoadedFile(path, format, columns.text, columns.text_pair, columns.label, examples, header_read, used)


def _checked(errors: ErrorCollector, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``check(*args, **kwargs)``, or None with its DataError added to ``errors``."""
    try:
        return check(*args, **kwargs)
    except DataError as err:
        errors.add(err)
        return None


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
