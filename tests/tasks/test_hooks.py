"""The optional task hooks' defaults (tunelab.tasks.hooks) and the CLI's named inputs."""

from __future__ import annotations

import pytest

from tunelab.cli.predict import split_named_inputs
from tunelab.config import load_config
from tunelab.errors import InputError, TunelabError
from tunelab.tasks import task_class
from tunelab.tasks.hooks import examples_from_items, input_fields, items_from_options


def task_of(name, **state):
    config = load_config(None, [f"task.name={name}"]).task
    return task_class(name).from_state(config, state)


def test_default_fields_are_text_and_pair():
    single = task_of("text_regression", mean=0.0, std=1.0, pairs=False)
    pair = task_of("text_regression", mean=0.0, std=1.0, pairs=True)
    assert input_fields(single) == ("text",) and input_fields(pair) == ("text", "text_pair")
    (example,) = examples_from_items(pair, [{"text": "a", "text_pair": "b"}])
    assert (example.text, example.text_pair) == ("a", "b")
    with pytest.raises(InputError, match="missing"):
        examples_from_items(pair, [{"text": "a"}])
    with pytest.raises(InputError, match="unknown fields"):
        examples_from_items(single, [{"text": "a", "question": "b"}])


def test_qa_fields():
    qa = task_of("extractive_qa")
    assert input_fields(qa) == ("question", "context")
    (example,) = examples_from_items(qa, [{"question": "q?", "context": "c", "id": "7"}])
    assert (example.question, example.context, example.id, example.answers) == ("q?", "c", "7", None)


def test_items_from_options():
    fields = ("question", "context")
    named = [("question", "a"), ("context", "x"), ("question", "b"), ("context", "y")]
    assert items_from_options(fields, named) == [{"question": "a", "context": "x"}, {"question": "b", "context": "y"}]
    with pytest.raises(InputError, match="--question, --context"):
        items_from_options(fields, [("query", "a")])
    with pytest.raises(InputError, match="once per input"):
        items_from_options(fields, [("question", "a"), ("question", "b"), ("context", "x")])
    assert items_from_options(("text", "text_pair"), [("text", "a")]) == [{"text": "a"}]  # a pair is optional here


def test_split_named_inputs():
    texts, named = split_named_inputs(["hello", "--question", "Who?", "--context=Ann came.", "bye"])
    assert texts == ["hello", "bye"] and named == [("question", "Who?"), ("context", "Ann came.")]
    with pytest.raises(TunelabError, match="needs a value"):
        split_named_inputs(["--question"])


def test_fit_after_training_is_a_no_op_by_default(tmp_path):
    class Predictor:
        task = task_of("text_regression", mean=0.0, std=1.0)

        def encode(self, examples):  # pragma: no cover - must not be called
            raise AssertionError("no pass over dev for a task that fits nothing")

    predictor = Predictor()
    assert predictor.task.fit_after_training(predictor, {"dev": [object()]}, tmp_path) is None
    Predictor.task = task_of("extractive_qa", abstains=False)  # SQuAD v1: nothing to tune
    assert predictor.task.fit_after_training(predictor, {"dev": [object()]}, tmp_path) is None
    assert task_of("extractive_qa", abstains=True).tunes_on_dev() is True


def test_qa_augmentation_and_perturbation_change_only_the_question():
    from tunelab.augment import Augmenter
    from tunelab.augment.apply import perturbation_augmenter
    from tunelab.tasks.extractive_qa.example import QaExample

    qa = task_of("extractive_qa")
    context = "the invoice went to paris today"
    examples = [
        QaExample("where did the invoice go today please", context, (("paris", 20),), id=str(i)) for i in range(5)
    ]
    augmented = qa.augment(examples, Augmenter(["eda"], copies=2, p=0.5, seed=3))
    assert augmented and all(
        item.example.context == context and item.example.answers == (("paris", 20),) for item in augmented
    )
    assert any(item.example.question != examples[0].question for item in augmented)
    perturbed = qa.perturb(examples, perturbation_augmenter(["typos"], p=0.5, seed=1, language="en"))
    assert all(p.context == context and p.answers == e.answers for p, e in zip(perturbed, examples))
    assert any(p.question != e.question for p, e in zip(perturbed, examples))
