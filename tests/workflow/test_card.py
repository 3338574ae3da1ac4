"""Model cards: metadata the Hub reads (checked through huggingface_hub's own loader), results equal
to report.json's numbers, no path of the training machine, usage snippets that run, and the base
model's and the data's facts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from rich.console import Console

from helpers import make_texts, tiny_overrides, write_csv
from tunelab.artifact import FileRef, file_sha256, read_meta
from tunelab.config import load_config
from tunelab.inference.predictor import Predictor
from tunelab.models.resolve import PACKAGED_MODELS, base_model_facts, looks_like_hub_id
from tunelab.workflow.card import KNOWN_DATASETS, PLACEHOLDER, adapt_card, render_model_card, write_model_card
from tunelab.workflow.train import train

ROOT = Path(__file__).resolve().parents[2]
QUIET = Console(file=open(os.devnull, "w"))
LEGACY_FIXTURE_DIR = "/tmp/legacy-fixtures"  # where the format-1 fixtures recorded their data and model


def results_by_split(card: ModelCard) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for r in card.data.eval_results or []:
        results.setdefault(r.dataset_split, {})[r.metric_name] = r.metric_value
    return results


def float_metrics(metrics: dict) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, float)}


def snippets(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


SNIPPET_RUNNER = """
import sys
for code in sys.argv[1:]:
    print("=== snippet ===", flush=True)
    exec(compile(code, "<card snippet>", "exec"), {"__name__": "__main__"})
    sys.stdout.flush()
"""


def run_snippets(codes: list[str], artifact: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Every snippet, in its own namespace, in ONE fresh interpreter (importing torch and
    transformers once instead of once per snippet); returns the process and each snippet's stdout."""
    assert all(PLACEHOLDER in code for code in codes)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET_RUNNER, *(code.replace(PLACEHOLDER, str(artifact)) for code in codes)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=artifact,
    )
    return done, done.stdout.split("=== snippet ===\n")[1:]


def absolute_paths(text: str) -> list[str]:
    """Strings of the card that start with "/" and exist on this machine (URLs' slashes excluded)."""
    found = re.findall(r"(?<![\w.:/])/[^\s`'\")\]|<>,]+", text)
    return [p for p in found if Path(p).exists()]


def body(text: str) -> str:
    return text.split("\n---\n", 1)[1]


# -- a trained artifact --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    data = {
        "train": write_csv(root / "data" / "train.csv", make_texts(120, seed=1)),
        "dev": write_csv(root / "data" / "dev.csv", make_texts(30, seed=2)),
        "test": write_csv(root / "data" / "test.csv", make_texts(30, seed=3)),
    }
    overrides = tiny_overrides(
        tiny_model_dir,
        data,
        **{"data.test": str(data["test"]), "training.epochs": 3, "output.card.data_license": "cc-by-4.0"},
    )
    result = train(load_config(None, overrides), output_dir=root / "out", console=QUIET)
    return {"root": root, "out": root / "out", "report": result.report, "model": tiny_model_dir}


@pytest.mark.train
def test_card_metadata_loads_with_the_reports_numbers(trained):
    out = trained["out"]
    card = ModelCard.load(out / "README.md")
    report = json.loads((out / "report.json").read_text())
    assert report == json.loads(json.dumps(trained["report"]))
    data = card.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "text-classification"
    assert data.tags == ["tunelab", "text_classification", "full"]
    # a local directory whose config names no hub id: no base model, language or licence is claimed
    assert data.base_model is None and data.language is None and data.license is None
    assert data.datasets is None  # a user's own file never gets a guessed hub dataset
    results = card.data.eval_results
    assert {(r.task_type, r.dataset_type, r.dataset_name) for r in results} == {("text-classification", "data", "data")}
    by_split = results_by_split(card)
    assert set(by_split) == {"dev", "test"}
    for split in ("dev", "test"):
        assert by_split[split] == float_metrics(report["splits"][split])  # exact, not rounded
    assert by_split["test"]["accuracy"] == report["metrics"]["accuracy"]
    macro = next(r for r in results if r.metric_name == "macro_f1" and r.dataset_split == "test")
    assert (macro.metric_type, macro.metric_args) == ("f1", {"average": "macro"})


@pytest.mark.train
def test_card_text_names_no_path_and_rounds(trained):
    out, root = trained["out"], trained["root"]
    text = (out / "README.md").read_text()
    assert absolute_paths(text) == []
    for path in (str(root), str(trained["model"]), str(Path(root).resolve())):
        assert path not in text
    assert "../" not in text  # not even the relative paths tunelab.json records
    meta = read_meta(out)
    for ref in meta.data.files.values():
        assert f"`{Path(ref.path).name}`" in text and ref.sha256 in text
    prose = body(text)
    assert not re.search(r"\d\.\d{5,}", prose)  # figures rounded to 4 digits
    accuracy = trained["report"]["metrics"]["accuracy"]
    assert f"| accuracy | {accuracy:.4f} |" in prose
    training = meta.training
    assert f"{training['steps']} of {training['total_steps']} optimizer steps" in prose
    assert f"at step {training['best_step']}" in prose
    assert "batch size 16, learning rate 0.003" in prose and "precision fp32" in prose
    assert "It was trained on 120 examples: a small set" in prose
    assert "The training data is licensed under cc-by-4.0" in prose
    assert "The licence of the base model is not recorded" in prose


