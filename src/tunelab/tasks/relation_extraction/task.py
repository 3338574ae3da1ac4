"""Relation extraction: the relation between two marked entities of a text, read from the entity
markers' hidden states; directed labels (``X(e1,e2)``, ``X(e2,e1)``) are distinct classes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from tunelab.config import ModelConfig
from tunelab.data.batching import PaddingCollator
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ConfigError, DataError, InputError
from tunelab.models.heads import TunelabForPositionClassification
from tunelab.models.resolve import ResolvedModel
from tunelab.tasks.backbone import load_with_head
from tunelab.tasks.base import (
    BaseTask,
    CheckFacts,
    CheckItem,
    Outputs,
    log_probabilities,
    shown_names,
    softmax,
    vote_probabilities,
    weighted_mean,
)
from tunelab.tasks.relation_extraction.config import RelationExtractionConfig, RelationExtractionData
from tunelab.tasks.relation_extraction.data import RelationSplits, entity_types, load_relation_splits
from tunelab.tasks.relation_extraction.example import RelationExample
from tunelab.tasks.relation_extraction.markers import (
    POSITIONS,
    RelationEncoded,
    add_markers,
    encode_relations,
    init_marker_embeddings,
    marker_tokens,
)
from tunelab.tasks.relation_extraction.metrics import (
    METRIC_DIRECTIONS,
    OFFICIAL_DIRECTIONS,
    detect_no_relation,
    is_semeval,
    relation_metrics,
)
from tunelab.tasks.relation_extraction.present import (
    MarkedErrors,
    print_relation_report,
    record_table,
    terminal_rows,
    write_relation_plots,
)
from tunelab.tasks.relation_extraction.readers import example_from_object, from_marked, read_relation_file
from tunelab.tasks.relation_extraction.schemas import RelationPrediction


class RelationLoss(torch.nn.Module):
    """Cross-entropy of ``outputs["logits"]`` (batch, labels) against ``targets["labels"]``."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.loss = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss(outputs["logits"].float(), targets["labels"])


class RelationScorer:
    """Keeps each item's predicted label id."""

    def __init__(self, task: RelationExtractionTask, encoded: EncodedDataset) -> None:
        self.task, self.encoded = task, encoded
        self.predicted: list[int] = [0] * len(encoded)

    def add(self, indices: Sequence[int], items: Sequence[np.ndarray]) -> None:
        for i, probs in zip(indices, items):
            self.predicted[i] = int(np.argmax(probs))

    def result(self) -> dict[str, Any]:
        gold = [self.task.label2id[ex.label] for ex in self.encoded.examples]
        return self.task.metrics(gold, self.predicted)


