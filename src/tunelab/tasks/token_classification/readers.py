"""Read NER files (CoNLL columns, JSON Lines, CLUENER) into :class:`NerExample` records.

The readers only parse; tags come back as written. :func:`read_ner_file` also detects the tag
scheme, converts to IOB2 and checks spans: every problem is a DataError naming file and line.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.data.readers import ErrorCollector, JsonlReader, json_type, read_text
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.token_classification.example import NerExample, NerFile, Span, drop_overlaps, sort_spans
from tunelab.tasks.token_classification.tags import (
    TagError,
    detect_scheme,
    normalise_scheme,
    parse_tag,
    to_iob2,
    to_iob2_with_repairs,
)

if TYPE_CHECKING:
    from tunelab.data.pii import PiiMasker

__all__ = ["NerFile", "detect_ner_format", "read_cluener", "read_conll", "read_ner_file", "read_ner_jsonl"]

CONLL_SUFFIXES = (".conll", ".txt", ".bio", ".iob", ".iob2", ".bioes", ".bmes", ".tsv")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
FORMATS = ("conll", "jsonl", "cluener")
REPAIR_HINT = "set data.repair_tags: true to repair"
_FIELDS = re.compile(r"[ \t]+")  # not str.split(): U+3000 and friends are characters in Chinese corpora
_SPACE = re.compile(r"[ \t\r\n]*")


def read_conll(
    path: str | Path, *, token_column: int = 0, tag_column: int = -1, encoding: str = "utf-8"
) -> list[NerExample]:
    """Whitespace-separated columns, one token per line, a blank line after each sentence.

    Lines whose first field is ``-DOCSTART-`` are skipped. A line starting with ``#`` before a
    sentence's first token is a comment (CoNLL-U's ``# text = ...``) unless its tag column holds
    a well-formed tag, so ``#<TAB>O`` is the token ``#``; inside a sentence such a line is always
    a token. Each example's ``line`` is the line of its first token; token i is on ``line + i``.
    """
    return _conll_examples(read_text(path, encoding), Path(path), token_column, tag_column)


def _conll_examples(text: str, path: Path, token_column: int, tag_column: int) -> list[NerExample]:
    for name, value in (("token_column", token_column), ("tag_column", tag_column)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer column index, got {value!r}")
    examples: list[NerExample] = []
    tokens: list[str] = []
    tags: list[str] = []
    first = 0
    errors = ErrorCollector()
    for number, raw in enumerate([*text.split("\n"), ""], start=1):  # "": a blank line ends the last sentence
        line = raw.strip(" \t\r")
        fields = _FIELDS.split(line) if line else []
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                examples.append(NerExample(tuple(tokens), tuple(tags), source=str(path), line=first))
                tokens, tags = [], []
            continue
        if not tokens and line.startswith("#") and not _tag_at(fields, tag_column):
            continue
        t, g = _column(token_column, len(fields)), _column(tag_column, len(fields))
        if t is None or g is None or t == g:
            why = f"has one column ({line!r})" if len(fields) == 1 else f"has {len(fields)} columns"
            errors.add(
                DataError(
                    f"the line {why}; expected a token and its tag separated by spaces or tabs, in columns "
                    f"token_column={token_column} and tag_column={tag_column} (0 is the first, -1 the last)",
                    path,
                    number,
                    "tag",
                )
            )
            continue
        if not tokens:
            first = number
        tokens.append(fields[t])
        tags.append(fields[g])
    errors.check()
    if not examples:
        raise DataError("no sentences found (only blank, comment or -DOCSTART- lines)", path)
    return examples


def _column(index: int, n: int) -> int | None:
    return index % n if -n <= index < n else None


def _tag_at(fields: list[str], column: int) -> bool:
    return len(fields) >= 2 and _column(column, len(fields)) is not None and _is_tag(fields[column])


def _is_tag(tag: str) -> bool:
    try:
        parse_tag(tag)
    except ValueError:
        return False
    return True


def read_ner_jsonl(path: str | Path, *, end_inclusive: bool = False, encoding: str = "utf-8") -> list[NerExample]:
    """One object per line: ``tokens`` + ``tags`` (or ``ner_tags``) of equal length, or ``text`` +
    ``entities`` (or ``spans``): objects with ``start``, ``end`` (exclusive unless ``end_inclusive``),
    ``type`` (or ``label``) and optionally the entity's ``text``, checked against the offsets."""
    return _jsonl_examples(read_text(path, encoding), Path(path), end_inclusive)


