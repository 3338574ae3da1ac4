"""Extractive QA on a decoder (tiny random Gemma 3 with a SentencePiece-style tokenizer): transformers
has no Gemma 3 QA class, so tunelab's span head is used; Chinese questions are scored with the CMRC
2018 scorer (detected), the artifact reloads with the same logits, and every answer is a span of
its context without the space a SentencePiece piece carries."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from rich.console import Console

import tunelab
from helpers import build_tiny_decoder, final_outputs_callback, tiny_overrides, write_jsonl
from tunelab.config import load_config
from tunelab.errors import ConfigError
from tunelab.models.heads import TunelabForQuestionAnswering
from tunelab.workflow.train import train

pytestmark = pytest.mark.train

PEOPLE = ["张伟", "李娜", "王小明", "高勇", "刘洋", "陈静"]
PLACES = ["北京", "上海", "中国", "杭州", "深圳", "武汉"]


def make_zh_questions(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        person, place, other = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(PEOPLE)
        head = f"{other}说，{person}在"
        context = head + f"{place}工作，毕业于北京大学。"
        rows.append(
            {"id": f"z{seed}-{i}", "question": f"{person}在哪里工作？", "context": context,
             "answers": [{"text": place, "answer_start": len(head)}]}
        )  # fmt: skip
    return rows


def test_gemma3_span_head_trains_reloads_and_scores_chinese(tmp_path):
    model = build_tiny_decoder(tmp_path / "gemma3", family="gemma3", tokenizer_style="metaspace")
    data = {
        "train": write_jsonl(tmp_path / "train.jsonl", make_zh_questions(64, 1)),
        "dev": write_jsonl(tmp_path / "dev.jsonl", make_zh_questions(16, 2)),
    }
    overrides = tiny_overrides(
        model,
        data,
        **{"task.name": "extractive_qa", "task.max_length": 40, "task.doc_stride": 8, "task.max_question_length": 12,
           "training.epochs": 3, "training.log_every": 1},
    )  # fmt: skip
    capture = final_outputs_callback()
    out = tmp_path / "out"
    result = train(load_config(None, overrides), output_dir=out, console=Console(quiet=True), callbacks=[capture])
    log = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in log if "train_loss" in r]
    assert np.mean(losses[-4:]) < np.mean(losses[:4]), losses  # it learns
    assert result.meta["model"]["architecture"] == "TunelabForQuestionAnswering"
    predictor = tunelab.load(out)
    assert isinstance(predictor.model, TunelabForQuestionAnswering)
    assert predictor.task.language == "zh" and result.report["metrics"]["metric_language"] == "zh"
    assert result.report["metrics"]["answers_outside_windows"] == 0  # every gold answer has its labels
    examples = predictor.task.read_file(data["dev"], predictor.meta)
    reloaded = predictor.raw_outputs(predictor.encode(examples))
    for a, b in zip(capture.outputs, reloaded):
        np.testing.assert_allclose(a["start_logits"], b["start_logits"], atol=1e-5)
        np.testing.assert_allclose(a["end_logits"], b["end_logits"], atol=1e-5)
    assert predictor.evaluate(examples)["f1"] == result.report["metrics"]["f1"]
    for ex, answer in zip(examples, predictor.predict([e.question for e in examples], [e.context for e in examples])):
        assert answer["answer"] == ex.context[answer["start"] : answer["end"]]
        assert answer["answer"] == answer["answer"].strip() and answer["answer"]
    assert not sees_later_tokens(predictor)  # causal attention


def sees_later_tokens(predictor) -> bool:
    """Whether the question's logits change when only the end of the context changes."""
    examples = predictor.task.make_examples(["张伟在哪里工作？"] * 2, ["张伟在北京工作。", "张伟在上海工作。"])
    out = predictor.raw_outputs(predictor.encode(examples))
    return not np.allclose(out[0]["start_logits"][:3], out[1]["start_logits"][:3], atol=1e-6)


def test_gemma3_bidirectional_attention_through_config_overrides(tmp_path):
    model = build_tiny_decoder(tmp_path / "gemma3", family="gemma3", tokenizer_style="metaspace")
    data = {
        "train": write_jsonl(tmp_path / "train.jsonl", make_zh_questions(16, 1)),
        "dev": write_jsonl(tmp_path / "dev.jsonl", make_zh_questions(8, 2)),
    }
    overrides = tiny_overrides(
        model,
        data,
        **{"task.name": "extractive_qa", "task.max_length": 40, "task.doc_stride": 8, "task.max_question_length": 12,
           "training.epochs": 1, "model.config_overrides.use_bidirectional_attention": "true"},
    )  # fmt: skip
    train(load_config(None, overrides), output_dir=tmp_path / "out", console=Console(quiet=True))
    assert json.loads((tmp_path / "out" / "config.json").read_text())["use_bidirectional_attention"] is True
    predictor = tunelab.load(tmp_path / "out")
    assert predictor.model.backbone.config.use_bidirectional_attention is True
    assert sees_later_tokens(predictor)
    bad = tiny_overrides(model, data, **{"task.name": "extractive_qa", "model.config_overrides.no_such_thing": "1"})
    with pytest.raises(ConfigError, match="no attribute no_such_thing"):
        train(load_config(None, bad), output_dir=tmp_path / "bad", console=Console(quiet=True))
