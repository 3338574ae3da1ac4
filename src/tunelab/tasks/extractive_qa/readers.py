"""Reading questions: SQuAD v1.1 / v2.0 JSON (CMRC 2018 has the same layout) and JSONL.

Every answer is checked against its context: ``context[answer_start:answer_start + len(text)]``
must be its text. Under ``data.answer_offsets: repair`` an answer found elsewhere in the context
moves to the occurrence nearest its offset, and one whose text is nowhere in the context is kept
for scoring only (the official scorers compare texts). All problems of a file are reported at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.data.error_list import ErrorCollector
from tunelab.data.readers import read_text
from tunelab.errors import DataError
from tunelab.tasks.extractive_qa.example import NO_OFFSET, QaExample

JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass
class QaFile:
    examples: list[QaExample]
    format: str  # "squad" or "jsonl"
    version: str | None = None  # the SQuAD file's "version" ("1.1", "v2.0", "v1.0" for CMRC 2018)
    repaired: int = 0  # answers moved to where their text is in the context
    text_only: int = 0  # answers whose text is nowhere in the context (kept for scoring)


def detect_qa_format(path: Path, text: str) -> str:
    """squad for a .json file or a JSON object with a ``data`` list; jsonl for .jsonl/.ndjson or one
    JSON object a line."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in JSON_SUFFIXES:
        return "squad"
    try:
        whole = json.loads(text)
    except ValueError:
        return "jsonl"
    return "squad" if isinstance(whole, dict) and isinstance(whole.get("data"), list) else "jsonl"


def read_qa_file(
    path: str | Path,
    *,
    format: str = "auto",
    encoding: Any = "utf-8",
    split: str | None = None,
    answer_offsets: str = "check",
    require_labels: bool = True,
) -> QaFile:
    """The questions of a SQuAD JSON or JSONL file; a DataError naming the file, line or question
    id and the field for anything malformed (every problem of the file at once)."""
    path = Path(path)
    text = read_text(path, encoding, split)
    if not text.strip():
        raise DataError("the file is empty", path)
    fmt = detect_qa_format(path, text) if format == "auto" else format
    reader = _Reader(path, answer_offsets, require_labels)
    if fmt == "squad":
        version = reader.squad(text)
    elif fmt == "jsonl":
        version = None
        reader.jsonl(text)
    else:
        raise DataError(f"unknown QA format '{format}' (known: auto, squad, jsonl)", path, field="data.format")
    reader.errors.check()
    if not reader.examples:
        raise DataError("the file holds no questions", path)
    return QaFile(reader.examples, fmt, version, reader.repaired, reader.text_only)