def _jsonl_examples(
    text: str, path: Path, end_inclusive: bool = False, require_labels: bool = True
) -> list[NerExample]:
    """Every bad line of the file is reported, in one error (up to a cap). Without
    ``require_labels`` (texts to predict) a record may have no tags or entities."""
    errors = ErrorCollector()
    examples = []
    for record in JsonlReader().read(text, path, errors=errors).records:
        try:
            examples.append(_jsonl_example(record.values, _Where(path, record.line), end_inclusive, require_labels))
        except DataError as err:
            errors.add(err)
    errors.check()
    return examples


@dataclass(frozen=True)
class _Where:
    """Builds the DataErrors of one record."""

    path: Path
    line: int

    def __call__(self, message: str, field: str | None = None) -> DataError:
        return DataError(message, self.path, self.line, field)


def _jsonl_example(obj: dict[str, Any], fail: _Where, end_inclusive: bool, require_labels: bool = True) -> NerExample:
    if "tokens" in obj:
        tokens = _strings(obj, "tokens", fail)
        key = next((k for k in ("tags", "ner_tags") if obj.get(k) is not None), None)
        if key is None and not require_labels:
            if not tokens:
                raise fail("empty sentence: no tokens", "tokens")
            return NerExample(tuple(tokens), None, source=str(fail.path), line=fail.line)
        if key is None:
            raise fail("missing field (one tag per token; 'ner_tags' is accepted too)", "tags")
        tags = _strings(obj, key, fail)
        if len(tags) != len(tokens):
            raise fail(f"{len(tokens)} tokens but {len(tags)} tags; give one tag per token", key)
        if not tokens:
            raise fail("empty sentence: no tokens", "tokens")
        return NerExample(tuple(tokens), tuple(tags), source=str(fail.path), line=fail.line)
    if "text" not in obj:
        keys = ", ".join(obj) or "none"
        raise fail(f"expected 'tokens' and 'tags', or 'text' and 'entities'; found keys: {keys}")
    text = _text(obj, fail)
    span_key = next((k for k in ("entities", "spans") if obj.get(k) is not None), "entities")
    items = obj.get(span_key)
    if items is None and not require_labels:
        return NerExample((), None, text=text, source=str(fail.path), line=fail.line)
    if not isinstance(items, list):
        raise fail(f"expected a list of {{start, end, type}} objects, found {json_type(items)}", span_key)
    spans = []
    for j, item in enumerate(items):
        where = f"{span_key}[{j}]"
        if not isinstance(item, dict) or not _is_int(item.get("start")) or not _is_int(item.get("end")):
            raise fail("expected an object with integer 'start' and 'end' and a 'type'", where)
        end = item["end"] + 1 if end_inclusive else item["end"]
        ends = "inclusive" if end_inclusive else "exclusive"
        spans.append(
            _span(
                text,
                item["start"],
                end,
                item.get("type", item.get("label")),
                item.get("text"),
                f"0-based offsets, end {ends}",
                fail,
                where,
            )
        )
    return NerExample((), None, text=text, spans=sort_spans(spans), source=str(fail.path), line=fail.line)


def _text(obj: dict[str, Any], fail: _Where) -> str:
    text = obj.get("text")
    if not isinstance(text, str):
        raise fail(f"expected a string, found {'nothing' if text is None else json_type(text)}", "text")
    if not text.strip():
        raise fail("empty text", "text")
    return text


def _strings(obj: dict[str, Any], key: str, fail: _Where) -> list[str]:
    value = obj[key]
    if not isinstance(value, list):
        raise fail(f"expected a list of strings, found {json_type(value)}", key)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            found = "an empty string" if item == "" else json_type(item)
            hint = "; write tag names such as 'B-PER', not class ids" if _is_int(item) and key != "tokens" else ""
            raise fail(f"item {i} should be a non-empty string, found {found}{hint}", key)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _span(text: str, start: int, end: int, type_: Any, claimed: Any, note: str, fail: _Where, where: str) -> Span:
    """A checked span; ``claimed`` is the entity text the file gives (None if it gives none)."""
    if not isinstance(type_, str) or not _is_tag(f"B-{type_}"):
        found = repr(type_) if isinstance(type_, str) else json_type(type_)
        raise fail(f"the entity type ('type' or 'label') should be a name without whitespace, found {found}", where)
    if not 0 <= start < end <= len(text):
        raise fail(f"offsets [{start}, {end}) are empty or outside the text (length {len(text)})", where)
    if claimed is not None and claimed != text[start:end]:
        raise fail(
            f"entity {claimed!r} does not match the text at [{start}, {end}): {text[start:end]!r} ({note})", where
        )
    return Span(start, end, type_)


