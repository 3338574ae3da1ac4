import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from tunelab.config import ModelConfig
from tunelab.data import Example
from tunelab.errors import ConfigError, DataError
from tunelab.models import resolve_model
from tunelab.tasks import build_task
from tunelab.tasks.text_classification.config import TextClassificationConfig as TaskConfig


def examples(labels):
    return [Example(text=f"text {i}", label=label, source="t.csv", line=i + 2) for i, label in enumerate(labels)]


def test_labels_detected_in_order_and_explicit_order_kept():
    train = examples(["b", "a", "c", "a"])
    assert build_task(TaskConfig(), train).labels == ["a", "b", "c"]
    assert build_task(TaskConfig(labels=["c", "b", "a"]), train).labels == ["c", "b", "a"]


def test_explicit_labels_must_cover_train():
    with pytest.raises(DataError, match="'c'"):
        build_task(TaskConfig(labels=["a", "b"]), examples(["a", "b", "c"]))


def test_one_label_is_refused():
    with pytest.raises(ConfigError, match="at least 2 labels"):
        build_task(TaskConfig(), examples(["a", "a"]))


def test_balanced_class_weights_match_sklearn_formula():
    train = examples(["a"] * 6 + ["b"] * 2)
    task = build_task(TaskConfig(class_weights="balanced"), train)
    # n / (k * count): 8 / (2 * 6) and 8 / (2 * 2)
    assert task.class_weights(train) == pytest.approx([8 / 12, 8 / 4])
    loss = task.loss_fn(train)
    assert torch.allclose(loss.weight, torch.tensor([8 / 12, 2.0]))


def test_explicit_class_weights_default_to_one():
    train = examples(["a", "b", "c"])
    task = build_task(TaskConfig(class_weights={"c": 3.0}), train)
    assert task.class_weights(train) == [1.0, 1.0, 3.0]
    with pytest.raises(ConfigError, match="not in the data"):
        build_task(TaskConfig(class_weights={"zzz": 3.0}), train)


def test_multi_label_targets_weights_and_decoding():
    train = [
        Example("x", label=("a", "b")),
        Example("y", label=("b",)),
        Example("z", label=()),
        Example("w", label=("b",)),
    ]
    task = build_task(TaskConfig(multi_label=True, class_weights="balanced", threshold=0.6), train)
    assert task.labels == ["a", "b"]
    assert task.targets(train).tolist() == [[1, 1], [0, 1], [0, 0], [0, 1]]
    assert task.class_weights(train) == pytest.approx([3.0, 1 / 3])
    assert isinstance(task.loss_fn(train).loss, torch.nn.BCEWithLogitsLoss)
    logits = np.array([[0.0, 2.0], [1.0, -3.0]])  # sigmoid 0.5/0.88 and 0.73/0.05
    assert task.decode(task.probabilities(logits)).tolist() == [[0, 1], [1, 0]]
    batch = task.collator(0)([{"input_ids": [1], "labels": [1, 0], "index": 0}])
    assert batch["labels"].dtype == torch.float32  # BCE targets


def test_softmax_probabilities_sum_to_one():
    task = build_task(TaskConfig(), examples(["a", "b", "c"]))
    probs = task.probabilities(np.array([[1000.0, 0.0, -5.0], [0.1, 0.2, 0.3]]))
    assert np.allclose(probs.sum(axis=1), 1.0) and probs[0, 0] == pytest.approx(1.0)


def test_model_has_named_labels_dropout_and_a_declared_head(tiny_model_dir):
    task = build_task(TaskConfig(), examples(["neg", "pos"]))
    model = task.build_model(resolve_model(str(tiny_model_dir)), ModelConfig(name=str(tiny_model_dir), dropout=0.0))
    assert model.config.id2label == {0: "neg", 1: "pos"}
    assert model.config.hidden_dropout_prob == 0.0 and model.config.attention_probs_dropout_prob == 0.0
    assert task.head_modules(model) == ["dropout", "classifier"]


def test_encoding_counts_truncation_and_keeps_pairs(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    task = build_task(TaskConfig(), examples(["a", "b"]))
    data = [Example("short text", label="a"), Example(" ".join(["word"] * 50), label="b")]
    enc = task.encode(tokenizer, data, max_length=16)
    assert enc.num_truncated == 1
    assert enc.lengths == [4, 16]
    assert enc.input_ids[1][-1] == tokenizer.sep_token_id
    assert enc.labels == [0, 1]
    pairs = [Example("first part", text_pair="second part", label="a")]
    enc = task.encode(tokenizer, pairs, max_length=32)
    assert enc.token_type_ids[0].count(1) == 3  # "second", "part", [SEP]
    unlabelled = task.encode(tokenizer, [Example("no label")], max_length=16)
    assert unlabelled.labels is None
