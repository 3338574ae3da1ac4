"""One question with its context and gold answers (character offsets into the context)."""

from __future__ import annotations

from dataclasses import dataclass

NO_OFFSET = -1  # an answer known by its text only (kept for scoring, never trained on)


@dataclass(frozen=True, slots=True)
class QaExample:
    """A question about ``context``; ``answers`` are (text, start) with
    ``context[start:start + len(text)] == text`` (start -1: text only, see ``data.answer_offsets``).

    ``answers`` is None for unlabelled input (prediction) and () for a question the context does not
    answer (SQuAD v2.0 ``is_impossible``). ``line`` is the line of a JSONL file, or the question's
    position (1-based) in a SQuAD JSON file; ``title`` is its article, by which dev is carved."""

    question: str
    context: str
    answers: tuple[tuple[str, int], ...] | None = None
    id: str = ""
    title: str = ""
    source: str = "<memory>"
    line: int = 0

    # what the shared code reads of an example (error rows, passed-through columns)
    @property
    def text(self) -> str:
        return self.question

    @property
    def text_pair(self) -> str:
        return self.context

    @property
    def label(self) -> str | None:
        if self.answers is None:
            return None
        return " | ".join(text for text, _ in self.answers) if self.answers else ""

    @property
    def unanswerable(self) -> bool:
        return self.answers is not None and not self.answers

    @property
    def spans(self) -> list[tuple[int, int]]:
        """The gold answers' character spans (start, end) that have an offset."""
        return [(start, start + len(text)) for text, start in self.answers or () if start >= 0]

    @property
    def gold_texts(self) -> list[str]:
        """Every gold answer text ([""] for an unanswerable question), as the scorers take them."""
        return [text for text, _ in self.answers] if self.answers else [""]

    @property
    def key(self) -> str:
        """The question's id, else its position in its file."""
        return self.id or f"{self.source}:{self.line}"
