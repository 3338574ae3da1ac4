"""Questions and contexts as model windows, with the fast tokenizer (as Hugging Face's run_qa.py).

Each (question, context) pair is tokenised with ``truncation="only_second"``: a context longer than
the window is cut into overlapping windows (``return_overflowing_tokens`` with ``stride`` =
``task.doc_stride`` shared tokens), each holding the whole question. The offset mapping of every
context token is kept, so a span of tokens maps back to characters of the context. Training labels
are the answer's first and last token in a window that holds all of it, else the no-answer
position (the first token: [CLS] for BERT-style models, BOS for decoders).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from tunelab.data.batching import IGNORE_INDEX
from tunelab.data.encoding import EncodedDataset
from tunelab.tasks.extractive_qa.example import QaExample


@dataclass
class QaEncoded(EncodedDataset):
    """Windows (the items) plus what maps their tokens back to each question's context."""

    item_example: list[int] = field(default_factory=list)  # window -> example index
    # window -> (tokens, 2) int32 character offsets into the context; -1 for tokens outside it
    item_offsets: list[np.ndarray] = field(default_factory=list)
    item_null: list[int] = field(default_factory=list)  # window -> index of its no-answer token
    num_windowed: int = 0  # questions whose context needed more than one window
    num_cut_questions: int = 0  # questions cut to task.max_question_length tokens
    num_answers_outside: int = 0  # labelled questions whose gold answer no window holds whole


def cut_questions(tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], limit: int) -> tuple[list[str], int]:
    """Questions with leading whitespace removed (as run_qa.py: it only wastes tokens and can make
    a window overflow) and cut after ``limit`` tokens; and how many were cut."""
    stripped = [q.lstrip() for q in questions]
    enc = tokenizer(stripped, add_special_tokens=False, return_offsets_mapping=True)
    out, cut = [], 0
    for question, offsets in zip(stripped, enc["offset_mapping"]):
        if len(offsets) > limit:
            question = question[: offsets[limit - 1][1]]
            cut += 1
        out.append(question)
    return out, cut


def encode_questions(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[QaExample],
    *,
    max_length: int,
    doc_stride: int,
    max_question_length: int,
) -> QaEncoded:
    """Every example as one or more windows; labels (start, end token) when every example has
    answers (an answer known by its text only gets ignored labels: it is in no window for sure)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("extractive QA needs a fast tokenizer (tokenizer.json) for character offsets")
    examples = list(examples)
    wants_types = "token_type_ids" in tokenizer.model_input_names
    labelled = bool(examples) and all(ex.answers is not None for ex in examples)
    encoded = QaEncoded([], [] if wants_types else None, [] if labelled else None, examples=examples)
    if not examples:
        return encoded
    questions, encoded.num_cut_questions = cut_questions(
        tokenizer, [ex.question for ex in examples], max_question_length
    )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        enc = tokenizer(
            questions,
            [ex.context for ex in examples],
            truncation="only_second",
            max_length=max_length,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_token_type_ids=wants_types,
            padding=False,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    windows = np.bincount(np.asarray(enc["overflow_to_sample_mapping"]), minlength=len(examples))
    encoded.num_windowed = int((windows > 1).sum())
    located = np.zeros(len(examples), dtype=bool)
    cls_id = tokenizer.cls_token_id
    for i, ids in enumerate(enc["input_ids"]):
        sample = int(enc["overflow_to_sample_mapping"][i])
        sequence = enc.sequence_ids(i)
        offsets = np.asarray(enc["offset_mapping"][i], dtype=np.int64).reshape(-1, 2)
        offsets[np.asarray([s != 1 for s in sequence])] = -1
        null = ids.index(cls_id) if cls_id is not None and cls_id in ids else 0
        encoded.input_ids.append(list(ids))
        if encoded.token_type_ids is not None:
            encoded.token_type_ids.append(list(enc["token_type_ids"][i]))
        encoded.item_example.append(sample)
        encoded.item_offsets.append(offsets.astype(np.int32))
        encoded.item_null.append(null)
        if encoded.labels is not None:
            label = window_label(examples[sample], offsets, null)
            if label[0] != null and label[0] != IGNORE_INDEX:
                located[sample] = True
            encoded.labels.append(label)
    encoded.lengths = [len(ids) for ids in encoded.input_ids]
    if labelled:
        encoded.num_answers_outside = sum(1 for ex, found in zip(examples, located) if ex.spans and not found)
    return encoded


def window_label(example: QaExample, offsets: np.ndarray, null: int) -> list[int]:
    """[start token, end token] of the example's first located answer in this window; the
    no-answer position when the window does not hold all of it (or the question has no answer);
    ignored (-100) when the answer is known by its text only."""
    spans = example.spans
    if not spans:
        return [null, null] if example.unanswerable else [IGNORE_INDEX, IGNORE_INDEX]
    start_char, end_char = spans[0]
    context = np.flatnonzero(offsets[:, 0] >= 0)
    if context.size == 0:
        return [null, null]
    first, last = int(context[0]), int(context[-1])
    if not (offsets[first, 0] <= start_char and offsets[last, 1] >= end_char):
        return [null, null]
    starts, ends = offsets[context, 0], offsets[context, 1]
    # the last context token starting at or before the answer, the first ending at or after it
    start = int(context[np.flatnonzero(starts <= start_char)[-1]])
    end = int(context[np.flatnonzero(ends >= end_char)[0]])
    return [start, max(start, end)]
