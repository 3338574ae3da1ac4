from __future__ import annotations

import csv
import dataclasses
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from tunelab.errors import DataError, OutputError, TunelabError

STDIO = "-"
OUTPUT_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv")
TEXT_SUFFIXES = (".txt",)
# Input columns that are never passed through to the output: they hold what was predicted from
# or what is predicted (a file's gold labels or tags).
_NOT_PASSED = ("text", "text_pair", "label", "labels", "tags", "ner_tags", "tokens", "entities")


def write_predictions(records: list[dict[str, Any]], path: Path, task, passed: Sequence[str] = ()) -> None:
    """CSV/TSV (the task's columns, after any passed-through input columns) or JSONL, by
    extension; written to a temporary file beside ``path``, then renamed over it."""
    from tunelab.files import atomic_writer

    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise OutputError(f"cannot write predictions to {path}: use a .csv, .tsv or .jsonl file name, or -o -")
    with atomic_writer(path) as fh:
        if suffix in (".jsonl", ".ndjson"):
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            writer = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
            extra = list(passed)
            header, rows = task.record_table([{k: v for k, v in r.items() if k not in extra} for r in records])
            writer.writerow([*extra, *header])
            for record, row in zip(records, rows):
                writer.writerow([_cell(record.get(name)) for name in extra] + list(row))


