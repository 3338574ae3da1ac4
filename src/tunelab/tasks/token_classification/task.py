"""Token classification (NER): IOB2 tags on words, entities with character offsets."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from transformers import AutoModelForTokenClassification, PreTrainedModel, PreTrainedTokenizerBase

from tunelab.config import ModelConfig
from tunelab.data.batching import IGNORE_INDEX, pad_sequences
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ConfigError, DataError, InputError
from tunelab.models.resolve import ResolvedModel
from tunelab.tasks.backbone import load_with_head
from tunelab.tasks.base import (
    BaseTask,
    CheckFacts,
    CheckItem,
    ItemScorer,
    Outputs,
    log_probabilities,
    shown_names,
    softmax,
    vote_probabilities,
    weighted_mean,
)
from tunelab.tasks.token_classification.align import NerEncoded, encode_words
from tunelab.tasks.token_classification.config import TokenClassificationConfig, TokenClassificationData
from tunelab.tasks.token_classification.data import NerSplits, check_known_types, entity_types, load_ner_splits
from tunelab.tasks.token_classification.decode import continued_tag, covering_words, word_outputs
from tunelab.tasks.token_classification.errors import SentenceErrors
from tunelab.tasks.token_classification.example import NerExample
from tunelab.tasks.token_classification.metrics import METRIC_DIRECTIONS_NER, ner_metrics
from tunelab.tasks.token_classification.readers import read_ner_file
from tunelab.tasks.token_classification.report import print_ner_report, write_ner_plots
from tunelab.tasks.token_classification.schemas import EntityPrediction
from tunelab.tasks.token_classification.tags import entities_from_iob2
from tunelab.tasks.token_classification.words import to_words


class TokenCrossEntropy(torch.nn.Module):
    """Cross-entropy over every labelled sub-word of (batch, tokens, tags) logits."""

    def __init__(self, weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.loss = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing)

    @property
    def weight(self) -> torch.Tensor | None:
        return self.loss.weight

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = outputs["logits"]
        return self.loss(logits.reshape(-1, logits.shape[-1]), targets["labels"].reshape(-1))


def iob2_tags(types: Sequence[str]) -> list[str]:
    return ["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]


def _check_item(example: NerExample) -> CheckItem:
    """A sentence as `tunelab check` compares it: its words (or text), labelled by its tags (or entities)."""
    label: str | None
    if example.text is not None:
        text = example.text
        label = "; ".join(f"{t} {text[a:b]!r}" for t, a, b in example.entities()) or "no entities"
    else:
        text = " ".join(example.tokens)
        label = None if example.tags is None else " ".join(example.tags)
    types = tuple(t for t, _, _ in example.entities())
    return CheckItem(text, label, example.source, example.line, types)


class TokenClassificationTask(BaseTask):
    name = "token_classification"
    model_class = AutoModelForTokenClassification
    peft_task_type = "TOKEN_CLS"
    default_metric = "f1"
    metric_directions = METRIC_DIRECTIONS_NER
    sequence_keys = {"logits": 0.0, "labels": IGNORE_INDEX}
    hub_pipeline_tag = "token-classification"
    prediction_schema = EntityPrediction
    request_examples = {
        "entities": {
            "summary": "Entities (token classification model)",
            "value": {"texts": ["John Smith flew from Paris to Berlin on Monday."]},
        }
    }

    def __init__(self, config: TokenClassificationConfig, types: Sequence[str]) -> None:
        if not types:
            raise ConfigError("token classification needs at least one entity type")
        self.config = config
        self.types = list(types)
        self.labels = iob2_tags(self.types)
        self.tag2id = {tag: i for i, tag in enumerate(self.labels)}

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def read_splits(data_config: TokenClassificationData, config: TokenClassificationConfig) -> NerSplits:
        return load_ner_splits(data_config)

    @classmethod
    def from_examples(cls, config: TokenClassificationConfig, train: Sequence[NerExample]) -> TokenClassificationTask:
        types = list(config.entity_types) if config.entity_types else entity_types(list(train))
        if config.entity_types:
            check_known_types(list(train), types, "train")
        task = cls(config, types)
        if isinstance(config.class_weights, dict):
            unknown = sorted(set(config.class_weights) - set(task.labels))
            if unknown:
                raise ConfigError(f"task.class_weights names unknown tags {unknown}; tags: {task.labels}")
        return task

    @classmethod
    def from_state(cls, config: TokenClassificationConfig, state: dict[str, Any]) -> TokenClassificationTask:
        return cls(config, state["entity_types"])

    def state(self) -> dict[str, Any]:
        return {"labels": self.labels, "entity_types": self.types, "scheme": "iob2"}

    def describe(self) -> dict[str, Any]:
        return {"entity_types": self.types}

    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        return load_with_head(
            self.model_class,
            resolved,
            model_config,
            kind="token",
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id=dict(self.tag2id),
        )

    # -- data ----------------------------------------------------------------------------------
    def encode(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[NerExample], max_length: int) -> NerEncoded:
        sequences = [to_words(ex) for ex in examples]
        labelled = bool(sequences) and all(seq.tags is not None for seq in sequences)
        encoded = encode_words(
            tokenizer,
            sequences,
            self.tag2id if labelled else None,
            max_length=max_length,
            overlap=self.config.window_overlap,
            label_all_subwords=self.config.label_all_subwords,
        )
        encoded.examples = list(examples)
        return encoded

    def target_collator(self) -> Callable[[list[Any], int], torch.Tensor]:
        return pad_sequences

    def class_weights(self, train: Sequence[NerExample]) -> list[float] | None:
        setting = self.config.class_weights
        if setting is None:
            return None
        if isinstance(setting, dict):
            return [float(setting.get(tag, 1.0)) for tag in self.labels]
        counts = np.zeros(len(self.labels))
        for seq in map(to_words, train):
            for tag in seq.tags or ():
                counts[self.tag2id[tag]] += 1
        present = counts > 0
        weights = np.ones(len(self.labels))
        weights[present] = counts[present].sum() / (present.sum() * counts[present])
        return weights.tolist()

    def loss_fn(self, train: Sequence[NerExample], *, label_smoothing: float = 0.0) -> TokenCrossEntropy:
        weights = self.class_weights(train)
        tensor = torch.tensor(weights, dtype=torch.float32) if weights is not None else None
        return TokenCrossEntropy(tensor, label_smoothing=label_smoothing)

    # -- outputs -------------------------------------------------------------------------------
    def decode_batch(self, encoded: NerEncoded, indices: Sequence[int], outputs: Outputs) -> list[np.ndarray]:
        """Per window, per sub-word: (best tag id, its probability), an (n, 2) array: all that
        decoding and scoring need, a fraction of the logits."""
        items = []
        for item in self.unbatch(encoded, indices, outputs):
            probs = softmax(item["logits"])
            best = probs.argmax(axis=-1)
            items.append(np.stack([best.astype(np.float64), probs[np.arange(len(best)), best]], axis=-1))
        return items

    # -- ensembles -------------------------------------------------------------------------------
    combine_modes = ("mean", "vote", "weighted")

    def combine_outputs(self, outputs_list: Sequence[Outputs], weights: Sequence[float], mode: str) -> Outputs:
        """Per sub-word: the members' tag probabilities (softmax) averaged, or a vote on the tag (its
        score: its share of the votes; ties: the mean probability), as logits for decode_batch."""
        probs = [softmax(o["logits"]) for o in outputs_list]
        combined = vote_probabilities(probs, weights) if mode == "vote" else weighted_mean(probs, weights)
        return {"logits": log_probabilities(combined)}

    def _word_tags(self, encoded: NerEncoded, items: Sequence[np.ndarray]) -> tuple[list[list[str]], list[list[float]]]:
        """Predicted IOB2 tags per word (made valid: an I- that continues nothing starts an entity)
        and each word's probability of its tag. A word inside a piece that started in an earlier
        word (offsets alignment: "国" of the piece "中国") continues that word: I-X after B-X or
        I-X, O after O, with its score."""
        tags: list[list[str]] = []
        scores: list[list[float]] = []
        for rows, covers in zip(word_outputs(encoded, items), covering_words(encoded)):
            seq_tags: list[str] = []
            seq_scores: list[float] = []
            previous = "O"
            for row, cover in zip(rows, covers):
                if row is None and cover is not None:
                    tag, score = continued_tag(seq_tags[cover]), seq_scores[cover]
                elif row is None:  # a word the tokenizer dropped (e.g. a control character)
                    tag, score = "O", 1.0
                else:
                    tag, score = self.labels[int(row[0])], float(row[1])
                if tag.startswith("I-") and previous[2:] != tag[2:]:
                    tag = "B-" + tag[2:]
                seq_tags.append(tag)
                seq_scores.append(score)
                previous = tag
            tags.append(seq_tags)
            scores.append(seq_scores)
        return tags, scores

    def metrics(self, encoded: NerEncoded, items: Sequence[np.ndarray]) -> dict[str, Any]:
        predicted, _ = self._word_tags(encoded, items)
        gold = [seq.tags or [] for seq in encoded.sequences]  # scored data is tagged (read_file checks)
        words = [seq.words for seq in encoded.sequences]
        return ner_metrics(gold, predicted, texts=words)

    def scorer(self, encoded: NerEncoded) -> ItemScorer:
        # windows of one sentence are merged at the end, so every window's (tag, score) rows are kept
        return ItemScorer(lambda items: self.metrics(encoded, items), len(encoded))

    def agreement(self, encoded: NerEncoded, a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> tuple[int, int, str]:
        pairs = [
            (x, y)
            for s1, s2 in zip(word_outputs(encoded, a), word_outputs(encoded, b))
            for x, y in zip(s1, s2)
            if x is not None and y is not None
        ]
        return sum(1 for x, y in pairs if x[0] == y[0]), len(pairs), "words"

    def read_file(self, path: str | Path, meta: Any, *, require_labels: bool = True, **_: Any) -> list[NerExample]:
        """Read with the format, columns and tag scheme the model was trained on."""
        cfg = meta.data_config
        fmt = cfg.get("format", "auto")
        examples = read_ner_file(
            path,
            format=fmt if fmt in ("conll", "jsonl", "cluener") else "auto",
            scheme=cfg.get("tag_scheme", "auto"),
            repair=cfg.get("repair_tags", False),
            token_column=cfg.get("token_column", 0),
            tag_column=cfg.get("tag_column", -1),
            encoding=cfg.get("encoding", "utf-8"),
            require_labels=require_labels,
        ).examples
        if require_labels and any(ex.tags is None and ex.spans is None for ex in examples):
            raise DataError("this file has no tags or entities to score against", path)
        return examples

    def check_known(self, examples: Sequence[NerExample], where: str) -> None:
        check_known_types(list(examples), self.types, where)

    def check_facts(self, parts: dict[str, Sequence[NerExample]], splits: NerSplits) -> CheckFacts:
        """Sentences compared by their words (or text), labelled by their tags (or entities); each
        entity counts towards its type. Facts: the scheme read, tags repaired while reading, and per
        split the sentences, entities and sentences without any."""
        items = {name: [_check_item(ex) for ex in examples] for name, examples in parts.items()}
        counts = {
            name: {
                "sentences": len(examples),
                "entities": sum(len(ex.entities()) for ex in examples),
                "without_entities": sum(1 for ex in examples if not ex.entities()),
            }
            for name, examples in parts.items()
            if examples
        }
        warnings = []
        if splits.repairs:
            warnings.append(
                f"{splits.repairs} invalid tags or overlapping spans were repaired while reading (data.repair_tags): "
                "check the tag sequences in the files"
            )
        return CheckFacts(
            items=items,
            classes=list(self.types),
            class_noun="entity type",
            class_unit="entities",
            imbalance_hint="set task.class_weights: balanced, or add sentences with the rare entity types",
            truncates=False,  # a long sentence becomes overlapping windows
            facts={"format": splits.format, "tag_scheme": splits.scheme, "repairs": splits.repairs, "splits": counts},
            tables=[
                (
                    f"sentences ({splits.format}, {splits.scheme} tags)",
                    ["split", "sentences", "entities", "without entities"],
                    [[name, *(str(v) for v in c.values())] for name, c in counts.items()],
                )
            ],
            warnings=warnings,
        )

    def augment(self, examples: Sequence[NerExample], augmenter: Any) -> list[Any]:
        """Span-aware: mention and label-wise token replacement, text ops on O tokens only (tags stay aligned)."""
        from tunelab.tasks.token_classification.augment import augment_ner

        return augment_ner(examples, augmenter)

    def perturb(self, examples: Sequence[NerExample], augmenter: Any) -> list[NerExample]:
        """Character noise inside tokens (typos, case, punctuation): every token keeps its tag."""
        from tunelab.tasks.token_classification.augment import perturb_ner

        return perturb_ner(examples, augmenter)

    def make_examples(self, texts: Any = None, text_pairs: Any = None, tokens: Any = None) -> list[NerExample]:
        if text_pairs is not None:
            raise InputError("this model tags single texts, not text pairs: leave out the second texts")
        if tokens is not None:
            return [NerExample(tokens=tuple(t), tags=None) for t in tokens]
        if texts is None:
            raise InputError("pass texts (strings) or tokens (lists of strings)")
        if isinstance(texts, str):
            texts = [texts]
        return [NerExample(tokens=(), tags=None, text=t) for t in texts]

    def entities(self, encoded: NerEncoded, items: Sequence[np.ndarray]) -> list[list[dict[str, Any]]]:
        all_tags, all_scores = self._word_tags(encoded, items)
        result = []
        for seq, tags, scores in zip(encoded.sequences, all_tags, all_scores):
            found = []
            for type_, first, end in entities_from_iob2(tags):
                start, stop = seq.offsets[first][0], seq.offsets[end - 1][1]
                entity = {
                    "text": seq.text[start:stop],
                    "type": type_,
                    "start": start,
                    "end": stop,
                    "score": round(float(np.mean(scores[first:end])), 6),
                }
                if seq.tokens_given:
                    entity.update(token_start=first, token_end=end)
                found.append(entity)
            result.append(found)
        return result

    def predictions(self, encoded: NerEncoded, items: Sequence[np.ndarray]) -> list[list[dict[str, Any]]]:
        return self.entities(encoded, items)

    def prediction_records(self, encoded: NerEncoded, items: Sequence[np.ndarray], *, top_k: int = 1) -> list[dict]:
        records = []
        for seq, entities in zip(encoded.sequences, self.entities(encoded, items)):
            record: dict[str, Any] = {"text": seq.text, "entities": entities}
            if seq.tokens_given:
                record["tokens"] = seq.words
            records.append(record)
        return records

    # -- presentation --------------------------------------------------------------------------
    def record_table(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        return ["text", "entities"], [[r["text"], json.dumps(r["entities"], ensure_ascii=False)] for r in records]

    def terminal_rows(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        return ["text", "entities"], [
            [
                r["text"],
                "\n".join(
                    f"{e['type']}: {e['text']} [{e['start']}, {e['end']}) {e['score']:.3f}" for e in r["entities"]
                )
                or "-",
            ]
            for r in records
        ]

    def print_report(self, metrics: dict[str, Any], console: Console | None, title: str) -> None:
        print_ner_report(metrics, console=console, title=title)

    def write_plots(self, directory: Path, report: dict[str, Any]) -> list[Path]:
        """per_type_f1.png and ner_errors.png (errors per type and kind, the most frequent ones)."""
        split = (report.get("evaluated_on") or {}).get("split", "dev")
        return write_ner_plots(directory, report.get("metrics") or {}, split=split)

    def worst_errors(self, encoded: EncodedDataset, limit: int) -> SentenceErrors:
        """The sentences with the most entity errors (the HTML report's worst errors)."""
        return SentenceErrors(self, encoded, limit)

    def card_summary(self) -> str:
        return f"{len(self.types)} entity types: " + shown_names(self.types)

    def card_limitations(self, max_length: int) -> list[str]:
        return [
            f"Sentences longer than {max_length} tokens are read in overlapping windows of whole words, never cut.",
            f"It finds only the {len(self.types)} entity types it was trained on.",
        ]
