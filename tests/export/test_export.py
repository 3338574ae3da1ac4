"""ONNX export: parity with torch (logits, metric, entity offsets), int8 quantisation, the quality
gate, atomic publication, the onnx Predictor backend and the `tunelab export` command."""

import json
import os
import shutil

import numpy as np
import onnx
import pytest
from rich.console import Console
from typer.testing import CliRunner

import tunelab
import tunelab.export.onnx as onnx_export
from helpers import make_ner_sentences, make_texts, tiny_overrides, write_conll, write_csv
from tunelab.artifact import ArtifactError, read_meta
from tunelab.cli.app import app
from tunelab.config import load_config
from tunelab.errors import ConfigError
from tunelab.export import ExportError, export_onnx
from tunelab.inference.onnx_backend import OnnxBackend, providers_for
from tunelab.tasks.token_classification.data import split_sentences
from tunelab.workflow.evaluate import evaluate_artifact
from tunelab.workflow.train import train

QUIET = Console(file=open("/dev/null", "w"))
PARITY_KEYS = {
    "metric",
    "agreement",
    "agreement_unit",
    "agreeing",
    "compared",
    "max_abs_logit_diff",
    "metrics",
    "latency_ms",
    "throughput",
    "bench",
    "data",
    "quantize",
    "optimized",
    "notes",
    "size_mb",
    "gate",
}


