"""Relation extraction on a decoder (a tiny random Gemma 3 with a SentencePiece-style tokenizer)
and with LoRA (only the trained weights stored: the marker rows are rebuilt identically)."""

from __future__ import annotations

import random

import pytest
from rich.console import Console
from transformers import AutoTokenizer

import tunelab
from helpers import PEOPLE, PLACES, build_tiny_decoder, tiny_overrides
from tunelab.artifact import read_meta
from tunelab.config import load_config
from tunelab.tasks.relation_extraction.example import Entity, RelationExample
from tunelab.tasks.relation_extraction.markers import add_markers, encode_relations, marker_tokens
from tunelab.workflow.train import train

QUIET = Console(quiet=True)


def write_semeval(path, n: int, seed: int):
    """Toy SemEval blocks: person e1 + place e2 one direction, the reverse the other, else Other."""
    rng, blocks = random.Random(seed), []
    for i in range(n):
        a_person, b_person = rng.random() < 0.5, rng.random() < 0.5
        a, b = rng.choice(PEOPLE if a_person else PLACES), rng.choice(PEOPLE if b_person else PLACES)
        label = "Other" if a_person == b_person else f"Entity-Origin({'e1,e2' if a_person else 'e2,e1'})"
        blocks.append(f'{i + 1}\t"the <e1>{a}</e1> is <e2>{b}</e2> today"\r\n{label}\r\nComment:\r\n\r\n')
    path.write_bytes("".join(blocks).encode("utf-8"))
    return path


TEXTS = ["my <e1>john</e1> is <e2>paris</e2>", "the <e1>rome</e1> was <e2>laura</e2> today"]


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory):
    return build_tiny_decoder(tmp_path_factory.mktemp("gemma"), tokenizer_style="metaspace")


def test_decoder_positions_and_cls_reads_the_last_token(gemma_dir):
    tokenizer = AutoTokenizer.from_pretrained(gemma_dir)
    add_markers(tokenizer, marker_tokens(None))
    ex = RelationExample("john met mary", Entity(0, 4), Entity(9, 13))
    enc = encode_relations(tokenizer, [ex], max_length=64, typed=False, representation="entity_start", label2id=None)
    tokens = tokenizer.convert_ids_to_tokens(enc.input_ids[0])
    assert [tokens[p] for p in enc.entity_positions[0]] == ["<e1>", "<e2>"]
    cls = encode_relations(tokenizer, [ex], max_length=64, typed=False, representation="cls", label2id=None)
    assert tokenizer.cls_token_id is None and cls.entity_positions[0] == [len(cls.input_ids[0]) - 1]


@pytest.mark.train
def test_trains_on_a_decoder_and_reloads(gemma_dir, tmp_path):
    data = {"train": write_semeval(tmp_path / "T.TXT", 90, 1), "dev": write_semeval(tmp_path / "D.TXT", 30, 2)}
    overrides = tiny_overrides(gemma_dir, data, **{"task.name": "relation_extraction", "training.epochs": 1})
    result = train(load_config(None, overrides), output_dir=tmp_path / "model", console=QUIET)
    assert 0.0 <= result.report["metrics"]["official_f1"] <= 1.0
    assert read_meta(result.output_dir).model.architecture == "TunelabForPositionClassification"
    predictor = tunelab.load(result.output_dir)
    first = predictor.predict_scores(TEXTS)
    assert tunelab.load(result.output_dir).predict_scores(TEXTS) == first


@pytest.mark.train
def test_lora_artifact_rebuilds_the_marker_rows(tiny_model_dir, tmp_path):
    data = {"train": write_semeval(tmp_path / "T.TXT", 90, 1), "dev": write_semeval(tmp_path / "D.TXT", 30, 2)}
    overrides = tiny_overrides(
        tiny_model_dir,
        data,
        **{"task.name": "relation_extraction", "training.epochs": 1, "method.name": "lora", "method.r": 4},
    )
    result = train(load_config(None, overrides), output_dir=tmp_path / "model", console=QUIET)
    meta = read_meta(result.output_dir)
    assert meta.method.stored == "trained_weights"
    first = tunelab.load(result.output_dir).predict_scores(TEXTS)
    again = tunelab.load(result.output_dir).predict_scores(TEXTS)
    assert again == first
    # the reloaded model scores dev as the report did
    assert tunelab.load(result.output_dir).evaluate(tunelab.load(result.output_dir).task.read_file(data["dev"], meta))[
        "official_f1"
    ] == pytest.approx(result.report["metrics"]["official_f1"])
