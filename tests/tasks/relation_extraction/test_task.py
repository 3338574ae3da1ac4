"""The relation extraction task without training: labels, the no-relation label and the SemEval
scorer detected from train, state, raw input (inline markers, offsets), typed markers, the model's
position head with marker embeddings, the collator and loss, the template and the example config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoTokenizer
from typer.testing import CliRunner

from tunelab.cli.app import app
from tunelab.config import ModelConfig, load_config, validate_config
from tunelab.errors import ConfigError, DataError, InputError
from tunelab.models.heads import TunelabForPositionClassification
from tunelab.models.resolve import resolve_model
from tunelab.tasks.relation_extraction.config import RelationExtractionConfig
from tunelab.tasks.relation_extraction.data import load_relation_splits
from tunelab.tasks.relation_extraction.example import Entity, RelationExample
from tunelab.tasks.relation_extraction.task import RelationExtractionTask

REPO = Path(__file__).parents[3]
CE12, CE21 = "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)"


def ex(label, head=Entity(0, 4), tail=Entity(9, 13), text="john met mary", **kw):
    return RelationExample(text, head, tail, label, **kw)


def task_for(labels, **config):
    return RelationExtractionTask.from_examples(RelationExtractionConfig(**config), [ex(label) for label in labels])


def test_labels_scorer_and_no_relation_from_train():
    task = task_for([CE21, "Other", CE12])
    assert task.labels == [CE12, CE21, "Other"] and task.no_relation == "Other"
    assert task.semeval and task.default_metric == "official_f1" and "official_f1" in task.metric_directions
    generic = task_for(["born_in", "NA", "works_for"])
    assert generic.no_relation == "NA" and not generic.semeval and generic.default_metric == "micro_f1"
    assert "official_f1" not in generic.metric_directions
    assert task_for(["a", "b"], no_relation="b").no_relation == "b"
    assert task_for(["a", "Other"], no_relation=None).no_relation is None
    assert task_for(["a", "b"], scorer="semeval2010_task8").semeval
    assert not task_for([CE12, "Other"], scorer="standard").semeval
    with pytest.raises(ConfigError, match="task.no_relation 'none' is not a label"):
        task_for(["a", "b"], no_relation="none")
    with pytest.raises(DataError, match="at least two labels"):
        task_for(["a", "a"])


def test_state_round_trip():
    train = [ex("r1", Entity(0, 4, "PER"), Entity(9, 13, "PER")), ex("r2", Entity(0, 4, "PER"), Entity(9, 13, "ORG"))]
    task = RelationExtractionTask.from_examples(RelationExtractionConfig(), train)
    assert task.typed and task.types == ["ORG", "PER"] and "<e1:ORG>" in task.markers
    again = RelationExtractionTask.from_state(RelationExtractionConfig(), task.state())
    assert again.state() == task.state() and again.markers == task.markers


def test_typed_markers_need_types():
    train = [ex("r1", Entity(0, 4, "PER")), ex("r2")]
    assert not RelationExtractionTask.from_examples(RelationExtractionConfig(), train).typed
    with pytest.raises(DataError, match="has no type") as err:
        RelationExtractionTask.from_examples(
            RelationExtractionConfig(typed_markers=True), [ex("r1", Entity(0, 4, "PER"), source="t", line=2), ex("r2")]
        )
    assert (err.value.line, err.value.field) == (2, "tail")


def test_raw_input_inline_and_offsets():
    task = task_for(["a", "b"])
    inline, as_json, as_dict = task.make_examples(
        [
            "The <e1>fire</e1> was caused by a <e2>heater</e2>.",
            '{"text": "Bill founded Microsoft.", "head": {"start": 0, "end": 4}, "tail": {"start": 13, "end": 22}}',
            {"text": "Bill founded Microsoft.", "head": {"start": 13, "end": 22}, "tail": {"start": 0, "end": 4}},
        ]
    )
    assert inline.text == "The fire was caused by a heater." and inline.head == Entity(4, 8)
    assert as_json.head == Entity(0, 4) and as_dict.head == Entity(13, 22)
    with pytest.raises(InputError, match="text 1.*no <e2>"):
        task.make_examples(["<e1>fire</e1> only"])
    with pytest.raises(InputError, match=r"text 1 \(head\).*out of range"):
        task.make_examples([{"text": "ab", "head": {"start": 0, "end": 9}, "tail": {"start": 0, "end": 1}}])
    with pytest.raises(InputError, match="not valid JSON"):
        task.make_examples(["{text"])
    with pytest.raises(InputError, match="not text pairs"):
        task.make_examples(["<e1>a</e1> <e2>b</e2>"], text_pairs=["x"])


def test_typed_model_refuses_untyped_or_unknown_types():
    train = [ex("r1", Entity(0, 4, "PER"), Entity(9, 13, "LOC")), ex("r2", Entity(0, 4, "PER"), Entity(9, 13, "PER"))]
    task = RelationExtractionTask.from_examples(RelationExtractionConfig(), train)
    assert task.make_examples(["<e1:PER>john</e1> in <e2:LOC>paris</e2>"])[0].tail.type == "LOC"
    with pytest.raises(InputError, match="has no type.*typed markers"):
        task.make_examples(["<e1>john</e1> in <e2>paris</e2>"])
    with pytest.raises(DataError, match="type 'ORG', unknown") as err:
        task.check_known([ex("r1", Entity(0, 4, "PER"), Entity(9, 13, "ORG"), source="dev.jsonl", line=4)], "dev")
    assert (err.value.line, err.value.field) == (4, "tail")


def test_check_known_labels():
    task = task_for(["a", "b"])
    with pytest.raises(DataError, match="relation 'c' in dev is not one the model knows") as err:
        task.check_known([ex("c", source="dev.txt", line=9)], "dev")
    assert (err.value.line, err.value.field) == (9, "relation")


def test_model_reads_marker_positions(tiny_model_dir):
    task = task_for([CE12, CE21, "Other"])
    resolved = resolve_model(str(tiny_model_dir))
    model = task.build_model(resolved, ModelConfig(name=str(tiny_model_dir)))
    assert isinstance(model, TunelabForPositionClassification)
    assert model.classifier.in_features == 2 * 32 and model.classifier.out_features == 3
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoTokenizer.from_pretrained(tiny_model_dir)
    encoded = task.encode(tokenizer, [ex(CE12), ex("Other", text="john saw a cat", tail=Entity(11, 14))], 64)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    # a marker starts at the mean embedding of its pieces under the base tokenizer
    weight = model.get_input_embeddings().weight
    pieces = base("<e1>", add_special_tokens=False)["input_ids"]
    assert torch.allclose(weight[tokenizer.convert_tokens_to_ids("<e1>")], weight[pieces].mean(dim=0))
    batch = task.collator(tokenizer.pad_token_id)([encoded[0], encoded[1]])
    assert batch["entity_positions"].dtype == torch.long and batch["entity_positions"].shape == (2, 2)
    assert batch["labels"].tolist() == [0, 2]
    model.eval()
    inputs = {k: batch[k] for k in task.input_names if k in batch}
    outputs = task.outputs(model(**inputs))
    assert outputs["logits"].shape == (2, 3)
    loss = task.loss_fn([])(outputs, {"labels": batch["labels"]})
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(outputs["logits"], batch["labels"]).item())
    # the relation depends on which entity is e1: swapping them changes the features read
    swapped = task.encode(tokenizer, [ex(CE12, head=Entity(9, 13), tail=Entity(0, 4))], 64)
    batch2 = task.collator(0)([swapped[0]])
    other = task.outputs(model(**{k: batch2[k] for k in task.input_names if k in batch2}))["logits"]
    assert not torch.allclose(other[0], outputs["logits"][0])
    items = task.decode_batch(encoded, [0, 1], {"logits": outputs["logits"].detach().numpy()})
    assert np.allclose([p.sum() for p in items], 1.0)
    with pytest.raises(ValueError, match="entity_positions"):
        model(input_ids=batch["input_ids"])


def test_augmentation_is_refused():
    with pytest.raises(ConfigError, match="entity spans"):
        task_for(["a", "b"]).augment([], None)


def test_init_prints_a_valid_config():
    result = CliRunner().invoke(app, ["init", "re"])
    assert result.exit_code == 0, result.output
    raw = yaml.safe_load(result.output)
    config = validate_config(raw)
    assert config.task.name == "relation_extraction" and config.task.representation == "entity_start"


def test_shipped_semeval_config_and_data():
    config = load_config(REPO / "examples" / "semeval.yaml")
    assert config.training.metric == "official_f1" and config.task.scorer == "auto"
    splits = load_relation_splits(config.data)
    assert (len(splits.train), len(splits.dev), splits.format) == (7201, 799, "semeval")
    task = RelationExtractionTask.from_examples(config.task, splits.train)
    assert task.semeval and len(task.labels) == 19 and task.no_relation == "Other"
    ids = {ex.id for ex in splits.train} | {ex.id for ex in splits.dev}
    assert len(ids) == 8000
    assert (REPO / "data" / "semeval2010_task8" / "LICENSE").is_file()


def test_other_tasks_keys_are_refused():
    with pytest.raises(ConfigError):
        load_config(None, ["task.name=relation_extraction", "data.train=x.txt", "data.tag_scheme=bio"])