@pytest.fixture(scope="module", autouse=True)
def short_timings():
    """Fewer timed calls than the 50 + 5 batches a real export makes: the timing code still runs, the
    tests stay fast (torch's batch-1 latency balloons on a busy 2-core machine)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_export, "BATCH1_CALLS", 5)
        patch.setattr(onnx_export, "BATCH32_CALLS", 1)
        yield


@pytest.fixture(scope="module")
def cls(tiny_model_dir, tmp_path_factory):
    """A tiny classification artifact (dev from its own file) and its fp32 and int8 exports."""
    root = tmp_path_factory.mktemp("export-cls")
    data = {
        "train": write_csv(root / "data" / "train.csv", make_texts(120, seed=1)),
        "dev": write_csv(root / "data" / "dev.csv", make_texts(30, seed=2)),
    }
    artifact = train(
        load_config(None, tiny_overrides(tiny_model_dir, data)), output_dir=root / "model", console=QUIET
    ).output_dir
    fp32 = export_onnx(artifact, root / "onnx-fp32")
    int8 = export_onnx(artifact, root / "onnx-int8", quantize="int8", max_metric_drop=10.0)
    return {"root": root, "data": data, "artifact": artifact, "fp32": fp32, "int8": int8}


@pytest.fixture(scope="module")
def ner(tiny_model_dir, tmp_path_factory):
    """A tiny NER artifact whose dev split was carved from train (no dev file), exported in fp32."""
    root = tmp_path_factory.mktemp("export-ner")
    train_file = write_conll(root / "train.conll", make_ner_sentences(200, seed=1))
    overrides = tiny_overrides(
        tiny_model_dir,
        {"train": train_file, "dev": train_file},
        **{
            "data.dev": None,
            "data.split.dev": 0.2,
            "task.name": "token_classification",
            "training.epochs": 12,
            "training.metric": "f1",
        },
    )
    artifact = train(load_config(None, overrides), output_dir=root / "model", console=QUIET).output_dir
    return {"root": root, "artifact": artifact, "fp32": export_onnx(artifact, root / "onnx-fp32")}


@pytest.mark.train
def test_fp32_export_directory_and_parity(cls):
    out, report = cls["root"] / "onnx-fp32", cls["fp32"]
    for name in (
        "model.onnx",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "tunelab.json",
        "parity.json",
        "README.md",
    ):
        assert (out / name).is_file(), name
    assert not (out / "model.safetensors").exists()
    assert json.loads((out / "parity.json").read_text()) == json.loads(json.dumps(report))
    assert set(report) >= PARITY_KEYS
    assert report["max_abs_logit_diff"] < 1e-4
    assert report["agreement"] == 1.0 and report["agreeing"] == report["compared"] == 30
    assert report["agreement_unit"] == "texts"
    metric = report["metric"]
    assert metric["name"] == "accuracy" and metric["onnx"] == metric["torch"] and metric["drop_points"] == 0.0
    # the torch number is the artifact's own dev accuracy from training
    assert metric["torch"] == pytest.approx(read_meta(cls["artifact"])["metrics"]["accuracy"])
    assert report["data"] == {
        "source": "dev file",
        "file": os.path.relpath(cls["data"]["dev"], out),  # relative to the export: no absolute path
        "num_examples": 30,
        "same_as_training_dev": True,
    }
    assert report["gate"] == {"max_metric_drop": 1.0, "passed": True, "forced": False}
    for backend in ("torch", "onnx"):
        assert 0 < report["latency_ms"][backend]["p50"] <= report["latency_ms"][backend]["p95"]
        assert report["throughput"][backend] > 0
    assert report["optimized"] is True and report["quantize"] is None


@pytest.mark.train
def test_export_metadata_and_model_card(cls):
    meta = read_meta(cls["root"] / "onnx-fp32")
    export = meta["export"]
    assert {k: export[k] for k in ("format", "quantize", "optimized", "opset")} == {
        "format": "onnx",
        "quantize": None,
        "optimized": True,
        "opset": 17,
    }
    assert export["source"] == os.path.relpath(cls["artifact"], cls["root"] / "onnx-fp32")  # relative: no absolute path
    assert export["fused_operators"]["Attention"] == 2  # both layers' attention fused by ORT's optimizer
    assert export["parity"]["metric"] == cls["fp32"]["metric"]
    assert meta["labels"] == read_meta(cls["artifact"])["labels"]
    card = (cls["root"] / "onnx-fp32" / "README.md").read_text()
    original = (cls["artifact"] / "README.md").read_text().rstrip("\n")
    from huggingface_hub import ModelCard

    exported, trained = ModelCard(card), ModelCard(original)
    assert exported.data.library_name == "onnx" and "onnx" in exported.data.tags
    assert set(exported.data.tags) - {"onnx"} == set(trained.data.tags)
    assert exported.data.eval_results == trained.data.eval_results  # the same model-index results
    assert exported.text.startswith(trained.text.rstrip("\n"))
    assert "## ONNX export" in card and "Predictions agree on 100.00% of texts" in card


@pytest.mark.train
def test_graph_has_dynamic_batch_and_sequence_axes(cls):
    graph = onnx.load(str(cls["root"] / "onnx-fp32" / "model.onnx")).graph
    inputs = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert inputs == {n: ["batch", "sequence"] for n in ("input_ids", "attention_mask", "token_type_ids")}
    assert [o.name for o in graph.output] == ["logits"]


@pytest.mark.train
def test_load_runs_onnx_and_matches_torch(cls):
    exported, original = tunelab.load(cls["root"] / "onnx-fp32"), tunelab.load(cls["artifact"])
    assert exported.backend.name == "onnx" and original.backend.name == "torch"
    assert exported.model is None and exported.backend.providers == ["CPUExecutionProvider"]
    texts = [text for text, _ in make_texts(12, seed=7)] + ["refund", "a much longer text " * 20]
    np.testing.assert_allclose(exported.predict_proba(texts), original.predict_proba(texts), atol=1e-5)
    assert exported.predict(texts) == original.predict(texts)
    report = evaluate_artifact(cls["root"] / "onnx-fp32", cls["data"]["dev"])
    assert report["metrics"]["accuracy"] == pytest.approx(cls["fp32"]["metric"]["onnx"])


@pytest.mark.train
def test_int8_export_is_quantized_smaller_and_close(cls):
    out, report = cls["root"] / "onnx-int8", cls["int8"]
    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert {"QAttention", "MatMulInteger", "DynamicQuantizeLinear"} <= ops
    assert read_meta(out)["export"]["quantize"] == "int8" and report["quantize"] == "int8"
    assert report["size_mb"]["onnx"] < 0.4 * cls["fp32"]["size_mb"]["onnx"]
    assert 1e-6 < report["max_abs_logit_diff"] < 0.05  # quantised: close to, not equal to, torch
    assert report["agreement"] >= 29 / 30
    assert abs(report["metric"]["drop_points"]) <= 10 / 3 + 1e-9  # at most one of 30 texts changes
    report_eval = evaluate_artifact(out, cls["data"]["dev"])
    assert report_eval["metrics"]["accuracy"] == pytest.approx(report["metric"]["onnx"])


@pytest.mark.train
def test_ner_export_keeps_entities_and_offsets(ner):
    report, out = ner["fp32"], ner["root"] / "onnx-fp32"
    assert report["data"]["source"] == "dev carved from train"
    assert report["data"]["num_examples"] == 40 and report["data"]["same_as_training_dev"] is True
    assert report["metric"]["name"] == "f1" and report["metric"]["torch"] > 0.8
    assert report["metric"]["onnx"] == report["metric"]["torch"]
    assert report["agreement_unit"] == "words" and report["agreement"] == 1.0
    _, dev, _ = split_sentences(make_ner_sentences(200, seed=1), 0.2, 0.0, seed=13)  # data.split.seed default
    assert report["compared"] == sum(len(sentence) for sentence in dev)
    assert report["max_abs_logit_diff"] < 1e-4
    exported, original = tunelab.load(out), tunelab.load(ner["artifact"])
    assert exported.backend.name == "onnx"
    texts = ["i met john smith in paris today", "yesterday mary visited rome", "nothing here", "laura in tokyo"]
    got, want = exported.predict(texts), original.predict(texts)
    assert [[(e["type"], e["start"], e["end"], e["text"]) for e in s] for s in got] == [
        [(e["type"], e["start"], e["end"], e["text"]) for e in s] for s in want
    ]
    assert any(got) and got[0][0]["text"] == texts[0][got[0][0]["start"] : got[0][0]["end"]]
    for found, expected in zip(got, want):
        assert [e["score"] for e in found] == pytest.approx([e["score"] for e in expected], abs=1e-5)


@pytest.mark.train
def test_lora_artifact_exports_merged(cls, tiny_model_dir):
    """An artifact holding only LoRA weights exports as one merged graph with fused attention."""
    root = cls["root"]
    overrides = tiny_overrides(tiny_model_dir, cls["data"], **{"training.epochs": 4}) + ["method.name=lora"]
    artifact = train(load_config(None, overrides), output_dir=root / "lora", console=QUIET).output_dir
    assert read_meta(artifact)["method"]["stored"] == "trained_weights"
    assert not (artifact / "model.safetensors").exists()
    report = export_onnx(artifact, root / "lora-onnx")
    assert report["max_abs_logit_diff"] < 1e-4 and report["agreement"] == 1.0
    assert report["metric"]["onnx"] == report["metric"]["torch"] == read_meta(artifact)["metrics"]["accuracy"]
    assert read_meta(root / "lora-onnx")["export"]["fused_operators"]["Attention"] == 2
    ops = {node.op_type for node in onnx.load(str(root / "lora-onnx" / "model.onnx")).graph.node}
    assert "Attention" in ops and tunelab.load(root / "lora-onnx").backend.name == "onnx"


@pytest.mark.train
def test_gate_refuses_and_leaves_nothing_then_force_exports(cls):
    root, out = cls["root"], cls["root"] / "gated"
    with pytest.raises(ExportError) as err:
        export_onnx(cls["artifact"], out, max_metric_drop=-1.0, optimize=False)
    message = str(err.value)
    assert "accuracy" in message and "--force" in message and "allowed drop -1.00" in message
    assert f"torch {cls['fp32']['metric']['torch']:.4f}" in message
    assert not out.exists()
    assert not list(root.glob(".gated*"))  # no staging directory left behind
    report = export_onnx(cls["artifact"], out, max_metric_drop=-1.0, optimize=False, force=True)
    assert report["gate"] == {"max_metric_drop": -1.0, "passed": False, "forced": True}
    assert report["optimized"] is False and report["max_abs_logit_diff"] < 1e-4
    assert "exported with --force" in (out / "README.md").read_text()
    assert tunelab.load(out).backend.name == "onnx"


@pytest.mark.train
def test_missing_dev_data_asks_for_data(cls, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(cls["artifact"], moved)
    meta = json.loads((moved / "tunelab.json").read_text())
    for info in meta["data"]["files"].values():
        info["path"] = str(tmp_path / "gone" / "file.csv")
    (moved / "tunelab.json").write_text(json.dumps(meta))
    with pytest.raises(ExportError, match="pass --data FILE"):
        export_onnx(moved, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ExportError, match="--data file not found"):
        export_onnx(moved, tmp_path / "out", data=tmp_path / "nope.csv")
    extra = write_csv(tmp_path / "extra.csv", make_texts(9, seed=5))
    report = export_onnx(moved, tmp_path / "out", data=extra, optimize=False)
    assert report["data"]["source"] == "--data" and report["data"]["num_examples"] == 9
    assert report["data"]["same_as_training_dev"] is False


@pytest.mark.train
def test_refusals(cls, tmp_path):
    with pytest.raises(ExportError, match="already an export"):
        export_onnx(cls["root"] / "onnx-fp32", tmp_path / "again")
    with pytest.raises(ExportError, match="unknown quantization 'int4'"):
        export_onnx(cls["artifact"], tmp_path / "q", quantize="int4")
    with pytest.raises(ArtifactError, match="--overwrite"):
        export_onnx(cls["artifact"], cls["root"] / "onnx-fp32")
    with pytest.raises(ExportError, match="must differ"):
        export_onnx(cls["artifact"], cls["artifact"], overwrite=True)


@pytest.mark.train
def test_onnx_backend_errors_and_inputs(cls, tmp_path):
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        providers_for("cuda", ["CPUExecutionProvider"])
    assert providers_for("cuda:1", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == (
        "CUDAExecutionProvider",
        {"device_id": 1},
    )
    with pytest.raises(ArtifactError, match="tunelab export"):
        tunelab.load(cls["artifact"], backend="onnx")
    predictor = tunelab.load(cls["root"] / "onnx-fp32")
    backend = predictor.backend
    assert isinstance(backend, OnnxBackend)
    ids = np.asarray(predictor.tokenizer(["refund my invoice"])["input_ids"])
    full = backend({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    partial = backend({"input_ids": ids.astype(np.int32)})  # missing inputs filled, dtypes converted
    assert set(full) == {"logits"}  # the task's outputs, by name
    assert full["logits"].dtype == np.float32 and full["logits"].shape == (1, 3)
    np.testing.assert_allclose(partial["logits"], full["logits"], atol=1e-6)


@pytest.mark.train
def test_cli_export(cls, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli-int8"
    result = runner.invoke(
        app,
        [
            "export",
            str(cls["artifact"]),
            "-o",
            str(out),
            "--quantize",
            "int8",
            "--max-drop",
            "10",
            "--data",
            str(cls["data"]["dev"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "agreement" in result.output and "throughput" in result.output and f"exported to {out}" in result.output
    assert read_meta(out)["export"]["quantize"] == "int8"
    refused = runner.invoke(
        app, ["export", str(cls["artifact"]), "-o", str(tmp_path / "x"), "--max-drop", "-1", "--no-optimize"]
    )
    assert refused.exit_code != 0 and isinstance(refused.exception, ExportError)
    assert not (tmp_path / "x").exists()
    wrong = runner.invoke(app, ["export", str(cls["artifact"]), "-o", str(tmp_path / "y"), "--format", "tflite"])
    assert "unknown export format 'tflite'" in str(wrong.exception)
