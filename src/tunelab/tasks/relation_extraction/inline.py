"""Inline entity markers in a text: ``The <e1>child</e1> was put in the <e2>cradle</e2>.`` as SemEval
writes them, optionally typed (``<e1:PER>Bill</e1>``). Used by the SemEval reader and for raw input."""

from __future__ import annotations

import re

from tunelab.tasks.relation_extraction.example import Entity

# <e1>, </e1>, <e2>, </e2>, optionally with a type after a colon: <e1:PER>, </e1:PER>
MARKER = re.compile(r"<(/?)e([12])(?::([^<>\s]+))?>")


class MarkerError(ValueError):
    """Bad inline markers: the message says what is wrong; the caller adds where."""


def parse_marked(marked: str) -> tuple[str, Entity, Entity]:
    """The text without markers and the e1 and e2 spans in it. Each of e1 and e2 must be opened
    once and closed once after it is opened; spans may nest or overlap."""
    text_parts: list[str] = []
    opened: dict[str, tuple[int, str | None]] = {}
    spans: dict[str, Entity] = {}
    position, last = 0, 0
    for match in MARKER.finditer(marked):
        text_parts.append(marked[last : match.start()])
        position += match.start() - last
        last = match.end()
        closing, which, type_ = match.group(1) == "/", "e" + match.group(2), match.group(3)
        if not closing:
            if which in opened or which in spans:
                raise MarkerError(f"<{which}> opens twice")
            opened[which] = (position, type_)
            continue
        if which not in opened:
            raise MarkerError(f"</{which}> closes an entity that was not opened")
        start, open_type = opened.pop(which)
        if type_ is not None and open_type is not None and type_ != open_type:
            raise MarkerError(f"<{which}:{open_type}> is closed by </{which}:{type_}>")
        if position == start:
            raise MarkerError(f"<{which}> marks an empty entity")
        spans[which] = Entity(start, position, open_type or type_)
    text_parts.append(marked[last:])
    if opened:
        raise MarkerError(f"<{sorted(opened)[0]}> is never closed")
    missing = [name for name in ("e1", "e2") if name not in spans]
    if missing:
        raise MarkerError(
            f"no <{missing[0]}>...</{missing[0]}> entity: mark both entities, e.g. <e1>...</e1> and <e2>...</e2>"
        )
    return "".join(text_parts), spans["e1"], spans["e2"]


def has_markers(text: str) -> bool:
    return MARKER.search(text) is not None
