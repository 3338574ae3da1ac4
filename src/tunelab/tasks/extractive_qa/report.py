"""Extractive QA's terminal table, prediction tables and worst answers (the HTML report's errors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from tunelab.tasks.base import error_row
from tunelab.tasks.extractive_qa.metrics import score_question

if TYPE_CHECKING:
    from tunelab.tasks.extractive_qa.encode import QaEncoded
    from tunelab.tasks.extractive_qa.task import ExtractiveQaTask

ROWS = (
    ("exact_match", "exact match"),
    ("f1", "F1"),
    ("has_answer_exact_match", "exact match, answerable"),
    ("has_answer_f1", "F1, answerable"),
    ("no_answer_f1", "F1 (= accuracy), unanswerable"),
    ("best_f1", "F1 at the best no-answer threshold"),
    ("best_f1_threshold", "best no-answer threshold"),
    ("null_threshold", "no-answer threshold used"),
    ("loss", "loss (training objective)"),
)


def print_qa_report(metrics: Mapping[str, Any], console: Console | None = None, title: str | None = None) -> None:
    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("Metric")
    table.add_column("Value", justify="right", no_wrap=True)
    for key, name in ROWS:
        if isinstance(metrics.get(key), (int, float)):
            table.add_row(name, f"{float(metrics[key]):.4f}")
    table.add_section()
    for key, name in (
        ("num_examples", "questions"),
        ("num_windows", "windows"),
        ("questions_windowed", "questions in several windows"),
        ("answers_outside_windows", "gold answers in no single window"),
    ):
        if metrics.get(key) is not None:
            table.add_row(name, str(int(metrics[key])))
    scorer = "CMRC 2018" if metrics.get("metric_language") == "zh" else "SQuAD"
    table.caption = f"official {scorer} scorer; scores 0-1"
    (console or Console()).print(table)


def qa_record_table(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    ids = any("id" in r for r in records)
    header = (["id"] if ids else []) + ["question", "answer", "start", "end", "score", "probability"]
    rows = [
        ([str(r.get("id", ""))] if ids else [])
        + [r["question"], r["answer"], str(r["start"]), str(r["end"]), f"{r['score']:.4f}", f"{r['probability']:.4f}"]
        for r in records
    ]
    return header, rows


def qa_terminal_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    return ["question", "answer", "span", "probability"], [
        [
            r["question"],
            r["answer"] if r["start"] >= 0 else "(no answer)",
            f"[{r['start']}, {r['end']})" if r["start"] >= 0 else "-",
            f"{r['probability']:.3f}",
        ]
        for r in records
    ]


class WorstAnswers:
    """The questions answered worst: lowest F1, then the most confident. A question's windows
    arrive batch by batch in any order, so they are kept and reduced in ``result``."""

    description = "the questions with the lowest F1 (most confident first among equals)"

    def __init__(self, task: ExtractiveQaTask, encoded: QaEncoded, limit: int) -> None:
        self.task, self.encoded, self.limit = task, encoded, limit
        self.items: list[Any] = [None] * len(encoded)

    def add(self, indices: Sequence[int], items: Sequence[Any]) -> None:
        for i, item in zip(indices, items):
            self.items[i] = item

    def result(self) -> list[dict[str, Any]]:
        found = self.task.answers(self.encoded, self.items)
        scored = []
        for ex, answer in zip(self.encoded.examples, found):
            em, f1 = score_question(ex.gold_texts, answer.text, self.task.language)
            if f1 < 1.0:
                scored.append((f1, -answer.probability, ex, answer, em))
        scored.sort(key=lambda row: (row[0], row[1], row[2].line))
        return [
            error_row(
                ex,
                text=ex.question,
                id=ex.key,
                gold=ex.gold_texts,
                predicted=answer.text,
                start=answer.start,
                end=answer.end,
                probability=round(answer.probability, 4),
                exact_match=em,
                f1=round(f1, 4),
            )
            for f1, _, ex, answer, em in scored[: self.limit]
        ]
