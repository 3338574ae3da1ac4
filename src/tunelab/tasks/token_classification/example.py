"""The record NER readers produce: a tagged sentence, or a text with character-offset entities.

A :class:`NerExample` is one of two kinds:

- token-based (CoNLL files, JSONL with ``tokens``/``tags``): ``tokens`` and one tag per token;
  ``text`` and ``spans`` are None. After :func:`tunelab.tasks.token_classification.readers.read_ner_file` the tags
  are in tunelab's internal IOB2 scheme (``O``, ``B-TYPE``, ``I-TYPE``);
- text-based (CLUENER, JSONL with ``text``/``entities``): ``text`` and the gold ``spans``
  (character offsets, end exclusive); ``tokens`` is empty and ``tags`` None. Per-character IOB2
  tags are derived with :meth:`NerExample.char_tags`.

``source`` and ``line`` point back to the file and the 1-based line the example starts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunelab.tasks.token_classification.tags import entities_from_iob2


@dataclass(frozen=True, slots=True)
class Span:
    """An entity ``text[start:end]`` (``end`` exclusive) of type ``type``."""

    start: int
    end: int
    type: str


@dataclass(frozen=True, slots=True)
class NerExample:
    """One sentence with its tags, or one text with its entity spans (see the module docstring)."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None
    text: str | None = None
    spans: tuple[Span, ...] | None = None
    source: str = "<memory>"
    line: int = 0

    def __post_init__(self) -> None:
        if self.tags is not None and len(self.tags) != len(self.tokens):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.tags)} tags")
        if self.text is None:
            if self.spans is not None:
                raise ValueError("spans need a text to point into")
            return
        if self.tokens or self.tags is not None:
            raise ValueError("a text-based example takes text and spans, not tokens and tags")
        for span in self.spans or ():
            _check_span(self.text, span)

    @property
    def is_text_based(self) -> bool:
        return self.text is not None

    def char_tags(self) -> list[str]:
        """IOB2 tag of every character of a text-based example (raises ValueError if spans overlap)."""
        if self.text is None:
            raise ValueError("char_tags() needs a text-based example")
        return spans_to_char_tags(self.text, self.spans or ())

    def entities(self) -> list[tuple[str, int, int]]:
        """``(type, start, end_exclusive)`` of each entity: token indices, or character offsets."""
        if self.text is not None:
            return [(span.type, span.start, span.end) for span in self.spans or ()]
        return entities_from_iob2(self.tags or ())


@dataclass
class NerFile:
    """What :func:`tunelab.tasks.token_classification.readers.read_ner_file` returns: one file's examples, tags in
    IOB2; ``scheme`` is the scheme the file was written in ("spans" when every example is
    text-based) and ``repairs`` counts the fixes made to invalid tags or overlapping spans."""

    path: Path
    format: str
    scheme: str
    examples: list[NerExample]
    repairs: int = 0

    @property
    def entity_types(self) -> list[str]:
        return sorted({type_ for example in self.examples for type_, _, _ in example.entities()})


def _check_span(text: str, span: Span) -> None:
    if not isinstance(span.start, int) or not isinstance(span.end, int):
        raise ValueError(f"span offsets must be integers, got {span.start!r}, {span.end!r}")
    if not 0 <= span.start < span.end <= len(text):
        raise ValueError(
            f"span [{span.start}, {span.end}) of type '{span.type}' is empty or outside the text (0..{len(text)})"
        )
    if not span.type:
        raise ValueError(f"span [{span.start}, {span.end}) has an empty type")


def spans_to_char_tags(text: str, spans) -> list[str]:
    """One IOB2 tag per character of ``text``.

    The first character of a span gets ``B-TYPE``, every other one ``I-TYPE`` (whitespace inside
    an entity included, so that :func:`char_tags_to_spans` gives the spans back exactly).
    Raises ValueError for a span outside the text or for two overlapping spans.
    """
    tags = ["O"] * len(text)
    ordered = sorted(spans, key=lambda span: (span.start, span.end))
    previous: Span | None = None
    for span in ordered:
        _check_span(text, span)
        if previous is not None and span.start < previous.end:
            raise ValueError(
                f"spans overlap: '{previous.type}' [{previous.start}, {previous.end}) "
                f"{text[previous.start : previous.end]!r} and '{span.type}' [{span.start}, {span.end}) "
                f"{text[span.start : span.end]!r}"
            )
        tags[span.start] = f"B-{span.type}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.type}"
        previous = span
    return tags


def sort_spans(spans) -> tuple[Span, ...]:
    """Distinct spans by start, the longer first at an equal start."""
    return tuple(sorted(set(spans), key=lambda span: (span.start, -span.end, span.type)))


def drop_overlaps(spans) -> tuple[tuple[Span, ...], list[tuple[Span, Span]]]:
    """The spans with every span that overlaps an earlier (or, at an equal start, longer) one left
    out, and ``(kept, dropped)`` for each one left out."""
    kept: list[Span] = []
    dropped: list[tuple[Span, Span]] = []
    for span in sort_spans(spans):
        if kept and span.start < kept[-1].end:
            dropped.append((kept[-1], span))
        else:
            kept.append(span)
    return tuple(kept), dropped


def char_tags_to_spans(text: str, tags) -> list[Span]:
    """The spans of per-character IOB2 ``tags``; the inverse of :func:`spans_to_char_tags`."""
    if len(tags) != len(text):
        raise ValueError(f"{len(text)} characters but {len(tags)} tags")
    return [Span(start, end, type_) for type_, start, end in entities_from_iob2(tags)]
