"""Readers: SemEval-2010 Task 8 files, the tab-separated head/tail/relation/sentence layout of FinRE
and SanWen, JSONL with character spans, and (prediction input only) plain lines with inline markers.

Every error names the file, the line and the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.data.error_list import ErrorCollector
from tunelab.data.readers import read_text
from tunelab.errors import DataError
from tunelab.tasks.relation_extraction.example import Entity, RelationExample, check_span
from tunelab.tasks.relation_extraction.inline import MarkerError, has_markers, parse_marked

FORMATS = ("semeval", "tsv", "jsonl")
_SEMEVAL_SENTENCE = re.compile(r'^(\d+)\t"(.*)"\s*$')
_TSV_HEADER = ("head", "tail", "relation", "sentence")


@dataclass
class RelationFile:
    examples: list[RelationExample]
    format: str


def detect(path: Path, text: str, require_labels: bool) -> str:
    """The format of a file: JSONL by extension or a first line that is a JSON object; SemEval when
    the first line is ``<id><TAB>"sentence"``; tab-separated (four fields) when it has a tab; else (prediction input)
    one marked text a line."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    first = next((line.rstrip("\r") for line in text.split("\n") if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "jsonl"
    if _SEMEVAL_SENTENCE.match(first):
        return "semeval"
    if "\t" in first:
        return "tsv"
    if not require_labels and has_markers(first):
        return "marked"
    raise DataError(
        'cannot tell the format: expected SemEval-2010 Task 8 blocks (<id><TAB>"sentence with <e1>..</e1> '
        '<e2>..</e2>", then the relation), tab-separated head/tail/relation/sentence lines, or JSONL with '
        "text, head, tail and relation; set data.format",
        path,
        1,
    )


def read_relation_file(
    path: str | Path,
    *,
    format: str = "auto",
    encoding: Any = "utf-8",
    split: str | None = None,
    require_labels: bool = True,
) -> RelationFile:
    path = Path(path)
    text = read_text(path, encoding, split)
    fmt = detect(path, text, require_labels) if format == "auto" else format
    reader = {"semeval": _read_semeval, "tsv": _read_tsv, "jsonl": _read_jsonl, "marked": _read_marked}[fmt]
    examples = reader(text, str(path))
    if not examples:
        raise DataError("the file holds no examples", path)
    if require_labels:
        for ex in examples:
            if ex.label is None:
                raise DataError("no relation label", ex.source, ex.line, "relation")
    return RelationFile(examples, fmt)


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1)]


def from_marked(marked: str, source: str, line: int, field: str, **fields: Any) -> RelationExample:
    try:
        text, head, tail = parse_marked(marked)
    except MarkerError as err:
        raise DataError(str(err), source, line, field) from None
    return RelationExample(text, head, tail, source=source, line=line, **fields)


def _read_semeval(text: str, source: str) -> list[RelationExample]:
    """Blocks of ``<id><TAB>"sentence"``, the relation, an optional ``Comment:`` line and a blank
    line (the official test file without keys has sentences only)."""
    errors = ErrorCollector()
    examples: list[RelationExample] = []
    lines = _lines(text)
    i = 0
    while i < len(lines):
        number, line = lines[i]
        i += 1
        if not line.strip():
            continue
        match = _SEMEVAL_SENTENCE.match(line)
        if match is None:
            errors.add(DataError(f'expected <id><TAB>"sentence", got {line[:60]!r}', source, number, "sentence"))
            continue
        label = None
        if i < len(lines) and lines[i][1].strip() and not _SEMEVAL_SENTENCE.match(lines[i][1]):
            candidate = lines[i][1].strip()
            if not candidate.startswith("Comment"):
                label = candidate
                i += 1
        while i < len(lines) and lines[i][1].strip().startswith("Comment"):
            i += 1
        try:
            examples.append(from_marked(match.group(2), source, number, "sentence", label=label, id=match.group(1)))
        except DataError as err:
            errors.add(err)
    errors.check()
    return examples


def locate(sentence: str, head: str, tail: str) -> tuple[Entity, Entity] | None:
    """Spans of ``head`` and ``tail`` in the sentence (the files give strings, not offsets): of their
    occurrences, the closest pair that does not overlap (FinRE and SanWen often repeat a name, and a
    head can be part of its tail: 母亲 / 母亲<N>岁时); overlapping first occurrences when no pair is
    apart (a relation of a name with itself). None when either is missing."""

    def occurrences(word: str) -> list[int]:
        found, at = [], sentence.find(word)
        while at >= 0:
            found.append(at)
            at = sentence.find(word, at + 1)
        return found

    heads, tails = occurrences(head), occurrences(tail)
    if not heads or not tails:
        return None
    best: tuple[int, int, int] | None = None
    for h in heads:
        for t in tails:
            if h + len(head) <= t or t + len(tail) <= h:
                gap = max(t - (h + len(head)), h - (t + len(tail)))
                if best is None or gap < best[0]:
                    best = (gap, h, t)
    h, t = (heads[0], tails[0]) if best is None else best[1:]
    return Entity(h, h + len(head)), Entity(t, t + len(tail))


