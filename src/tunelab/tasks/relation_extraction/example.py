"""A relation example: a text, its two entities as character spans, and the relation between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunelab.errors import DataError


@dataclass(frozen=True)
class Entity:
    """A character span ``text[start:end]`` (end exclusive) with an optional type (PER, ORG, ...)."""

    start: int
    end: int
    type: str | None = None

    def as_dict(self, text: str) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "text": text[self.start : self.end]}
        if self.type is not None:
            out["type"] = self.type
        return out


@dataclass(frozen=True)
class RelationExample:
    """``head`` is the first argument (marked e1), ``tail`` the second (e2): a label such as
    ``Cause-Effect(e2,e1)`` or ``收购`` is read in that order, so swapping them is another example."""

    text: str
    head: Entity
    tail: Entity
    label: str | None = None
    source: str = ""
    line: int = 0
    id: str | None = None

    @property
    def text_pair(self) -> None:  # what the shared text helpers look for
        return None

    def marked(self) -> str:
        """The text with untyped inline markers, as SemEval writes it (for `tunelab check` and reports)."""
        from tunelab.tasks.relation_extraction.markers import insert_markers

        return insert_markers(self.text, self.head, self.tail, ("<e1>", "</e1>"), ("<e2>", "</e2>"))


def check_span(entity: Entity, text: str, source: str, line: int, field: str) -> None:
    """A span inside the text, not empty; a DataError naming file, line and field otherwise."""
    if not (0 <= entity.start < entity.end <= len(text)):
        raise DataError(
            f"entity span [{entity.start}, {entity.end}) is out of range for a text of {len(text)} characters "
            "(start must be >= 0 and below end, end at most the text's length)",
            source,
            line,
            field,
        )