class RelationExtractionTask(BaseTask):
    name = "relation_extraction"
    model_class = TunelabForPositionClassification
    peft_task_type = "SEQ_CLS"
    default_metric = "micro_f1"
    metric_directions = METRIC_DIRECTIONS
    input_names = ("input_ids", "attention_mask", "token_type_ids", POSITIONS)
    input_axes = {POSITIONS: {0: "batch"}}  # ONNX: a fixed number of positions per text
    prediction_schema = RelationPrediction
    multi_label = False
    warmup_text = "The <e1>service</e1> warms <e2>up</e2>."  # what the service predicts before it is ready
    request_examples = {
        "relation": {
            "summary": "The relation between two marked entities",
            "value": {"texts": ["The <e1>fire</e1> was caused by a faulty <e2>heater</e2>."]},
        },
        "relation_offsets": {
            "summary": "Entities given by character offsets (a JSON object as the text)",
            "value": {
                "texts": [
                    '{"text": "Bill Gates founded Microsoft.", "head": {"start": 0, "end": 10}, '
                    '"tail": {"start": 19, "end": 28}}'
                ]
            },
        },
    }

    def __init__(
        self,
        config: RelationExtractionConfig,
        labels: list[str],
        *,
        types: list[str] | None = None,
        typed: bool = False,
        no_relation: str | None = None,
        semeval: bool = False,
    ) -> None:
        if len(labels) < 2:
            raise DataError(f"relation extraction needs at least two labels; the training data has {labels}")
        self.config = config
        self.labels = list(labels)
        self.label2id = {label: i for i, label in enumerate(self.labels)}
        self.types = list(types) if types else None
        self.typed = typed and self.types is not None
        self.no_relation = no_relation
        self.semeval = semeval
        self.default_metric = "official_f1" if semeval else "micro_f1"  # type: ignore[misc]
        self.metric_directions = OFFICIAL_DIRECTIONS if semeval else METRIC_DIRECTIONS  # type: ignore[misc]
        self.markers = marker_tokens(self.types if self.typed else None)

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def read_splits(data_config: RelationExtractionData, config: RelationExtractionConfig) -> RelationSplits:
        return load_relation_splits(data_config)

    @classmethod
    def from_examples(
        cls, config: RelationExtractionConfig, train: Sequence[RelationExample]
    ) -> RelationExtractionTask:
        labels = sorted({str(ex.label) for ex in train})
        types = entity_types(list(train))
        if config.typed_markers and types is None:
            untyped = next(ex for ex in train if ex.head.type is None or ex.tail.type is None)
            raise DataError(
                "task.typed_markers is true but this entity has no type; give every head and tail a type or set "
                "task.typed_markers: null",
                untyped.source,
                untyped.line,
                "head" if untyped.head.type is None else "tail",
            )
        typed = types is not None if config.typed_markers is None else config.typed_markers
        if config.no_relation == "auto":
            no_relation = detect_no_relation(labels)
        elif config.no_relation is not None and config.no_relation not in labels:
            raise ConfigError(f"task.no_relation '{config.no_relation}' is not a label of train ({', '.join(labels)})")
        else:
            no_relation = config.no_relation
        semeval = is_semeval(labels) if config.scorer == "auto" else config.scorer == "semeval2010_task8"
        return cls(config, labels, types=types, typed=typed, no_relation=no_relation, semeval=semeval)

    @classmethod
    def from_state(cls, config: RelationExtractionConfig, state: dict[str, Any]) -> RelationExtractionTask:
        return cls(
            config,
            list(state["labels"]),
            types=state.get("entity_types"),
            typed=bool(state.get("typed_markers", False)),
            no_relation=state.get("no_relation"),
            semeval=bool(state.get("semeval", False)),
        )

    def state(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "entity_types": self.types,
            "typed_markers": self.typed,
            "markers": self.markers,
            "no_relation": self.no_relation,
            "semeval": self.semeval,
            "representation": self.config.representation,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "entity_types": self.types,
            "typed_markers": self.typed,
            "representation": self.config.representation,
            "no_relation": self.no_relation,
            "official_scorer": "semeval2010_task8" if self.semeval else None,
        }

    # -- model ---------------------------------------------------------------------------------
    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        """tunelab's position head (k = 2 entity starts, or 1 for cls) on the backbone, with rows for
        the markers in its embeddings (the same ids ``encode`` gives them)."""
        if model_config.head == "transformers":
            raise ConfigError("relation_extraction reads entity positions: set model.head to auto or tunelab")
        model = load_with_head(
            self.model_class,
            resolved,
            model_config,
            kind="positions",
            head_options={"positions": 1 if self.config.representation == "cls" else 2, "input": POSITIONS},
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id=dict(self.label2id),
        )
        hub = {"local_files_only": resolved.local_files_only, "revision": resolved.revision}
        base = AutoTokenizer.from_pretrained(resolved.path, **hub)
        marked = AutoTokenizer.from_pretrained(resolved.path, **hub)
        add_markers(marked, self.markers)
        init_marker_embeddings(model, marked, base, self.markers)
        return model

    # -- data ----------------------------------------------------------------------------------
    def encode(
        self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[RelationExample], max_length: int
    ) -> RelationEncoded:
        add_markers(tokenizer, self.markers)  # no-op on a trained model's tokenizer
        if self.typed:
            self.check_types(examples, "the input")
        return encode_relations(
            tokenizer,
            examples,
            max_length=max_length,
            typed=self.typed,
            representation=self.config.representation,
            label2id=self.label2id if all(ex.label in self.label2id for ex in examples) else None,
        )

    def collator(self, pad_token_id: int) -> PaddingCollator:
        return PaddingCollator(
            pad_token_id,
            targets=lambda values, width: torch.tensor(values, dtype=torch.long),
            extra={POSITIONS: lambda values, width: torch.tensor(values, dtype=torch.long)},
        )

    def loss_fn(self, train: Sequence[RelationExample], *, label_smoothing: float = 0.0) -> RelationLoss:
        return RelationLoss(label_smoothing)

    # -- outputs -------------------------------------------------------------------------------
    def decode_batch(self, encoded: EncodedDataset, indices: Sequence[int], outputs: Outputs) -> list[np.ndarray]:
        return list(softmax(outputs["logits"]))

    def decode(self, probs: np.ndarray) -> np.ndarray:
        return np.asarray(probs).argmax(axis=-1)

    combine_modes = ("mean", "vote", "weighted")

    def combine_outputs(self, outputs_list: Sequence[Outputs], weights: Sequence[float], mode: str) -> Outputs:
        probs = [softmax(o["logits"]) for o in outputs_list]
        combined = vote_probabilities(probs, weights) if mode == "vote" else weighted_mean(probs, weights)
        return {"logits": log_probabilities(combined)}

    def metrics(self, gold: Sequence[int], predicted: Sequence[int]) -> dict[str, Any]:
        return relation_metrics(gold, predicted, self.labels, no_relation=self.no_relation, semeval=self.semeval)

    def scorer(self, encoded: EncodedDataset) -> RelationScorer:
        return RelationScorer(self, encoded)

    def predictions(self, encoded: EncodedDataset, items: Sequence[np.ndarray]) -> list[str]:
        return [self.labels[int(np.argmax(p))] for p in items]

    def prediction_records(self, encoded: EncodedDataset, items: Sequence[np.ndarray], *, top_k: int = 1) -> list[dict]:
        records = []
        for ex, p in zip(encoded.examples, items):
            best = int(np.argmax(p))
            order = np.argsort(-np.asarray(p), kind="stable")[: max(1, top_k)]
            record: dict[str, Any] = {"id": ex.id} if ex.id is not None else {}
            record.update(
                text=ex.text,
                head=ex.head.as_dict(ex.text),
                tail=ex.tail.as_dict(ex.text),
                relation=self.labels[best],
                score=float(p[best]),
                top=[{"label": self.labels[j], "score": float(p[j])} for j in order],
            )
            records.append(record)
        return records

    def agreement(
        self, encoded: EncodedDataset, a: Sequence[np.ndarray], b: Sequence[np.ndarray]
    ) -> tuple[int, int, str]:
        same = np.argmax(np.stack(a), axis=-1) == np.argmax(np.stack(b), axis=-1)
        return int(same.sum()), len(same), "relations"

    # -- files and raw input -------------------------------------------------------------------
    def read_file(self, path: str | Path, meta: Any, *, require_labels: bool = True, **_: Any) -> list[RelationExample]:
        """Read in the format the model was trained on when it was set, else detected (SemEval,
        tab-separated, JSONL; prediction input may also be one marked text a line)."""
        cfg = meta.data_config
        fmt = cfg.get("format", "auto")
        encoding = cfg.get("encoding", "utf-8")
        return read_relation_file(
            path, format=fmt, encoding=encoding, split="test", require_labels=require_labels
        ).examples

    def check_known(self, examples: Sequence[RelationExample], where: str) -> None:
        for ex in examples:
            if ex.label is not None and ex.label not in self.label2id:
                raise DataError(
                    f"relation '{ex.label}' in {where} is not one the model knows ({', '.join(self.labels)})",
                    ex.source,
                    ex.line,
                    "relation",
                )
        if self.typed:
            self.check_types(examples, where)

    def check_types(self, examples: Sequence[RelationExample], where: str) -> None:
        known = set(self.types or ())
        for ex in examples:
            for field_name, entity in (("head", ex.head), ("tail", ex.tail)):
                if entity.type not in known:
                    what = "has no type" if entity.type is None else f"has type '{entity.type}', unknown"
                    message = (
                        f"the {field_name} entity in {where} {what}: this model was trained with typed markers "
                        f"(types: {', '.join(sorted(known))})"
                    )
                    if not ex.source:
                        raise InputError(message + "; give head.type and tail.type, or <e1:TYPE> markers")
                    raise DataError(message, ex.source, ex.line, field_name)

    def make_examples(self, texts: Any = None, text_pairs: Any = None, tokens: Any = None) -> list[RelationExample]:
        """Each input is a text with inline markers (``<e1>..</e1>`` and ``<e2>..</e2>``, typed
        ``<e1:PER>..</e1>``), an object ``{text, head: {start, end[, type]}, tail: {...}}``, or that
        object as a JSON string."""
        if text_pairs is not None:
            raise InputError("relation extraction reads one text with two marked entities, not text pairs")
        if tokens is not None:
            raise InputError("pre-tokenised input is for token classification; pass texts with marked entities")
        if texts is None:
            raise InputError("pass texts with two marked entities (<e1>..</e1>, <e2>..</e2>)")
        if isinstance(texts, (str, dict)):
            texts = [texts]
        examples = []
        for i, item in enumerate(texts):
            try:
                if isinstance(item, str) and item.lstrip().startswith("{"):
                    try:
                        item = json.loads(item)
                    except json.JSONDecodeError as err:
                        raise InputError(f"text {i + 1} starts with '{{' but is not valid JSON: {err.msg}") from None
                if isinstance(item, dict):
                    examples.append(example_from_object(item, "", 0))
                elif isinstance(item, str):
                    examples.append(from_marked(item, "", 0, "text"))
                else:
                    raise InputError(f"text {i + 1} is a {type(item).__name__}; pass a string or an object")
            except DataError as err:
                field = f" ({err.field})" if err.field else ""
                raise InputError(f"text {i + 1}{field}: {err.message}") from None
        if self.typed:
            self.check_types(examples, "the input")
        return examples

    def augment(self, examples: Sequence[Any], augmenter: Any) -> list[Any]:
        raise ConfigError("augment: is not available for relation_extraction (text edits would move the entity spans)")

    def perturb(self, examples: Sequence[Any], augmenter: Any) -> list[Any]:
        raise ConfigError("--perturb is not available for relation_extraction (text edits would move the entity spans)")

    # -- data checks ---------------------------------------------------------------------------
    def check_facts(self, parts: dict[str, Sequence[RelationExample]], splits: Any) -> CheckFacts:
        items = {
            name: [CheckItem(ex.marked(), ex.label, ex.source, ex.line, (str(ex.label),)) for ex in examples]
            for name, examples in parts.items()
        }
        counts = {
            name: {
                "examples": len(examples),
                "relations": sum(1 for ex in examples if ex.label != self.no_relation),
                "no_relation": sum(1 for ex in examples if ex.label == self.no_relation),
            }
            for name, examples in parts.items()
            if examples
        }
        return CheckFacts(
            items=items,
            classes=list(self.labels),
            class_noun="relation",
            imbalance_hint="add examples of the rare relations",
            truncates=True,  # cut around the entities (the markers are kept)
            facts={
                "format": getattr(splits, "format", None),
                "no_relation": self.no_relation,
                "entity_types": self.types,
                "typed_markers": self.typed,
                "official_scorer": "semeval2010_task8" if self.semeval else None,
                "splits": counts,
            },
            tables=[
                (
                    "examples",
                    ["split", "examples", "relations", f"no relation ({self.no_relation or 'none'})"],
                    [[name, *(str(v) for v in c.values())] for name, c in counts.items()],
                )
            ],
        )

    # -- presentation --------------------------------------------------------------------------
    def record_table(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        return record_table(records)

    def terminal_rows(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        return terminal_rows(records)

    def print_report(self, metrics: dict[str, Any], console: Console | None, title: str) -> None:
        print_relation_report(metrics, console=console, title=title)

    def write_plots(self, directory: Path, report: dict[str, Any]) -> list[Path]:
        split = (report.get("evaluated_on") or {}).get("split", "dev")
        return write_relation_plots(directory, report.get("metrics") or {}, self.labels, split=split)

    def worst_errors(self, encoded: EncodedDataset, limit: int) -> MarkedErrors:
        return MarkedErrors(self, encoded, limit)

    def card_summary(self) -> str:
        markers = "typed entity markers" if self.typed else "entity markers"
        return f"{len(self.labels)} relation labels ({markers}, {self.config.representation}): " + shown_names(
            self.labels
        )

    def card_limitations(self, max_length: int) -> list[str]:
        return [
            f"Texts longer than {max_length} tokens lose the tokens farthest from the two entities; "
            "the markers are kept.",
            f"It knows only the {len(self.labels)} relation labels it was trained on, for one entity pair per text.",
        ]
