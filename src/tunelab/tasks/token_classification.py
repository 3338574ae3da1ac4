"""Token classification (NER): IOB2 tags on words, entities with character offsets."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from transformers import AutoModelForTokenClassification, PreTrainedModel, PreTrainedTokenizerBase

from tunelab.config import DataConfig, ModelConfig, TokenClassificationConfig
from tunelab.data.batching import IGNORE_INDEX
from tunelab.data.ner_encoding import (
    NerEncoded, continued_tag, covering_words, encode_words, to_words, word_outputs,
)
from tunelab.data.ner_example import NerExample
from tunelab.data.ner_loading import NerSplits, check_known_types, entity_types, load_ner_splits
from tunelab.data.ner_readers import read_ner_file
from tunelab.data.tags import entities_from_iob2
from tunelab.errors import ConfigError, DataError
from tunelab.evaluation.ner import METRIC_DIRECTIONS_NER, ner_metrics
from tunelab.models.resolve import ResolvedModel
from tunelab.registry import TASKS
from tunelab.tasks.backbone import head_modules, load_with_head


class TokenCrossEntropy(torch.nn.Module):
    """Cross-entropy over every labelled sub-word of (batch, tokens, tags) logits."""

    def __init__(self, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.loss = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE_INDEX)

    @property
    def weight(self) -> torch.Tensor | None:
        return self.loss.weight

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def iob2_tags(types: Sequence[str]) -> list[str]:
    return ["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]


@TASKS.register("token_classification")
class TokenClassificationTask:
    name = "token_classification"
    model_class = AutoModelForTokenClassification
    default_metric = "f1"
    metric_directions = METRIC_DIRECTIONS_NER

    def __init__(self, config: TokenClassificationConfig, types: Sequence[str]) -> None:
        if not types:
            raise ConfigError("token classification needs at least one entity type")
        self.config = config
        self.types = list(types)
        self.labels = iob2_tags(self.types)
        self.tag2id = {tag: i for i, tag in enumerate(self.labels)}

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def read_splits(data_config: DataConfig, config: TokenClassificationConfig) -> NerSplits:
        return load_ner_splits(data_config)

    @classmethod
    def from_examples(cls, config: TokenClassificationConfig, train: Sequence[NerExample]) -> "TokenClassificationTask":
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
    def from_state(cls, config: TokenClassificationConfig, state: dict[str, Any]) -> "TokenClassificationTask":
        return cls(config, state["entity_types"])

    def state(self) -> dict[str, Any]:
        return {"labels": self.labels, "entity_types": self.types, "scheme": "iob2"}

    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel:
        return load_with_head(
            self.model_class, resolved, model_config, kind="token", num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)), label2id=dict(self.tag2id),
        )

    def head_modules(self, model: PreTrainedModel) -> list[str]:
        return head_modules(model)

    # -- data ----------------------------------------------------------------------------------
    def encode(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[NerExample], max_length: int) -> NerEncoded:
        sequences = [to_words(ex) for ex in examples]
        labelled = bool(sequences) and all(seq.tags is not None for seq in sequences)
        encoded = encode_words(
            tokenizer, sequences, self.tag2id if labelled else None, max_length=max_length,
            overlap=self.config.window_overlap, label_all_subwords=self.config.label_all_subwords,
        )
        encoded.examples = list(examples)
        return encoded

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

    def loss_fn(self, train: Sequence[NerExample]) -> torch.nn.Module:
        weights = self.class_weights(train)
        return TokenCrossEntropy(torch.tensor(weights, dtype=torch.float32) if weights is not None else None)

    # -- outputs -------------------------------------------------------------------------------
    def _word_tags(self, encoded: NerEncoded, outputs: Sequence[np.ndarray]) -> tuple[list[list[str]], list[list[float]]]:
        """Predicted IOB2 tags per word (made valid: an I- that continues nothing starts an entity)
        and each word's probability of its tag. A word inside a piece that started in an earlier
        word (offsets alignment: "国" of the piece "中国") continues that word: I-X after B-X or
        I-X, O after O, with its score."""
        tags, scores = [], []
        for rows, covers in zip(word_outputs(encoded, outputs), covering_words(encoded)):
            seq_tags, seq_scores, previous = [], [], "O"
            for row, cover in zip(rows, covers):
                if row is None and cover is not None:
                    tag, score = continued_tag(seq_tags[cover]), seq_scores[cover]
                elif row is None:  # a word the tokenizer dropped (e.g. a control character)
                    tag, score = "O", 1.0
                else:
                    shifted = np.exp(row - row.max())
                    probs = shifted / shifted.sum()
                    best = int(probs.argmax())
                    tag, score = self.labels[best], float(probs[best])
                if tag.startswith("I-") and previous[2:] != tag[2:]:
                    tag = "B-" + tag[2:]
                seq_tags.append(tag)
                seq_scores.append(score)
                previous = tag
            tags.append(seq_tags)
            scores.append(seq_scores)
        return tags, scores

    def score(self, encoded: NerEncoded, outputs: Sequence[np.ndarray]) -> dict[str, Any]:
        predicted, _ = self._word_tags(encoded, outputs)
        gold = [seq.tags for seq in encoded.sequences]
        words = [seq.words for seq in encoded.sequences]
        return ner_metrics(gold, predicted, texts=words)

    def read_file(self, path, meta: dict[str, Any], *, require_labels: bool = True, **columns: Any) -> list[NerExample]:
        """Read with the format, columns and tag scheme the model was trained on."""
        cfg = meta["config"]["data"]
        fmt = cfg.get("format", "auto")
        examples = read_ner_file(
            path, format=fmt if fmt in ("conll", "jsonl", "cluener") else "auto", scheme=cfg.get("tag_scheme", "auto"),
            repair=cfg.get("repair_tags", False), token_column=cfg.get("token_column", 0),
            tag_column=cfg.get("tag_column", -1), encoding=cfg.get("encoding", "utf-8"),
        ).examples
        if require_labels and any(ex.tags is None and ex.spans is None for ex in examples):
            raise DataError("this file has no tags or entities to score against", path)
        return examples

    def check_known(self, examples: Sequence[NerExample], where: str) -> None:
        check_known_types(list(examples), self.types, where)

    @staticmethod
    def make_examples(texts=None, text_pairs=None, tokens=None) -> list[NerExample]:
        if text_pairs is not None:
            raise ValueError("token classification takes single texts, not pairs")
        if tokens is not None:
            return [NerExample(tokens=tuple(t), tags=None) for t in tokens]
        if texts is None:
            raise ValueError("pass texts (strings) or tokens (lists of strings)")
        if isinstance(texts, str):
            texts = [texts]
        return [NerExample(tokens=(), tags=None, text=t) for t in texts]

    def entities(self, encoded: NerEncoded, outputs: Sequence[np.ndarray]) -> list[list[dict[str, Any]]]:
        all_tags, all_scores = self._word_tags(encoded, outputs)
        result = []
        for seq, tags, scores in zip(encoded.sequences, all_tags, all_scores):
            found = []
            for type_, first, end in entities_from_iob2(tags):
                start, stop = seq.offsets[first][0], seq.offsets[end - 1][1]
                entity = {"text": seq.text[start:stop], "type": type_, "start": start, "end": stop,
                          "score": round(float(np.mean(scores[first:end])), 6)}
                if seq.tokens_given:
                    entity.update(token_start=first, token_end=end)
                found.append(entity)
            result.append(found)
        return result

    def predictions(self, encoded: NerEncoded, outputs: Sequence[np.ndarray]) -> list[list[dict[str, Any]]]:
        return self.entities(encoded, outputs)

    def prediction_records(self, encoded: NerEncoded, outputs: Sequence[np.ndarray], *, top_k: int = 1) -> list[dict]:
        records = []
        for seq, entities in zip(encoded.sequences, self.entities(encoded, outputs)):
            record: dict[str, Any] = {"text": seq.text, "entities": entities}
            if seq.tokens_given:
                record["tokens"] = seq.words
            records.append(record)
        return records