def _read_tsv(text: str, source: str) -> list[RelationExample]:
    """``head<TAB>tail<TAB>relation<TAB>sentence`` per line (FinRE, SanWen); blank lines and a header
    row naming those four columns are skipped."""
    errors = ErrorCollector()
    examples: list[RelationExample] = []
    for number, line in _lines(text):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            errors.add(
                DataError(
                    f"expected 4 tab-separated fields (head, tail, relation, sentence), got {len(fields)}",
                    source,
                    number,
                )
            )
            continue
        if not examples and tuple(f.strip().lower() for f in fields) == _TSV_HEADER:
            continue
        head, tail, relation, sentence = fields
        for name, value in (("head", head), ("tail", tail), ("sentence", sentence)):
            if not value.strip():
                errors.add(DataError(f"empty {name}", source, number, name))
                break
        else:
            spans = locate(sentence, head, tail)
            if spans is None:
                missing = "head" if head not in sentence else "tail"
                value = head if missing == "head" else tail
                errors.add(DataError(f"{missing} {value!r} is not in the sentence", source, number, missing))
                continue
            label = relation.strip() or None
            examples.append(RelationExample(sentence, spans[0], spans[1], label, source, number))
    errors.check()
    return examples


def _entity(value: Any, text: str, source: str, line: int, field: str) -> Entity:
    if not isinstance(value, dict):
        raise DataError(f"expected an object with start and end, got {_json_type(value)}", source, line, field)
    for key in ("start", "end"):
        if key not in value:
            raise DataError(f"missing '{key}'", source, line, f"{field}.{key}")
        if not isinstance(value[key], int) or isinstance(value[key], bool):
            raise DataError(f"'{key}' must be an integer character offset", source, line, f"{field}.{key}")
    type_ = value.get("type")
    if type_ is not None and (not isinstance(type_, str) or not type_.strip() or re.search(r"[<>\s]", type_)):
        raise DataError("'type' must be a word without spaces or angle brackets", source, line, f"{field}.type")
    entity = Entity(value["start"], value["end"], type_)
    check_span(entity, text, source, line, field)
    given = value.get("text", value.get("name"))
    if isinstance(given, str) and text[entity.start : entity.end] != given:
        raise DataError(
            f"span [{entity.start}, {entity.end}) holds {text[entity.start : entity.end]!r}, not {given!r}",
            source,
            line,
            field,
        )
    return entity


def example_from_object(obj: Any, source: str, line: int) -> RelationExample:
    """``{"text", "head": {"start", "end"[, "type"][, "text"]}, "tail": {...}, "relation"}``; ``label``
    is taken for ``relation``; ``text`` may instead carry inline markers (then no head and tail)."""
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, got {_json_type(obj)}", source, line)
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise DataError("missing or empty 'text'", source, line, "text")
    label = obj.get("relation", obj.get("label"))
    if label is not None and not isinstance(label, str):
        raise DataError(f"'relation' must be a string, got {_json_type(label)}", source, line, "relation")
    id_ = obj.get("id")
    id_ = None if id_ is None else str(id_)
    if "head" not in obj and "tail" not in obj and has_markers(text):
        return from_marked(text, source, line, "text", label=label, id=id_)
    for key in ("head", "tail"):
        if key not in obj:
            raise DataError(f"missing '{key}' (an object with start and end)", source, line, key)
    head = _entity(obj["head"], text, source, line, "head")
    tail = _entity(obj["tail"], text, source, line, "tail")
    return RelationExample(text, head, tail, label, source, line, id_)


def _read_jsonl(text: str, source: str) -> list[RelationExample]:
    errors = ErrorCollector()
    examples: list[RelationExample] = []
    for number, line in _lines(text):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            errors.add(DataError(f"invalid JSON: {err.msg} (column {err.colno})", source, number))
            continue
        try:
            examples.append(example_from_object(obj, source, number))
        except DataError as err:
            errors.add(err)
    errors.check()
    return examples


def _read_marked(text: str, source: str) -> list[RelationExample]:
    errors = ErrorCollector()
    examples: list[RelationExample] = []
    for number, line in _lines(text):
        if line.strip():
            try:
                examples.append(from_marked(line, source, number, "text"))
            except DataError as err:
                errors.add(err)
    errors.check()
    return examples


def _json_type(value: Any) -> str:
    from tunelab.data.readers import json_type

    return json_type(value)
