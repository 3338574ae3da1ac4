"""Span-aware NER augmentation and NER perturbation: tags stay aligned and valid, entities are
only replaced by entities of their type, perturbed tokens keep their count and tags."""

from __future__ import annotations

import random

import pytest

from helpers import make_ner_sentences, make_zh_ner_sentences
from tunelab.augment import Augmenter
from tunelab.augment.spans import Pools, mentions, valid_iob2
from tunelab.errors import InputError
from tunelab.tasks.token_classification.augment import augment_ner, perturb_ner
from tunelab.tasks.token_classification.config import TokenClassificationConfig
from tunelab.tasks.token_classification.example import NerExample, Span
from tunelab.tasks.token_classification.task import TokenClassificationTask

ALL_NER_OPS = ["mention_replace", "token_replace", "eda", "synonym", "swap", "delete", "insert", "typos", "case"]
ALL_NER_OPS.append("punctuation")


def examples(sentences) -> list[NerExample]:
    return [
        NerExample(tokens=tuple(w for w, _ in s), tags=tuple(t for _, t in s), line=i + 1)
        for i, s in enumerate(sentences)
    ]


def english() -> list[NerExample]:
    extra = [
        NerExample(
            tokens=("Visit", "New", "York", "City", ",", "please", "."),
            tags=("O", "B-LOC", "I-LOC", "I-LOC", "O", "O", "O"),
            line=101,
        ),
        NerExample(tokens=("John",), tags=("B-PER",), line=102),
        NerExample(tokens=("Paris", "London"), tags=("B-LOC", "B-LOC"), line=103),
    ]
    return examples(make_ner_sentences(40, seed=5)) + extra


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_op_keeps_tags_aligned_and_valid_over_many_seeds(language):
    data = english() if language == "en" else examples(make_zh_ner_sentences(40, seed=5))
    task = TokenClassificationTask(TokenClassificationConfig(), ["LOC", "PER"])
    total = 0
    for seed in range(12):
        augmenter = Augmenter(ALL_NER_OPS, p=random.Random(seed).choice([0.1, 0.3, 0.6]), language=language, seed=seed)
        added = task.augment(data, augmenter)
        total += len(added)
        for item in added:
            ex = item.example
            assert len(ex.tokens) == len(ex.tags) and ex.tokens and all(ex.tokens), item
            assert valid_iob2(ex.tags), item
    assert total > 12 * len(data)  # most ops change most sentences


def test_text_ops_leave_every_entity_as_it_was():
    data = english()
    for seed in range(8):
        augmenter = Augmenter(
            ["eda", "synonym", "insert", "delete", "swap", "typos", "case", "punctuation"], p=0.5, seed=seed
        )
        for item in augment_ner(data, augmenter):
            ex = item.example
            (original,) = [e for e in data if e.line == ex.line]
            got = [(t, ex.tokens[a:b]) for t, a, b in mentions(ex.tags)]
            assert got == [(t, original.tokens[a:b]) for t, a, b in mentions(original.tags)], item


def test_mention_replace_uses_mentions_of_the_same_type():
    data = english()
    pools = Pools([(list(e.tokens), list(e.tags)) for e in data])
    assert {"LOC", "PER"} == set(pools.mentions) and ("New", "York", "City") in pools.mentions["LOC"]
    lengths = set()
    for seed in range(10):
        for item in augment_ner(data, Augmenter(["mention_replace"], p=0.5, seed=seed)):
            for type_, a, b in mentions(item.example.tags):
                assert tuple(item.example.tokens[a:b]) in pools.mentions[type_]
                lengths.add(b - a)
    assert {1, 2, 3} <= lengths  # B- then I- for every length, whatever the length replaced


def test_token_replace_keeps_the_tag_sequence():
    data = english()
    pools = Pools([(list(e.tokens), list(e.tags)) for e in data])
    for item in augment_ner(data, Augmenter(["token_replace"], p=0.3, seed=2)):
        ex = item.example
        (original,) = [e for e in data if e.line == ex.line]
        assert ex.tags == original.tags and ex.tokens != original.tokens
        assert all(tok in pools.tokens[tag] for tok, tag in zip(ex.tokens, ex.tags))


def test_ner_augmentation_is_deterministic():
    data = english()
    augmenter = Augmenter(["mention_replace", "eda"], copies=2, p=0.3, seed=9)
    assert augment_ner(data, augmenter) == augment_ner(
        data, Augmenter(["mention_replace", "eda"], copies=2, p=0.3, seed=9)
    )
    assert augment_ner(data, augmenter) != augment_ner(
        data, Augmenter(["mention_replace", "eda"], copies=2, p=0.3, seed=8)
    )


def test_chinese_character_corpus_is_edited_word_by_word():
    data = examples(make_zh_ner_sentences(30, seed=1))
    added = augment_ner(data, Augmenter(["synonym", "insert"], p=0.5, language="zh", seed=0))
    assert added
    for item in added:
        ex = item.example
        assert all(len(t) == 1 for t in ex.tokens)  # still one character a token
        assert valid_iob2(ex.tags)


def test_text_based_examples_keep_their_spans_on_the_entity_text():
    text = "Peter Pan flew to Rome, quickly."
    data = [
        NerExample(tokens=(), tags=None, text=text, spans=(Span(0, 9, "PER"), Span(18, 22, "LOC"))),
        NerExample(tokens=(), tags=None, text="Mary saw Tokyo", spans=(Span(0, 4, "PER"), Span(9, 14, "LOC"))),
    ]
    names = {"PER": {"Peter Pan", "Mary"}, "LOC": {"Rome", "Tokyo"}}
    for seed in range(6):
        for item in augment_ner(data, Augmenter(["mention_replace", "eda", "typos"], p=0.4, seed=seed)):
            ex = item.example
            assert ex.text is not None and ex.spans
            assert all(ex.text[s.start : s.end] in names[s.type] for s in ex.spans), item


def test_perturbation_keeps_token_count_and_tags_and_changes_entities_too():
    data = english()
    augmenter = Augmenter(["typos", "case", "punctuation"], p=0.5, seed=1)
    perturbed = perturb_ner(data, augmenter)
    assert [len(e.tokens) for e in perturbed] == [len(e.tokens) for e in data]
    assert [e.tags for e in perturbed] == [e.tags for e in data]
    assert all(all(t for t in e.tokens) for e in perturbed)
    changed_entities = sum(
        p.tokens[a:b] != o.tokens[a:b] for o, p in zip(data, perturbed) for _, a, b in mentions(o.tags)
    )
    assert changed_entities > 5
    assert perturb_ner(data, augmenter) == perturbed


def test_perturbing_text_based_examples_moves_the_spans():
    text = "Peter Pan flew to Rome, quickly."
    example = NerExample(tokens=(), tags=None, text=text, spans=(Span(0, 9, "PER"), Span(18, 22, "LOC")))
    for seed in range(10):
        (out,) = perturb_ner([example], Augmenter(["typos", "punctuation"], p=0.6, seed=seed))
        per, loc = out.spans
        assert out.text.count(" ") == text.count(" ")  # only characters inside the words changed
        assert per.start == 0 and out.text[per.start : per.end].count(" ") == 1  # still "Peter Pan", respelled
        assert out.text[loc.start - 1] == " " and loc.end > loc.start and " " not in out.text[loc.start : loc.end]
        assert out.text[per.end : loc.start].split() == out.text.split()[2:4]  # "flew to", respelled


def test_perturbation_that_changes_tokens_is_refused_for_ner():
    with pytest.raises(InputError, match="only typos, case, punctuation"):
        perturb_ner(english(), Augmenter(["swap"], seed=0))
