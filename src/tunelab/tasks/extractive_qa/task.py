"""Extractive question answering: a start and an end logit per token; the answer is the best span
of the context across the question's windows, with character offsets into the context.

A question and its context are the model's text pair (``pairs`` is True): ``texts`` are questions
and ``text_pairs`` contexts wherever the core passes texts (Predictor, service, CLI ``--pair``);
the named inputs ``question``/``context`` map onto them (``input_fields``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from rich.console import Console
from transformers import AutoModelForQuestionAnswering, PreTrainedModel, PreTrainedTokenizerBase

from tunelab.config import ModelConfig
from tunelab.data.batching import IGNORE_INDEX
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import DataError, InputError
from tunelab.models.resolve import ResolvedModel
from tunelab.tasks.backbone import effective_max_length, load_with_head
from tunelab.tasks.base import BaseTask, CheckFacts, CheckItem, ItemScorer, Outputs
from tunelab.tasks.extractive_qa.config import ExtractiveQaConfig, ExtractiveQaData
from tunelab.tasks.extractive_qa.data import QaSplits, article_key, load_qa_splits
from tunelab.tasks.extractive_qa.decode import Answer, WindowSpans, answers, decode_windows
from tunelab.tasks.extractive_qa.encode import QaEncoded, encode_questions
from tunelab.tasks.extractive_qa.example import QaExample
from tunelab.tasks.extractive_qa.metrics import (
    METRIC_DIRECTIONS,
    best_threshold,
    detect_language,
    qa_metrics,
    score_question,
)
from tunelab.tasks.extractive_qa.readers import read_qa_file
from tunelab.tasks.extractive_qa.report import WorstAnswers, print_qa_report, qa_record_table, qa_terminal_rows
from tunelab.tasks.extractive_qa.schemas import QaPrediction

PADDED_LOGIT = -1e4  # sequence padding of start/end logits exchanged between processes
PREDICTIONS_KEPT = 20_000  # per-question predictions kept in the metrics (report.json)


class SpanLoss(torch.nn.Module):
    """The mean of the start and end cross-entropies (run_qa.py's loss); labels of -100 are ignored."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.loss = torch.nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing)

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        labels = targets["labels"].reshape(-1, 2)
        start = self.loss(outputs["start_logits"].float(), labels[:, 0])
        end = self.loss(outputs["end_logits"].float(), labels[:, 1])
        return (start + end) / 2


class ExtractiveQaTask(BaseTask):
    name = "extractive_qa"
    model_class = AutoModelForQuestionAnswering
    peft_task_type = "QUESTION_ANS"
    default_metric = "f1"
    metric_directions = METRIC_DIRECTIONS
    output_names = ("start_logits", "end_logits")
    sequence_keys = {"start_logits": PADDED_LOGIT, "end_logits": PADDED_LOGIT}
    hub_pipeline_tag = "question-answering"
    prediction_schema = QaPrediction
    # the named inputs of one prediction: the text and the text pair (see tunelab.tasks.hooks)
    input_fields: ClassVar[tuple[str, ...]] = ("question", "context")
    request_examples = {
        "question": {
            "summary": "Answer a question from a context (extractive QA model)",
            "value": {
                "items": [
                    {
                        "question": "Where do water droplets collide with ice crystals?",
                        "context": "Within a cloud, water droplets collide with ice crystals to form precipitation.",
                    }
                ]
            },
        }
    }

    def __init__(
        self,
        config: ExtractiveQaConfig,
        *,
        abstains: bool = False,
        threshold: float | None = None,
        language: str = "en",
    ) -> None:
        self.config = config
        self.labels: list[str] = []
        self.pairs = True
        self.abstains = abstains  # trained with unanswerable questions: may answer nothing
        self.tuned_threshold = threshold
        self.language = language

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def read_splits(data_config: ExtractiveQaData, config: ExtractiveQaConfig) -> QaSplits:
        return load_qa_splits(data_config)

    @classmethod
    def from_examples(cls, config: ExtractiveQaConfig, train: Sequence[QaExample]) -> ExtractiveQaTask:
        if not train:
            raise DataError("no training questions")
        language: str = config.metric_language
        if language == "auto":
            language = detect_language([ex.context for ex in train])
        return cls(config, abstains=any(ex.unanswerable for ex in train), language=language)

    @classmethod
    def from_state(cls, config: ExtractiveQaConfig, state: dict[str, Any]) -> ExtractiveQaTask:
        return cls(
            config,
            abstains=bool(state.get("abstains", False)),
            threshold=state.get("null_threshold"),
            language=str(state.get("metric_language", "en")),
        )

    def state(self) -> dict[str, Any]:
        return {
            "pairs": True,
            "abstains": self.abstains,
            "null_threshold": self.tuned_threshold,
            "metric_language": self.language,
        }

    @property
    def threshold(self) -> float:
        """The no-answer threshold: task.null_threshold, else the one tuned on dev, else 0."""
        if self.config.null_threshold is not None:
            return float(self.config.null_threshold)
        return float(self.tuned_threshold) if self.tuned_threshold is not None else 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "pairs": True,
            "input_fields": list(self.input_fields),
            "abstains": self.abstains,
            "null_threshold": self.threshold if self.abstains else None,
            "metric_language": self.language,
            "max_length": self.config.max_length,
            "doc_stride": self.config.doc_stride,
        }

    def output_sizes(self) -> dict[str, int]:
        return {}

    # -- model ---------------------------------------------------------------------------------
    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        return load_with_head(self.model_class, resolved, model_config, kind="span", num_labels=2)

    # -- data ----------------------------------------------------------------------------------
    def window_length(self, tokenizer: PreTrainedTokenizerBase) -> int:
        return effective_max_length(tokenizer, self.config.max_length)

    def encode(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[QaExample], max_length: int) -> QaEncoded:
        """Windows of ``task.max_length`` tokens (``max_length``, model.max_length, is not used:
        a QA window is sized by the task, as run_qa.py's max_seq_length)."""
        return encode_questions(
            tokenizer,
            examples,
            max_length=self.window_length(tokenizer),
            doc_stride=self.config.doc_stride,
            max_question_length=self.config.max_question_length,
        )

    def target_collator(self) -> Callable[[list[Any], int], torch.Tensor]:
        return lambda targets, width: torch.tensor(targets, dtype=torch.long).reshape(-1, 2)

    def loss_fn(self, train: Sequence[QaExample], *, label_smoothing: float = 0.0) -> SpanLoss:
        return SpanLoss(label_smoothing)

    def output_divergence(
        self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """R-Drop: the symmetric KL of the start distributions plus that of the end ones, halved."""
        total = torch.zeros((), device=a["start_logits"].device)
        for name in self.output_names:
            log_p, log_q = torch.log_softmax(a[name].float(), -1), torch.log_softmax(b[name].float(), -1)
            total = total + ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1).mean() / 2
        return total / 2

    # -- outputs -------------------------------------------------------------------------------
    def decode_batch(self, encoded: QaEncoded, indices: Sequence[int], outputs: Outputs) -> list[WindowSpans]:
        return decode_windows(
            encoded,
            indices,
            np.asarray(outputs["start_logits"]),
            np.asarray(outputs["end_logits"]),
            n_best=self.config.n_best,
            max_answer_length=self.config.max_answer_length,
        )

    def answers(
        self, encoded: QaEncoded, items: Sequence[WindowSpans], *, threshold: float | None = None
    ) -> list[Answer]:
        return answers(
            encoded,
            items,
            n_best=self.config.n_best,
            abstains=self.abstains,
            threshold=self.threshold if threshold is None else threshold,
        )

    def metrics(self, encoded: QaEncoded, items: Sequence[WindowSpans]) -> dict[str, Any]:
        found = self.answers(encoded, items)
        examples = encoded.examples
        result = qa_metrics(
            examples,
            [a.text for a in found],
            self.language,
            margins=[a.null_margin for a in found] if self.abstains else None,
            best_spans=[a.best_span[0] for a in found] if self.abstains else None,
        )
        if self.abstains:
            result["null_threshold"] = self.threshold
        result.update(
            num_windows=len(encoded),
            questions_windowed=encoded.num_windowed,
            questions_cut=encoded.num_cut_questions,
            answers_outside_windows=encoded.num_answers_outside,
        )
        rows = []
        for ex, answer in list(zip(examples, found))[:PREDICTIONS_KEPT]:
            em, f1 = score_question(ex.gold_texts, answer.text, self.language)
            rows.append({"id": ex.key, "prediction": answer.text, "exact_match": em, "f1": round(f1, 4)})
        result["predictions"] = rows
        return result

    def scorer(self, encoded: QaEncoded) -> ItemScorer:
        # a question's windows are reduced at the end, so every window's candidates are kept
        return ItemScorer(lambda items: self.metrics(encoded, items), len(encoded))

    def tunes_on_dev(self) -> bool:
        """A model that may answer nothing, without a configured threshold, tunes it on dev."""
        return self.abstains and self.config.null_threshold is None

    def fit_after_training(self, predictor: Any, parts: Mapping[str, Sequence[Any]], directory: Path) -> dict | None:
        """After training, on the saved model: the no-answer threshold tuned on dev (the state to
        merge into the artifact's task state), or None when there is nothing to tune."""
        dev = list(parts.get("dev") or ())
        if not dev or not self.tunes_on_dev():
            return None
        encoded = predictor.encode(dev)
        return self.tune(encoded, predictor.items_for(encoded))

    def tune(self, encoded: QaEncoded, items: Sequence[WindowSpans]) -> dict[str, Any]:
        """Set the no-answer threshold that maximises dev F1 (SQuAD v2.0's best_f1_thresh)."""
        found = self.answers(encoded, items, threshold=0.0)
        gold = encoded.examples
        span_f1 = [score_question(ex.gold_texts, a.best_span[0], self.language)[1] for ex, a in zip(gold, found)]
        empty_f1 = [float(ex.unanswerable) for ex in gold]
        margins = [a.null_margin if np.isfinite(a.null_margin) else 1e9 for a in found]
        threshold, _ = best_threshold(margins, span_f1, empty_f1)
        self.tuned_threshold = threshold
        return {"null_threshold": threshold}

    def predictions(self, encoded: QaEncoded, items: Sequence[WindowSpans]) -> list[dict[str, Any]]:
        return [
            {"answer": a.text, "start": a.start, "end": a.end, "score": round(a.score, 6), "probability": a.probability}
            for a in self.answers(encoded, items)
        ]

    def prediction_records(self, encoded: QaEncoded, items: Sequence[WindowSpans], *, top_k: int = 1) -> list[dict]:
        records = []
        for ex, a in zip(encoded.examples, self.answers(encoded, items)):
            record: dict[str, Any] = {"question": ex.question}
            if ex.id:
                record["id"] = ex.id
            record.update(
                answer=a.text,
                start=a.start,
                end=a.end,
                score=round(a.score, 6),
                probability=round(a.probability, 6),
                no_answer=a.start < 0,
            )
            if top_k > 1:
                record["answers"] = a.n_best[:top_k]
            records.append(record)
        return records

    def agreement(self, encoded: QaEncoded, a: Sequence[WindowSpans], b: Sequence[WindowSpans]) -> tuple[int, int, str]:
        """Questions whose two answers are the same span of the context."""
        first, second = self.answers(encoded, a), self.answers(encoded, b)
        return sum(1 for x, y in zip(first, second) if (x.start, x.end) == (y.start, y.end)), len(first), "questions"

    # -- files and raw input -------------------------------------------------------------------
    def read_file(self, path: str | Path, meta: Any, *, require_labels: bool = True, **_: Any) -> list[QaExample]:
        """Read SQuAD JSON or JSONL with the settings the model was trained with."""
        data = meta.data_config
        return read_qa_file(
            path,
            format=data.get("format", "auto"),
            encoding=data.get("encoding", "utf-8"),
            answer_offsets=data.get("answer_offsets", "check"),
            require_labels=require_labels,
        ).examples

    def check_known(self, examples: Sequence[QaExample], where: str) -> None:
        for ex in examples:
            if ex.answers is None:
                raise DataError(f"{where}: {ex.key} has no answers to score against", ex.source, ex.line, "answers")

    def make_examples(self, texts: Any = None, text_pairs: Any = None, tokens: Any = None) -> list[QaExample]:
        """Questions (``texts``) with their contexts (``text_pairs``), one context per question."""
        if tokens is not None:
            raise InputError("an extractive QA model takes questions and contexts, not tokens")
        if texts is None:
            raise InputError("pass the questions and, as text_pairs, their contexts")
        texts = [texts] if isinstance(texts, str) else list(texts)
        pairs = [text_pairs] if isinstance(text_pairs, str) else text_pairs
        if pairs is None:
            raise InputError("an extractive QA model needs a context for every question (text_pairs, --context)")
        self.check_pairs(texts, list(pairs))
        return [QaExample(question=q, context=c) for q, c in zip(texts, pairs)]

    def examples_from_items(self, items: Sequence[Mapping[str, Any]]) -> list[QaExample]:
        """Examples from ``{question, context}`` items (the service's ``items``, ``--question``/``--context``)."""
        out = []
        for i, item in enumerate(items):
            question, context = item.get("question"), item.get("context")
            if not isinstance(question, str) or not isinstance(context, str):
                raise InputError(f"items[{i}] needs a 'question' and a 'context' text")
            if not question.strip() or not context.strip():
                raise InputError(f"items[{i}]: the question and the context need visible content")
            unknown = sorted(set(item) - {"question", "context", "id"})
            if unknown:
                raise InputError(f"items[{i}] has unknown fields {unknown}; an item holds question, context (and id)")
            out.append(QaExample(question=question, context=context, id=str(item.get("id") or "")))
        return out

    # -- augmentation: only the question changes (answers keep their offsets into the context) ----
    def augment(self, examples: Sequence[QaExample], augmenter: Any) -> list[Any]:
        from tunelab.augment.apply import augment_texts

        return augment_texts(examples, augmenter, fields=("question",))

    def perturb(self, examples: Sequence[QaExample], augmenter: Any) -> list[QaExample]:
        from tunelab.augment.apply import perturb_texts

        return perturb_texts(examples, augmenter, fields=("question",))

    # -- data checks -----------------------------------------------------------------------------
    def check_facts(self, parts: dict[str, Sequence[QaExample]], splits: Any) -> CheckFacts:
        items = {
            name: [CheckItem(f"{ex.question}\t{ex.context}", ex.label, ex.source, ex.line) for ex in exs]
            for name, exs in parts.items()
        }
        counts = {
            name: {
                "questions": len(exs),
                "articles": len({article_key(ex) for ex in exs}),
                "contexts": len({ex.context for ex in exs}),
                "unanswerable": sum(1 for ex in exs if ex.unanswerable),
            }
            for name, exs in parts.items()
            if exs
        }
        contexts = {name: {ex.context for ex in exs} for name, exs in parts.items() if exs}
        warnings = [
            f"{name} shares {len(contexts['train'] & contexts[name])} contexts with train: the model has seen "
            "them; carve dev by article (leave data.dev out) or use another file"
            for name in ("dev", "test")
            if name in contexts and "train" in contexts and contexts["train"] & contexts[name]
        ]
        reading = splits.describe() if hasattr(splits, "describe") else {}
        if reading.get("text_only"):
            warnings.append(
                f"{reading['text_only']} answers are nowhere in their context (data.answer_offsets: repair keeps "
                "them for scoring only)"
            )
        return CheckFacts(
            items=items,
            truncates=False,  # a long context becomes overlapping windows
            facts={"splits": counts, **reading},
            tables=[
                (
                    "questions",
                    ["split", "questions", "articles", "contexts", "unanswerable"],
                    [[name, *(str(v) for v in c.values())] for name, c in counts.items()],
                )
            ],
            warnings=warnings,
        )

    def token_lengths(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[QaExample]) -> list[int]:
        """Question + context tokens (with the special tokens) of each example, before windowing."""
        if not examples:
            return []
        enc = tokenizer([ex.question for ex in examples], [ex.context for ex in examples], truncation=False)
        return [len(ids) for ids in enc["input_ids"]]

    # -- presentation --------------------------------------------------------------------------
    def print_report(self, metrics: dict[str, Any], console: Console | None, title: str) -> None:
        print_qa_report(metrics, console=console, title=title)

    def record_table(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        return qa_record_table(records)

    def terminal_rows(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        return qa_terminal_rows(records)

    def worst_errors(self, encoded: EncodedDataset, limit: int) -> WorstAnswers:
        assert isinstance(encoded, QaEncoded)
        return WorstAnswers(self, encoded, limit)

    def card_metrics(self, metrics: dict[str, Any]) -> dict[str, float]:
        keys = ("exact_match", "f1", "has_answer_f1", "no_answer_f1", "best_f1")
        return {k: float(metrics[k]) for k in keys if isinstance(metrics.get(k), (int, float))}

    def card_summary(self) -> str:
        what = "answers questions with a span of the given context"
        if self.abstains:
            what += f", or no answer (threshold {self.threshold:.3g})"
        scorer = "CMRC 2018" if self.language == "zh" else "SQuAD"
        return f"{what}; scored with the official {scorer} EM/F1"

    def card_limitations(self, max_length: int) -> list[str]:
        lines = [
            f"Contexts longer than a window of {self.config.max_length} tokens are read in overlapping windows "
            f"({self.config.doc_stride} shared tokens); questions are cut after {self.config.max_question_length} "
            f"tokens and answers longer than {self.config.max_answer_length} tokens are never predicted.",
        ]
        if not self.abstains:
            lines.append(
                "Trained without unanswerable questions: it always returns a span, even when the context has no answer."
            )
        return lines