def read_cluener(path: str | Path, *, encoding: str = "utf-8") -> list[NerExample]:
    """CLUENER 2020: concatenated (usually pretty-printed) JSON objects ``{"text": ..., "label":
    {type: {entity_text: [[start, end_inclusive], ...]}}}``; spans come back end-exclusive and
    each example's ``line`` is the line its object starts on."""
    return _cluener_examples(read_text(path, encoding), Path(path))


def _cluener_examples(text: str, path: Path) -> list[NerExample]:
    decoder = json.JSONDecoder()
    examples: list[NerExample] = []
    pos, line = 0, 1
    while True:
        skip = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        line, pos = line + text.count("\n", pos, skip), skip
        if pos >= len(text):
            return examples
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object ({{...}}), found {json_type(obj)}", path, line)
        examples.append(_cluener_example(obj, _Where(path, line)))
        line, pos = line + text.count("\n", pos, end), end


def _cluener_example(obj: dict[str, Any], fail: _Where) -> NerExample:
    text, label = _text(obj, fail), obj.get("label")
    if not isinstance(label, dict):
        found = "nothing (unlabelled data)" if label is None else json_type(label)
        raise fail(f"expected an object {{type: {{entity: [[start, end], ...]}}}}, found {found}", "label")
    spans = []
    for type_, entities in label.items():
        where = f"label.{type_}"
        if not isinstance(entities, dict):
            raise fail(f"expected an object {{entity: [[start, end], ...]}}, found {json_type(entities)}", where)
        for entity, positions in entities.items():
            if not isinstance(positions, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(map(_is_int, p)) for p in positions
            ):
                raise fail(f"entity {entity!r}: expected a list of [start, end] integer pairs", where)
            for start, last in positions:
                spans.append(_span(text, start, last + 1, type_, entity, "CLUENER ends are inclusive", fail, where))
    return NerExample((), None, text=text, spans=sort_spans(spans), source=str(fail.path), line=fail.line)