@pytest.mark.train
def test_usage_snippets_run_against_the_artifact(trained):
    out = trained["out"]
    codes = snippets((out / "README.md").read_text())
    assert len(codes) == 2 and "tunelab.load" in codes[0] and "AutoModelForSequenceClassification" in codes[1]
    labels = read_meta(out).labels
    done, outputs = run_snippets(codes, out)
    assert done.returncode == 0, done.stderr
    predicted = eval(outputs[0].strip().splitlines()[-1])  # the printed list of labels
    assert len(predicted) == 2 and set(predicted) <= set(labels)
    assert "tensor(" in outputs[1] and outputs[1].count("[") == 3  # 2 texts × 3 label scores


@pytest.mark.train
def test_local_base_named_by_its_config_hub_id(trained, tmp_path):
    """A local base directory whose config.json records a hub id: that is the card's base model, and
    its README's front matter gives the language and licence."""
    base = tmp_path / "bert-copy"
    shutil.copytree(trained["model"], base)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "_name_or_path": "google-bert/bert-base-uncased"}))
    (base / "README.md").write_text("---\nlanguage: en\nlicense: apache-2.0\n---\n# BERT\n")
    artifact = tmp_path / "artifact"
    shutil.copytree(trained["out"], artifact)
    meta, report = read_meta(artifact), json.loads((artifact / "report.json").read_text())
    predictor = Predictor.from_artifact(artifact)
    from tunelab.models.resolve import ResolvedModel

    write_model_card(
        artifact, meta, report, predictor.task, resolved=ResolvedModel(str(base), str(base), "local", True)
    )
    card = ModelCard.load(artifact / "README.md")
    assert card.data.base_model == "google-bert/bert-base-uncased"
    assert card.data.base_model_relation == "finetune"
    assert (card.data.language, card.data.license) == (["en"], "apache-2.0")
    text = (artifact / "README.md").read_text()
    assert str(base) not in text and str(tmp_path) not in text
    assert "[google-bert/bert-base-uncased](https://huggingface.co/google-bert/bert-base-uncased)" in text


# -- cards of the format-1 fixture artifacts (no training) ---------------------------------------


@pytest.fixture
def legacy_copy(legacy_artifacts, tmp_path):
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(legacy_artifacts / name, target)
        return target

    return copy


def rewrite_card(artifact: Path, **config_card) -> tuple[ModelCard, str, dict]:
    meta, report = read_meta(artifact), json.loads((artifact / "report.json").read_text())
    if config_card:
        meta.config = {**meta.config, "output": {**(meta.config.get("output") or {}), "card": config_card}}
    task = Predictor.from_artifact(artifact).task
    write_model_card(artifact, meta, report, task)
    return ModelCard.load(artifact / "README.md"), (artifact / "README.md").read_text(), report


@pytest.mark.parametrize("name", ["classification", "ner", "pair_classification"])
def test_every_task_card_round_trips_and_its_snippets_run(legacy_copy, name):
    artifact = legacy_copy(name)
    card, text, report = rewrite_card(artifact)
    assert results_by_split(card) == {"dev": float_metrics(report["metrics"])}
    expected_tag = "token-classification" if name == "ner" else "text-classification"
    assert card.data.pipeline_tag == expected_tag
    assert {r.task_type for r in card.data.eval_results} == {expected_tag}
    assert LEGACY_FIXTURE_DIR not in text and absolute_paths(text) == []
    assert "It was not evaluated on held-out test data" in text
    codes = snippets(text)
    assert len(codes) == 2
    done, outputs = run_snippets(codes, artifact)
    assert done.returncode == 0, done.stderr
    assert len(outputs) == 2 and all(out.strip() for out in outputs)  # each snippet printed its result
    if name == "pair_classification":
        assert "text_pairs=" in codes[0]