def predict_cli(
    artifact: Path = typer.Argument(..., help="A trained tunelab artifact directory."),
    texts: Optional[list[str]] = typer.Argument(None, help="Texts to predict (pair models: see --pair)."),
    pairs: Optional[list[str]] = typer.Option(
        None, "--pair", "-p", help="Second text of a pair, once per text (models trained on text pairs)."
    ),
    input_file: Optional[Path] = typer.Option(
        None,
        "-i",
        "--input",
        help="CSV/TSV/JSONL file, or .txt with one text a line; - reads standard input (text lines, or JSON lines).",
    ),
    output_file: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Write predictions here (.csv, .tsv or .jsonl); - writes JSON lines to stdout."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing -o file."),
    text_column: Optional[str] = typer.Option(None, help="Text column of the input file."),
    text_pair_column: Optional[str] = typer.Option(None, help="Second-text column of the input file (pair models)."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="How many labels with scores to return per text."),
    batch_size: int = typer.Option(64, help="Texts per forward pass."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Predict with scores for texts (or text pairs) given inline, in a file or on standard input.

    Input columns other than the text and label (such as `id`) are copied to each output record.

    Examples:

      tunelab predict runs/banking77 "I lost my card"

      tunelab predict runs/stsb "A man plays a guitar." --pair "Someone is playing a guitar."

      tunelab predict runs/banking77 -i questions.csv -o predictions.csv --overwrite

      cat texts.txt | tunelab predict runs/banking77 -i - -o - | jq .label

      tunelab predict runs/squad --question "Who came?" --context "Ann came."   (a model's named inputs)
    """
    texts, named = split_named_inputs(texts or [])
    if pairs and not texts:
        raise TunelabError("--pair gives the second text of an inline text; give the texts too")
    if not texts and not named and input_file is None:
        raise TunelabError("give texts to predict or an input file with -i FILE (-i - reads standard input)")
    from_stdin = input_file is not None and str(input_file) == STDIO
    to_stdout = output_file is not None and str(output_file) == STDIO
    if output_file is not None and not to_stdout:
        _check_output(output_file, overwrite, input_file if not from_stdin else None, artifact)

    if named:
        _check_named_early(artifact, named)
    from tunelab.inference.predictor import load

    # Standard input is read before the model loads, so a producer is not kept waiting on a full pipe.
    stdin_data = sys.stdin.buffer.read() if from_stdin else None
    predictor = load(artifact, batch_size=batch_size)
    examples = predictor.task.make_examples(list(texts), text_pairs=list(pairs) if pairs else None) if texts else []
    if named:  # the model's named inputs: --question Q --context C for extractive QA
        from tunelab.tasks.hooks import examples_from_items, input_fields, items_from_options

        examples += examples_from_items(predictor.task, items_from_options(input_fields(predictor.task), named))
    extras: list[dict[str, Any]] = [{} for _ in examples]
    if input_file is not None:
        options = {"text_column": text_column, "text_pair_column": text_pair_column}
        if stdin_data is not None:
            read, passed = read_stdin(predictor, stdin_data, **options)
        else:
            read, passed = read_input(predictor, input_file, **options)
        examples += read
        extras += passed
    records = predictor.records_for(examples, top_k=top_k) if examples else []
    # a passed-through column never replaces what the model predicts (an input column named 'score')
    extras = [{k: v for k, v in extra.items() if k not in record} for extra, record in zip(extras, records)]
    records = [{**extra, **record} for extra, record in zip(extras, records)]

    status = Console(stderr=True)
    if to_stdout:
        _print_json_lines(records)
        return
    if output_file is not None:
        write_predictions(records, output_file, predictor.task, passed_columns(extras))
        status.print(f"wrote {len(records)} predictions to {output_file}", highlight=False, soft_wrap=True)
        return
    if as_json:
        _print_json_lines(records)
        return
    if not records:
        status.print("no texts to predict", highlight=False)
        return
    header, rows = predictor.task.terminal_rows(records)
    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def split_named_inputs(arguments: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Inline texts, and the ``--NAME VALUE`` / ``--NAME=VALUE`` pairs among them: options the
    command does not define (it ignores unknown options) name a model's input fields, checked
    once the model is loaded (``tunelab.tasks.hooks.items_from_options``)."""
    texts: list[str] = []
    named: list[tuple[str, str]] = []
    i = 0
    while i < len(arguments):
        token = arguments[i]
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            if not eq:
                if i + 1 >= len(arguments):
                    raise TunelabError(f"option --{name} needs a value")
                value, i = arguments[i + 1], i + 1
            named.append((name, value))
        else:
            texts.append(token)
        i += 1
    return texts, named


def _check_named_early(artifact: Path, named: list[tuple[str, str]]) -> None:
    """Refuse options that are none of the model's input fields before the model loads (from
    ``tunelab.json`` alone); an artifact that cannot be read this way is checked after loading."""
    from tunelab.tasks.hooks import input_fields, items_from_options

    try:
        from tunelab.artifact import read_meta, resolve_artifact_dir
        from tunelab.config import parse_task_config
        from tunelab.tasks import task_from_state

        meta = read_meta(resolve_artifact_dir(artifact))
        task = task_from_state(parse_task_config(meta.task.config), meta.task.state)
    except Exception:  # noqa: BLE001 - the load below reports what is wrong with the artifact
        return
    items_from_options(input_fields(task), named)


def _check_output(output: Path, overwrite: bool, input_file: Path | None, artifact: Path) -> None:
    """Before the model loads: a supported extension, not an input, not an existing file without --overwrite."""
    from tunelab.files import check_output_file
    from tunelab.workflow.evaluate import artifact_files

    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(f"cannot write predictions to {output}: use a .csv, .tsv or .jsonl file name, or -o -")
    check_output_file(output, overwrite=overwrite, inputs=[input_file, *artifact_files(artifact)])


def _print_json_lines(records: list[dict[str, Any]]) -> None:
    out = sys.stdout
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


# -- reading input -------------------------------------------------------------------------------
def read_input(predictor, path: Path, **options: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Examples of an input file and, per example, the input columns passed through to its record.

    A ``.txt`` file holds one text a line (unless the model was trained on ``.txt`` files, which its
    task reads as it read them); an empty file gives no examples."""
    from tunelab.data.readers import read_text
    from tunelab.workflow.evaluate import read_for_artifact

    encoding = predictor.meta.data_config.get("encoding", "utf-8")
    if path.is_file() and not path.read_bytes().strip():
        return [], []
    train_file = predictor.meta.data.files.get("train")
    trained_on_txt = train_file is not None and Path(train_file.path).suffix.lower() in TEXT_SUFFIXES
    if path.suffix.lower() in TEXT_SUFFIXES and not trained_on_txt:
        return text_lines(predictor, read_text(path, encoding), str(path))
    try:
        examples = read_for_artifact(predictor, path, require_labels=False, **options)
    except DataError as err:
        if err.message.startswith("file has a header but no rows"):
            return [], []  # a header and nothing else: an empty input
        raise
    passed = passed_through(predictor, examples, read_text(path, encoding), path, options)
    return examples, passed


def read_stdin(predictor, data: bytes, **options: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Standard input: JSON lines when every non-blank line is a JSON object, else one text a line."""
    from tunelab.workflow.evaluate import read_for_artifact

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"bytes are not valid utf-8 (byte 0x{data[exc.start]:02x})", "<stdin>", line) from None
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return [], []
    if not all(_is_json_object(line) for line in lines):
        return text_lines(predictor, text, "<stdin>")
    with tempfile.TemporaryDirectory(prefix="tunelab-stdin-") as tmp:
        path = Path(tmp) / "stdin.jsonl"
        path.write_text(text, encoding="utf-8")
        try:
            examples = read_for_artifact(predictor, path, require_labels=False, **options)
        except DataError as err:
            raise DataError(err.message, "<stdin>", err.line, err.field) from None
        passed = passed_through(predictor, examples, text, path, options)
    return [_relocated(ex, "<stdin>", getattr(ex, "line", 0)) for ex in examples], passed


def text_lines(predictor, text: str, source: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """One text a line; blank lines are skipped, the others keep their line numbers."""
    numbered = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not numbered:
        return [], []
    examples = predictor.task.make_examples([line for _, line in numbered])
    return [_relocated(ex, source, n) for ex, (n, _) in zip(examples, numbered)], [{} for _ in examples]


def _relocated(example: Any, source: str, line: int) -> Any:
    if dataclasses.is_dataclass(example) and hasattr(example, "source") and hasattr(example, "line"):
        return dataclasses.replace(example, source=source, line=line)  # type: ignore[type-var]
    return example


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def passed_through(
    predictor, examples: list[Any], text: str, path: Path, options: dict[str, Any]
) -> list[dict[str, Any]]:
    """Per example, the input columns other than its text, text pair and label (``id``, ...), found
    by the line the example was read from. A CSV/TSV file without a header passes nothing."""
    if not examples:
        return []
    delimiter = predictor.meta.data_config.get("delimiter", "auto")
    rows = _raw_rows(text, path, first_line=getattr(examples[0], "line", 0), delimiter=delimiter)
    if not rows:
        return [{} for _ in examples]
    trained = predictor.meta.data.reading.get("columns") or {}
    excluded = set(_NOT_PASSED) | {v for v in (*options.values(), *trained.values()) if isinstance(v, str)}
    first = rows.get(getattr(examples[0], "line", -1), {})
    first_texts = {getattr(examples[0], "text", None), getattr(examples[0], "text_pair", None)} - {None}
    excluded |= {key for key, value in first.items() if isinstance(value, str) and value in first_texts}
    return [{k: v for k, v in rows.get(getattr(ex, "line", -1), {}).items() if k not in excluded} for ex in examples]


def _raw_rows(text: str, path: Path, *, first_line: int, delimiter: str = "auto") -> dict[int, dict[str, Any]]:
    """Line -> the row's values by column name, for JSONL and headed CSV/TSV files (the delimiter
    detected as the task's reader detects it, unless configured)."""
    from tunelab.data.readers import READERS, CsvReader, detect_format

    try:
        fmt = detect_format(path)
    except DataError:
        return {}
    if fmt == "jsonl":
        rows: dict[int, dict[str, Any]] = {}
        for number, raw in enumerate(text.split("\n"), start=1):
            if raw.strip():
                value = json.loads(raw)
                if isinstance(value, dict):
                    rows[number] = value
        return rows
    reader = READERS.get(fmt)
    if reader is None or not issubclass(reader, CsvReader):
        return {}
    parsed = reader(delimiter=delimiter).parse(text, path).rows
    if not parsed or parsed[0][0] >= first_line:
        return {}  # no header row: the first row was data
    header = parsed[0][1]
    return {line: dict(zip(header, row)) for line, row in parsed[1:]}


def passed_columns(extras: list[dict[str, Any]]) -> list[str]:
    """The passed-through column names, in order of first appearance."""
    seen: dict[str, None] = {}
    for extra in extras:
        seen.update(dict.fromkeys(extra))
    return list(seen)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
