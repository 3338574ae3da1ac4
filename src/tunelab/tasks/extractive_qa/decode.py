"""From start/end logits to answers: the best spans of each window (decoded batch by batch), then,
per question, the best span across all its windows (run_qa.py's ``postprocess_qa_predictions``).

A window's result is small: its no-answer score and at most ``n_best`` candidate spans as rows of
(score, start char, end char, start logit, end logit), score = start logit + end logit. Only spans
inside the context, with end >= start and at most ``max_answer_length`` tokens, are candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.tasks.extractive_qa.encode import QaEncoded

SPAN_COLUMNS = 5  # score, start, end, start logit, end logit


@dataclass(frozen=True)
class WindowSpans:
    null: float  # start + end logit of the no-answer position
    spans: np.ndarray  # (k, 5) float64, best first


def window_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: np.ndarray,
    null: int,
    *,
    n_best: int,
    max_answer_length: int,
) -> WindowSpans:
    """The ``n_best`` best spans of one window: the ``n_best`` best starts and ends among the context
    tokens, every valid pairing of them, best first."""
    start_logits = np.asarray(start_logits, dtype=np.float64)[: len(offsets)]
    end_logits = np.asarray(end_logits, dtype=np.float64)[: len(offsets)]
    null_score = float(start_logits[null] + end_logits[null])
    context = np.flatnonzero(offsets[:, 0] >= 0)
    if context.size == 0:
        return WindowSpans(null_score, np.zeros((0, SPAN_COLUMNS)))
    starts = context[np.argsort(-start_logits[context], kind="stable")[:n_best]]
    ends = context[np.argsort(-end_logits[context], kind="stable")[:n_best]]
    grid_s, grid_e = np.meshgrid(starts, ends, indexing="ij")
    s, e = grid_s.reshape(-1), grid_e.reshape(-1)
    keep = (e >= s) & (e - s + 1 <= max_answer_length)
    s, e = s[keep], e[keep]
    scores = start_logits[s] + end_logits[e]
    order = np.argsort(-scores, kind="stable")[:n_best]
    s, e = s[order], e[order]
    rows = np.stack([scores[order], offsets[s, 0], offsets[e, 1], start_logits[s], end_logits[e]], axis=-1).astype(
        np.float64
    )
    return WindowSpans(null_score, rows.reshape(-1, SPAN_COLUMNS))


def decode_windows(
    encoded: QaEncoded,
    indices: Sequence[int],
    start: np.ndarray,
    end: np.ndarray,
    *,
    n_best: int,
    max_answer_length: int,
) -> list[WindowSpans]:
    return [
        window_spans(
            start[row],
            end[row],
            encoded.item_offsets[i],
            encoded.item_null[i],
            n_best=n_best,
            max_answer_length=max_answer_length,
        )
        for row, i in enumerate(indices)
    ]


@dataclass
class Answer:
    """The answer to one question: the best span across its windows, or no answer."""

    text: str
    start: int  # characters into the context; -1 for no answer
    end: int
    score: float  # start + end logit of the span (the no-answer score when there is no answer)
    probability: float  # softmax over the n-best (and the no-answer, for models that can abstain)
    null_score: float  # the lowest no-answer score over the question's windows
    best_span_score: float  # the best span's score, whether or not it was chosen (-inf: none)
    best_span: tuple[str, int, int]  # the best span, whether or not it was chosen ("" -1 -1: none)
    n_best: list[dict[str, Any]]

    @property
    def null_margin(self) -> float:
        """No-answer score minus the best span's: the model abstains when it exceeds the threshold."""
        return self.null_score - self.best_span_score


def question_windows(encoded: QaEncoded) -> list[list[int]]:
    """Each example's windows, in order."""
    groups: list[list[int]] = [[] for _ in encoded.examples]
    for item, example in enumerate(encoded.item_example):
        groups[example].append(item)
    return groups


def answers(
    encoded: QaEncoded, items: Sequence[WindowSpans], *, n_best: int, abstains: bool, threshold: float
) -> list[Answer]:
    """Per question: its windows' candidates merged (a span found in several windows keeps its best
    score), the ``n_best`` best with probabilities (softmax over their scores, plus the no-answer
    score when the model abstains), and the answer: the best span, or no answer when the model
    abstains (trained with unanswerable questions) and the no-answer score beats the best span's by
    more than ``threshold``."""
    result = []
    for example, windows in zip(encoded.examples, question_windows(encoded)):
        context = example.context
        merged: dict[tuple[int, int], float] = {}
        nulls = [items[w].null for w in windows]
        for w in windows:
            for row in items[w].spans:
                key = trimmed(context, int(row[1]), int(row[2]))
                if key not in merged or row[0] > merged[key]:
                    merged[key] = float(row[0])
        null_score = min(nulls) if nulls else 0.0
        ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:n_best]
        scores = np.asarray([score for _, score in ranked] + ([null_score] if abstains else []), dtype=np.float64)
        probs = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum() if scores.size else scores
        listed = []
        for ((a, b), score), p in zip(ranked, probs):
            listed.append(
                {
                    "text": context[a:b],
                    "start": a,
                    "end": b,
                    "score": round(score, 6),
                    "probability": round(float(p), 6),
                }
            )
        best = listed[0] if listed else None
        best_score = ranked[0][1] if ranked else float("-inf")
        best_span = (best["text"], best["start"], best["end"]) if best else ("", -1, -1)
        no_answer = best is None or (abstains and null_score - best_score > threshold)
        null_p = float(probs[-1]) if abstains and probs.size else 1.0
        if no_answer:
            answer = Answer("", -1, -1, null_score, null_p, null_score, best_score, best_span, listed)
        else:
            assert best is not None
            answer = Answer(
                best["text"],
                best["start"],
                best["end"],
                best_score,
                best["probability"],
                null_score,
                best_score,
                best_span,
                listed,
            )
        result.append(answer)
    return result


def trimmed(context: str, start: int, end: int) -> tuple[int, int]:
    """A span without surrounding whitespace (SentencePiece and byte-level tokens carry the space
    before a word); unchanged when it is all whitespace."""
    a, b = start, end
    while a < b and context[a].isspace():
        a += 1
    while b > a and context[b - 1].isspace():
        b -= 1
    return (a, b) if a < b else (start, end)