def test_user_card_settings_and_known_data(legacy_copy):
    artifact = legacy_copy("classification")
    card, text, _ = rewrite_card(
        artifact,
        language="de",
        datasets=["someone/support-tickets"],
        dataset_name="Support tickets",
        data_license="cc-by-sa-4.0",
    )
    assert card.data.language == ["de"]
    assert card.data.datasets == ["someone/support-tickets"]
    assert {(r.dataset_type, r.dataset_name) for r in card.data.eval_results} == {
        ("someone/support-tickets", "Support tickets")
    }
    assert "The training data is licensed under cc-by-sa-4.0" in text

    # the shipped BANKING77 files are recognised by their sha256, wherever they are
    meta = read_meta(artifact)
    banking = ROOT / "data" / "banking77"
    meta.data.files = {
        "train": FileRef(path="../elsewhere/train.csv", sha256=file_sha256(banking / "train.csv")),
        "dev": FileRef(path="../elsewhere/dev.csv", sha256=file_sha256(banking / "dev.csv")),
    }
    report = json.loads((artifact / "report.json").read_text())
    task = Predictor.from_artifact(artifact).task
    card = render_model_card(meta, report, task, directory=artifact)
    assert card.data.datasets == ["PolyAI/banking77"]
    assert {r.dataset_type for r in card.data.eval_results} == {"PolyAI/banking77"}
    assert "BANKING77 (Casanueva et al., 2020" in card.text and "CC BY 4.0" in card.text


def test_packaged_bases_name_hub_id_language_and_licence(legacy_copy):
    artifact = legacy_copy("classification")
    meta, report = read_meta(artifact), json.loads((artifact / "report.json").read_text())
    task = Predictor.from_artifact(artifact).task
    meta.model.base, meta.model.source, meta.model.path = "minilm", "packaged", None
    card = render_model_card(meta, report, task, directory=artifact)
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert (card.data.language, card.data.license, card.data.license_name) == (["en"], "apache-2.0", None)
    assert "Apache License 2.0" in card.text

    meta.model.base, meta.model.licence_files = "gemma3-270m", ["GEMMA_TERMS.html", "NOTICE.md"]
    card = render_model_card(meta, report, task, directory=artifact)
    assert card.data.base_model == "google/gemma-3-270m"
    assert card.data.license == "other" and card.data.license_name == "gemma-terms-of-use"
    assert card.data.license_link == "https://ai.google.dev/gemma/terms"
    assert card.data.language is None  # the Gemma card names no language; output.card.language can
    assert "Gemma Terms of Use" in card.text and "`GEMMA_TERMS.html`, `NOTICE.md`" in card.text


def test_base_model_facts(tmp_path):
    minilm = base_model_facts("all-minilm-l6-v2", "packaged")
    assert (minilm.hub_id, minilm.language, minilm.license) == (
        "sentence-transformers/all-MiniLM-L6-v2",
        ("en",),
        "apache-2.0",
    )
    assert (
        base_model_facts("sentence-transformers/all-MiniLM-L6-v2", "hub").hub_id
        == "sentence-transformers/all-MiniLM-L6-v2"
    )
    # a local directory: its config's hub id, else nothing
    (tmp_path / "config.json").write_text(json.dumps({"_name_or_path": "/home/someone/models/bert"}))
    assert base_model_facts(str(tmp_path), "local", tmp_path).hub_id is None
    (tmp_path / "config.json").write_text(json.dumps({"_name_or_path": "FacebookAI/roberta-base"}))
    assert base_model_facts("whatever", "local", tmp_path).hub_id == "FacebookAI/roberta-base"
    assert base_model_facts("missing", "local", tmp_path / "missing").hub_id is None
    # the packaged model's own directory given as a local path is the packaged model
    spec = PACKAGED_MODELS["minilm"]
    pytest.importorskip(spec.package)
    import importlib

    package_dir = Path(importlib.import_module(spec.package).__file__).parent / spec.subdir
    assert base_model_facts(str(package_dir), "local", package_dir).hub_id == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("google-bert/bert-base-uncased", True),
        ("Qwen/Qwen2.5-0.5B", True),
        ("bert-base-uncased", False),  # no owner: ambiguous with a local directory name
        ("/abs/path/model", False),
        ("../models/x", False),
        ("a/b/c", False),
        ("", False),
        (None, False),
    ],
)
def test_looks_like_hub_id(value, expected):
    assert looks_like_hub_id(value) is expected


def test_known_datasets_match_the_shipped_files():
    shipped = sorted(
        p for d in ("banking77", "wnut17", "squad") for p in (ROOT / "data" / d).iterdir() if p.suffix != ".md"
    )
    data_files = [p for p in shipped if p.name != "LICENSE"]
    assert {file_sha256(p) for p in data_files} == set(KNOWN_DATASETS)


def test_adapt_card_keeps_the_results(legacy_copy):
    artifact = legacy_copy("classification")
    card, text, report = rewrite_card(artifact)
    adapted = ModelCard(adapt_card(text, library_name="onnx", add_tags=["onnx"]))
    assert adapted.data.library_name == "onnx"
    assert adapted.data.tags == ["tunelab", "text_classification", "full", "onnx"]
    assert results_by_split(adapted) == results_by_split(card)
    assert adapted.text == card.text