class _Reader:
    def __init__(self, path: Path, answer_offsets: str, require_labels: bool) -> None:
        self.path, self.repair, self.require_labels = path, answer_offsets == "repair", require_labels
        self.examples: list[QaExample] = []
        self.errors = ErrorCollector()
        self.repaired = self.text_only = 0
        self.ids: dict[str, int] = {}

    def error(self, message: str, line: int | None = None, field: str | None = None) -> None:
        self.errors.add(DataError(message, self.path, line, field))

    # -- SQuAD JSON ------------------------------------------------------------------------------
    def squad(self, text: str) -> str | None:
        try:
            whole = json.loads(text)
        except ValueError as err:
            raise DataError(f"not valid JSON ({err})", self.path) from None
        data = whole.get("data") if isinstance(whole, dict) else None
        if not isinstance(data, list):
            raise DataError(
                'not a SQuAD file: expected {"version": ..., "data": [{"title", "paragraphs": [...]}]}',
                self.path,
                field="data",
            )
        number = 0
        for a, article in enumerate(data):
            if not isinstance(article, Mapping) or not isinstance(article.get("paragraphs"), list):
                self.error(f"article {a + 1} has no 'paragraphs' list", field="paragraphs")
                continue
            title = str(article.get("title") or article.get("id") or f"article {a + 1}")
            for p, paragraph in enumerate(article["paragraphs"]):
                context = paragraph.get("context") if isinstance(paragraph, Mapping) else None
                qas = paragraph.get("qas") if isinstance(paragraph, Mapping) else None
                if not isinstance(context, str) or not context.strip() or not isinstance(qas, list):
                    self.error(f"article '{title}', paragraph {p + 1}: needs a 'context' text and a 'qas' list")
                    continue
                for qa in qas:
                    number += 1
                    self.add(qa, context, title, number, None)
        version = whole.get("version")
        return str(version) if version is not None else None

    # -- JSONL -------------------------------------------------------------------------------------
    def jsonl(self, text: str) -> None:
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as err:
                self.error(f"not valid JSON ({err.msg})", number)
                continue
            if not isinstance(row, Mapping):
                self.error("each line must be a JSON object with question, context and answers", number)
                continue
            context = row.get("context")
            if not isinstance(context, str) or not context.strip():
                self.error("needs a non-empty 'context' text", number, "context")
                continue
            self.add(row, context, str(row.get("title") or ""), number, number)

    # -- one question --------------------------------------------------------------------------------
    def add(self, qa: Any, context: str, title: str, number: int, line: int | None) -> None:
        if not isinstance(qa, Mapping):
            self.error(f"question {number} is not a JSON object", line)
            return
        qid = str(qa["id"]) if qa.get("id") is not None else ""
        who = f"question '{qid}'" if qid else f"question {number}"
        question = qa.get("question")
        if not isinstance(question, str) or not question.strip():
            self.error(f"{who} needs a non-empty 'question' text", line, "question")
            return
        if qid and qid in self.ids:
            self.error(f"{who}: the id is used twice (also question {self.ids[qid]})", line, "id")
            return
        if qid:
            self.ids[qid] = number
        answers = self.answers(qa, context, who, line)
        if answers is False:
            return
        self.examples.append(
            QaExample(question, context, answers, qid, title, str(self.path), number)  # type: ignore[arg-type]
        )

    def answers(self, qa: Mapping[str, Any], context: str, who: str, line: int | None) -> Any:
        raw = qa.get("answers")
        if qa.get("is_impossible") is True:
            return ()
        if raw is None:
            if self.require_labels:
                self.error(f"{who} has no 'answers' (give [] for an unanswerable question)", line, "answers")
                return False
            return None
        if isinstance(raw, Mapping) and isinstance(raw.get("text"), list):  # Hugging Face datasets' columns
            starts = raw.get("answer_start")
            if not isinstance(starts, list) or len(starts) != len(raw["text"]):
                self.error(f"{who}: answers.text and answers.answer_start differ in length", line, "answers")
                return False
            raw = [{"text": t, "answer_start": s} for t, s in zip(raw["text"], starts)]
        if not isinstance(raw, list):
            self.error(f"{who}: 'answers' must be a list of {{text, answer_start}}", line, "answers")
            return False
        found: list[tuple[str, int]] = []
        for k, answer in enumerate(raw):
            where = f"{who}, answer {k + 1}"
            text = answer.get("text") if isinstance(answer, Mapping) else None
            start = answer.get("answer_start") if isinstance(answer, Mapping) else None
            if not isinstance(text, str) or not text:
                self.error(f"{where} needs a non-empty 'text'", line, "answers")
                return False
            if isinstance(start, bool) or not isinstance(start, int):
                self.error(f"{where} needs an integer 'answer_start'", line, "answers")
                return False
            if context[start : start + len(text)] == text and start >= 0:
                found.append((text, start))
                continue
            if not self.repair:
                shown = context[max(0, start) : max(0, start) + len(text)] if start >= 0 else ""
                self.error(
                    f"{where}: the text {_short(text)} is not in the context at answer_start {start} "
                    f"(the context has {_short(shown)} there); fix the offset, or set data.answer_offsets: repair",
                    line,
                    "answers",
                )
                return False
            moved = nearest(context, text, start)
            if moved is None:
                self.text_only += 1
                found.append((text, NO_OFFSET))
            else:
                self.repaired += 1
                found.append((text, moved))
        return tuple(found)


def nearest(context: str, text: str, start: int) -> int | None:
    """The start of the occurrence of ``text`` in ``context`` nearest ``start``, or None."""
    best: int | None = None
    at = context.find(text)
    while at >= 0:
        if best is None or abs(at - start) < abs(best - start):
            best = at
        at = context.find(text, at + 1)
    return best


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