def detect_ner_format(path: str | Path, text: str | None = None) -> str:
    """The format ("conll", "jsonl" or "cluener") from the extension and, for .json, the first object."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CONLL_SUFFIXES:
        return "conll"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix == ".json":
        text = read_text(path) if text is None else text
        try:
            first = json.JSONDecoder().raw_decode(text, _SPACE.match(text).end())[0]  # type: ignore[union-attr]
        except json.JSONDecodeError:
            first = None
        if isinstance(first, dict) and isinstance(first.get("label"), dict):
            return "cluener"
        todo = "convert it to JSON Lines"
        if isinstance(first, dict) and "tokens" in first:
            todo = "rename it to .jsonl"
        why = "a .json file is read only in the CLUENER layout (objects with 'text' and a 'label' object)"
        raise DataError(f"{why}; {todo} or set data.format", path)
    # CoNLL corpora often have no telling extension (eng.train, eng.testa, wnut17train): read a
    # file as CoNLL columns when its first data line is whitespace-separated columns, not JSON.
    text = read_text(path) if text is None else text
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first.lstrip().startswith(("{", "[")) and len(first.split()) >= 2:
        return "conll"
    supported = ", ".join((*CONLL_SUFFIXES, *JSONL_SUFFIXES, ".json"))
    raise DataError(
        f"cannot tell the NER format from the extension '{suffix or '(none)'}' (supported: {supported}); "
        f"rename the file or set data.format to one of {', '.join(FORMATS)}",
        path,
    )


def read_ner_file(
    path: str | Path,
    *,
    format: str = "auto",
    scheme: str = "auto",
    repair: bool = False,
    token_column: int = 0,
    tag_column: int = -1,
    encoding: str | Mapping[str, str] = "utf-8",
    split: str | None = None,
    mask_pii: PiiMasker | None = None,
    require_labels: bool = True,
) -> NerFile:
    """Read ``path``, detect its tag scheme over the whole file (unless given) and convert every
    sentence to IOB2. An invalid tag sequence or overlapping spans are a DataError naming the
    line of the bad tag (of the object, for JSON) unless ``repair``: then they are fixed the way
    seqeval's lenient mode reads them (overlaps keep the earlier, longer span) and counted.

    ``encoding``: a codec, or ``data.encoding``'s mapping per split, of which ``split``'s entry is
    used. ``mask_pii`` masks personal data: per token (a token that is or contains an item has that
    part replaced by the placeholder, one token per token, so tags stay aligned), or in the text
    with the entity spans moved to match (:meth:`~tunelab.data.pii.PiiMasker.mask_spans`)."""
    path = Path(path)
    text = read_text(path, encoding, split)
    fmt = detect_ner_format(path, text) if format == "auto" else format
    if fmt == "conll":
        examples = _conll_examples(text, path, token_column, tag_column)
    elif fmt in ("jsonl", "cluener"):
        examples = (
            _jsonl_examples(text, path, require_labels=require_labels)
            if fmt == "jsonl"
            else _cluener_examples(text, path)
        )
    else:
        raise ConfigError(f"unknown NER data format {format!r}; use one of auto, {', '.join(FORMATS)}")
    tagged = [example for example in examples if example.tags is not None]
    name = "spans"
    try:
        if tagged and scheme == "auto":
            name = detect_scheme(example.tags for example in tagged)  # type: ignore[misc]
        elif tagged:
            name = normalise_scheme(scheme)
    except TagError as exc:
        raise _tag_error(tagged[exc.sequence or 0], exc, fmt, "fix the tags or set data.tag_scheme") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    repairs = 0
    errors = ErrorCollector()  # every bad sentence is reported, in one error
    for i, example in enumerate(examples):
        if example.tags is None and example.spans is None:  # unlabelled: a text or tokens to predict
            continue
        if example.tags is None:
            spans, dropped = drop_overlaps(example.spans or ())
            if dropped and not repair:
                kept, other = dropped[0]
                errors.add(
                    DataError(
                        f"entities overlap: {_show(example, kept)} and {_show(example, other)}; a character can "
                        f"be in one entity only: remove one, or {REPAIR_HINT} (keeps the earlier, longer one)",
                        path,
                        example.line,
                    )
                )
                continue
            repairs += len(dropped)
            examples[i] = dataclasses.replace(example, spans=spans)
            continue
        try:
            if repair:
                tags, problems = to_iob2_with_repairs(example.tags, name)
                repairs += len(problems)
            else:
                tags = to_iob2(example.tags, name)
        except TagError as exc:
            errors.add(_tag_error(example, exc, fmt, REPAIR_HINT))
            continue
        examples[i] = dataclasses.replace(example, tags=tuple(tags))
    errors.check()
    if mask_pii is not None:
        examples = [_masked(example, mask_pii) for example in examples]
    return NerFile(path, fmt, name, examples, repairs)


def _masked(example: NerExample, masker: PiiMasker) -> NerExample:
    if example.text is None:
        tokens = masker.mask_tokens(list(example.tokens))
        return dataclasses.replace(example, tokens=tuple(tokens))
    spans = example.spans or ()
    text, moved = masker.mask_spans(example.text, [(span.start, span.end) for span in spans])
    new_spans = tuple(Span(start, end, span.type) for (start, end), span in zip(moved, spans))
    return dataclasses.replace(example, text=text, spans=new_spans)


def _show(example: NerExample, span: Span) -> str:
    return f"'{span.type}' [{span.start}, {span.end}) {(example.text or '')[span.start : span.end]!r}"


def _tag_error(example: NerExample, exc: TagError, fmt: str, hint: str) -> DataError:
    if not _is_tag(exc.tag):
        hint = "fix the tag"  # an unreadable tag cannot be repaired
    if fmt == "conll":
        where = f"tag {exc.tag!r} (token {exc.index + 1} of the sentence starting on line {example.line})"
        return DataError(f"{where}: {exc.problem}; {hint}", example.source, example.line + exc.index, "tag")
    where = f"tag {exc.tag!r} (token {exc.index + 1})"
    return DataError(f"{where}: {exc.problem}; {hint}", example.source, example.line, "tags")
