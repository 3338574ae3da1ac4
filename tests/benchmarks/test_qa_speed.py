"""benchmarks/qa_speed.py end to end on a tiny random BERT and a few hand-written questions: every
setting trains in its own subprocess, and the JSON holds both sides with their times and scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.train, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "qa_speed.py"

LONG = (
    "The Eiffel Tower is a wrought iron tower on the Champ de Mars in Paris, France. It is named after the "
    "engineer Gustave Eiffel, whose company designed and built the tower between 1887 and 1889 as the entrance "
    "to the world fair of that year. Locals at first criticised its design, but it has become a global symbol "
    "of France and one of the most visited monuments in the world, with millions of visitors every year who "
    "climb its stairs or take the lifts to the top, where the view reaches far across the river and the city."
)
SHORT = "The Louvre is the largest art museum in the world and holds the painting of the Mona Lisa in Paris."


def squad(questions: list[tuple[str, str, str, str]]) -> dict:
    """SQuAD v1.1 JSON from (id, context, question, answer) rows; answer_start from the context."""
    paragraphs: dict[str, list[dict]] = {}
    for qid, context, question, answer in questions:
        start = context.index(answer)
        paragraphs.setdefault(context, []).append(
            {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}]}
        )
    data = [{"title": f"a{i}", "paragraphs": [{"context": c, "qas": q}]} for i, (c, q) in enumerate(paragraphs.items())]
    return {"version": "1.1", "data": data}


TRAIN = [
    ("t1", LONG, "Where is the Eiffel Tower?", "Paris, France"),
    ("t2", LONG, "Who is the tower named after?", "Gustave Eiffel"),
    ("t3", LONG, "When was the tower finished?", "1889"),
    ("t4", LONG, "What is the tower made of?", "wrought iron"),
    ("t5", LONG, "What reaches far across the river?", "the view"),
    ("t6", SHORT, "What is the largest art museum?", "The Louvre"),
    ("t7", SHORT, "Which painting does the Louvre hold?", "the Mona Lisa"),
    ("t8", SHORT, "Where is the Louvre?", "Paris"),
    ("t9", SHORT, "What kind of museum is the Louvre?", "art museum"),  # beyond --limit 8
]
DEV = [
    ("d1", LONG, "Who designed the tower?", "Gustave Eiffel"),
    ("d2", LONG, "Where is the Champ de Mars?", "Paris, France"),
    ("d3", SHORT, "What does the Louvre hold?", "the painting of the Mona Lisa"),
]


def test_both_sides_train_and_score(tiny_model_dir, tmp_path):
    train, dev, out = tmp_path / "train.json", tmp_path / "dev.json", tmp_path / "qa_speed.json"
    train.write_text(json.dumps(squad(TRAIN)), encoding="utf-8")
    dev.write_text(json.dumps(squad(DEV)), encoding="utf-8")
    command = [
        sys.executable, str(SCRIPT), "--model", str(tiny_model_dir), "--train", str(train), "--dev", str(dev),
        "--limit", "8", "--epochs", "1", "--batch-size", "4", "--lr", "1e-3",
        # windows of 96 tokens (the tiny model has 128 positions): the long context takes several
        "--max-length", "96", "--doc-stride", "32", "--max-question-length", "24",
        "--set", "output.plots=false", "--set", "training.tensorboard=false",
        "--workdir", str(tmp_path / "work"), "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["data"]["train"]["questions"] == 8 and report["data"]["dev"]["questions"] == 3
    settings = report["settings"]
    assert set(settings) == {"tunelab", "hf_best", "hf_default"}
    for name, result in settings.items():
        assert result["train_seconds"] > 0 and result["windows_per_second"] > 0, name
        assert result["peak_rss_mb"] > 0, name
        assert 0.0 <= result["f1"] <= 1.0 and 0.0 <= result["exact_match"] <= result["f1"] + 1e-9, name
    # the long context is cut into overlapping windows on both sides: more windows than questions
    assert settings["hf_default"]["run"]["train_windows"] > 8
    assert settings["tunelab"]["run"]["windows"] > 8
    # run_qa.py pads every window to max_length; the best setting pads each batch to its longest
    assert settings["hf_default"]["padding_share"] > settings["hf_best"]["padding_share"]
    # tunelab's report scores agree with the official scorer applied to its predictions
    rescored = settings["tunelab"]["run"]["rescored"]
    assert rescored["f1_official"] == pytest.approx(settings["tunelab"]["f1"], abs=1e-6)
    for name in ("hf_best", "hf_default"):
        ratio = report[f"ratio_vs_{name}"]
        assert ratio == pytest.approx(settings[name]["train_seconds"] / settings["tunelab"]["train_seconds"], rel=1e-2)
    assert "HF run_qa.py default" in done.stdout
