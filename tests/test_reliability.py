"""A catalogue of bad inputs: every one a user can cause ends in exit 2 and one message naming the
file (and line and field), the option or the config key, never in a traceback.

Each case runs `tunelab` in-process through ``tunelab.cli.app.main`` with ``sys.argv`` patched (fast);
a few run the installed entry point in a subprocess, to prove the console script behaves the same.
Paths in a case are templates filled from the ``world`` fixture (``{clf}``: a classification
artifact, ``{tmp}``: a scratch directory, ...). Nothing here trains: every case fails before the
first step, and the conftest's check of the ``train`` marker would catch one that did not.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import make_texts, write_csv, write_jsonl
from tunelab.cli.app import main

TUNELAB = Path(sys.executable).with_name("tunelab")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def world(tmp_path_factory, legacy_artifacts, tiny_model_dir) -> dict[str, str]:
    """Every file the catalogue refers to, built once: tiny artifacts (format-1 fixtures with
    deterministic weights), damaged copies of them, model directories and data files."""
    root = tmp_path_factory.mktemp("reliability")
    clf = legacy_artifacts / "classification"
    w: dict[str, Path] = {
        "tmp": root,
        "clf": clf,
        "pair": legacy_artifacts / "pair_classification",
        "ner": legacy_artifacts / "ner",
        "model": tiny_model_dir,
    }
    # damaged and incomplete artifacts
    w["no_weights"] = _copy(clf, root / "no_weights")
    (w["no_weights"] / "model.safetensors").unlink()
    w["truncated"] = _copy(clf, root / "truncated")
    blob = (clf / "model.safetensors").read_bytes()
    (w["truncated"] / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    w["garbage"] = _copy(clf, root / "garbage")
    (w["garbage"] / "model.safetensors").write_bytes(b"\x00" * 7)
    w["no_tokenizer"] = _copy(clf, root / "no_tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (w["no_tokenizer"] / name).unlink()
    w["broken_meta"] = _copy(clf, root / "broken_meta")
    (w["broken_meta"] / "tunelab.json").write_text('{"format_version": 2, "task": ', encoding="utf-8")
    w["invalid_meta"] = _copy(clf, root / "invalid_meta")
    meta = json.loads((clf / "tunelab.json").read_text(encoding="utf-8"))
    (w["invalid_meta"] / "tunelab.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "model"}))
    w["future_meta"] = _copy(clf, root / "future_meta")
    (w["future_meta"] / "tunelab.json").write_text(json.dumps({**meta, "format_version": 99}))
    w["list_meta"] = _copy(clf, root / "list_meta")
    (w["list_meta"] / "tunelab.json").write_text("[1, 2]")
    w["not_artifact"] = root / "not_artifact"
    w["not_artifact"].mkdir()
    (w["not_artifact"] / "notes.txt").write_text("hello")
    # model directories given to train
    w["model_no_weights"] = _copy(tiny_model_dir, root / "model_no_weights")
    (w["model_no_weights"] / "model.safetensors").unlink()
    w["model_truncated"] = _copy(tiny_model_dir, root / "model_truncated")
    blob = (tiny_model_dir / "model.safetensors").read_bytes()
    (w["model_truncated"] / "model.safetensors").write_bytes(blob[:1000])
    w["model_no_config"] = _copy(tiny_model_dir, root / "model_no_config")
    (w["model_no_config"] / "config.json").unlink()
    # data
    data = root / "data"
    w["train"] = write_csv(data / "train.csv", make_texts(60, seed=1))
    w["dev"] = write_csv(data / "dev.csv", make_texts(15, seed=2))
    w["empty"] = data / "empty.csv"
    w["empty"].write_text("")
    w["header_only"] = data / "header_only.csv"
    w["header_only"].write_text("text,label\n")
    w["empty_text"] = write_csv(data / "empty_text.csv", [("my invoice", "billing"), ("", "billing")])
    w["bad_json"] = data / "bad.jsonl"
    w["bad_json"].write_text('{"text": "a", "label": "billing"}\n{"text": "b", "label": \n', encoding="utf-8")
    w["no_text_field"] = write_jsonl(data / "no_text.jsonl", [{"text": "a", "label": "billing"}, {"label": "x"}])
    w["latin1"] = data / "latin1.csv"
    w["latin1"].write_bytes("text,label\nmy invoice,billing\ncaf\xe9 bill,billing\n".encode("latin-1"))
    w["unknown_ext"] = data / "train.xyz"
    w["unknown_ext"].write_text("text,label\na,b\n")
    w["unlabelled"] = write_csv(data / "unlabelled.csv", [("my invoice",), ("my parcel",)], header=("text",))
    w["new_label"] = write_csv(data / "new_label.csv", [("my invoice", "billing"), ("hello", "greeting")])
    w["inputs"] = write_csv(data / "inputs.csv", [("1", "my invoice"), ("2", "my parcel")], header=("id", "text"))
    w["existing"] = root / "existing.jsonl"
    w["existing"].write_text("keep me\n")
    w["existing_dir"] = root / "existing_dir"
    (w["existing_dir"] / "sub").mkdir(parents=True)
    w["keys_empty"] = root / "keys_empty.txt"
    w["keys_empty"].write_text("# no keys here\n")
    # configs
    configs = root / "configs"
    configs.mkdir()
    base = (
        f"task:\n  name: text_classification\nmodel:\n  name: {tiny_model_dir}\n"
        f"data:\n  train: {w['train']}\n  dev: {w['dev']}\n"
    )
    for name, text in {
        "ok": base,
        "typo": base + "training:\n  lerning_rate: 0.1\n",
        "negative_epochs": base + "training:\n  epochs: -1\n",
        "batch_text": base + "training:\n  batch_size: many\n",
        "precision": base + "training:\n  precision: fp8\n",
        "other_task_key": base.replace("data:\n", "data:\n  tag_scheme: iob2\n"),
        "unknown_task": base.replace("text_classification", "text_summarisation"),
        "unknown_method": base + "method:\n  name: magic\n",
        "yaml_syntax": base + "training:\n  epochs: [1, 2\n",
        "list_config": "- a\n- b\n",
        "missing_train": base.replace(str(w["train"]), str(data / "nowhere.csv")),
        "empty_train": base.replace(str(w["train"]), str(w["empty"])),
        "bad_json_train": base.replace(str(w["train"]), str(w["bad_json"])),
        "no_text_train": base.replace(str(w["train"]), str(w["no_text_field"])),
        "empty_text_train": base.replace(str(w["train"]), str(w["empty_text"])),
        "latin1_train": base.replace(str(w["train"]), str(w["latin1"])),
        "unknown_ext_train": base.replace(str(w["train"]), str(w["unknown_ext"])),
        "header_only_train": base.replace(str(w["train"]), str(w["header_only"])),
        "dir_train": base.replace(str(w["train"]), str(data)),
        "model_missing": base.replace(str(tiny_model_dir), str(root / "no_such_model")),
        "model_no_weights": base.replace(str(tiny_model_dir), str(w["model_no_weights"])),
        "model_truncated": base.replace(str(tiny_model_dir), str(w["model_truncated"])),
        "model_no_config": base.replace(str(tiny_model_dir), str(w["model_no_config"])),
        "model_hub_name": base.replace(str(tiny_model_dir), "some-org/some-model-that-is-not-cached"),
    }.items():
        (configs / f"{name}.yaml").write_text(text, encoding="utf-8")
        w[f"cfg_{name}"] = configs / f"{name}.yaml"
    _interrupted_runs(root, w)
    _check_inputs(root, w)
    return {k: str(v) for k, v in w.items()}


def _interrupted_runs(root: Path, w: dict[str, Path]) -> None:
    """Scratch directories of interrupted runs of ``cfg_ok``, as `train` leaves them: the marker,
    ``run.json`` (the config and data fingerprints of the run) and a checkpoint. The resume checks
    run before any checkpoint is loaded, so its files need not be real."""
    from tunelab.config import load_config
    from tunelab.tasks import task_class
    from tunelab.workflow.resume import run_record
    from tunelab.workflow.train_data import data_record as _data_record

    cfg = load_config(w["cfg_ok"])
    config = cfg.to_dict()
    splits = task_class(cfg.task.name).read_splits(cfg.data, cfg.task)
    prepared = SimpleNamespace(splits=splits, parts={"train": splits.train, "dev": splits.dev, "test": splits.test})
    data = _data_record(prepared)  # what `train` records: the real files' fingerprints
    other_data = {**data, "train": {**data["train"], "sha256": "0" * 64}}

    def interrupted(name: str, record: dict | None, checkpoint: bool = True) -> None:
        workdir = root / f"{name}.partial"
        workdir.mkdir()
        (workdir / ".tunelab-partial").touch()
        if record is not None:
            (workdir / "run.json").write_text(json.dumps(record))
        if checkpoint:
            step = workdir / "checkpoints" / "step-00000005"
            step.mkdir(parents=True)
            (step / "checkpoint.json").write_text(json.dumps({"step": 5}))
        w[f"run_{name}"] = root / name

    interrupted("no_checkpoint", None, checkpoint=False)
    interrupted("changed_batch", run_record({**config, "training": {**config["training"], "batch_size": 4}}, data))
    interrupted("changed_data", run_record(config, other_data))
    interrupted("more_epochs", run_record({**config, "training": {**config["training"], "epochs": 1.0}}, data))
    interrupted("other_processes", run_record(config, data, processes=4))
    interrupted("damaged_record", None)
    (root / "damaged_record.partial" / "run.json").write_text('{"config": ')
    interrupted("resumable", run_record(config, data))
    foreign = root / "foreign.partial"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("not tunelab's")
    w["run_foreign"] = root / "foreign"


def _check_inputs(root: Path, w: dict[str, Path]) -> None:
    data = root / "data"
    w["three_bad_rows"] = data / "three_bad_rows.csv"
    w["three_bad_rows"].write_text("text,label\nmy invoice,billing\n,billing\nmy parcel\nok,\nfine,shipping\n")
    w["semicolons"] = data / "semicolons.csv"
    w["semicolons"].write_text("text;label\nmy invoice;billing\nmy parcel;shipping;extra\n")
    configs = root / "configs"
    base = w["cfg_ok"].read_text(encoding="utf-8")
    for name, text in {
        "three_bad_rows": base.replace(str(w["train"]), str(w["three_bad_rows"])),
        "semicolons": base.replace(str(w["train"]), str(w["semicolons"])),
        "bad_codec": base.replace("data:\n", "data:\n  encoding: {train: no-such-codec}\n"),
        "bad_codec_split": base.replace("data:\n", "data:\n  encoding: {training: utf-8}\n"),
        "bad_pii": base.replace("data:\n", "data:\n  mask_pii: [email, passport]\n"),
        "bad_delimiter": base.replace("data:\n", "data:\n  delimiter: ';;'\n"),
        "checkpoint_keep": base + "training:\n  checkpoint:\n    keep: 0\n",
    }.items():
        (configs / f"{name}.yaml").write_text(text, encoding="utf-8")
        w[f"cfg_{name}"] = configs / f"{name}.yaml"


# (arguments, substrings the output must hold); {name} is filled from `world`.
CASES: dict[str, tuple[list[str], list[str]]] = {
    # -- train: the config ---------------------------------------------------------------------
    "train-config-missing": (["train", "{tmp}/nope.yaml"], ["nope.yaml"]),
    "train-config-unknown-key": (["train", "{cfg_typo}"], ["training.lerning_rate", "learning_rate"]),
    "train-config-negative-epochs": (["train", "{cfg_negative_epochs}"], ["training.epochs"]),
    "train-config-batch-size-text": (["train", "{cfg_batch_text}"], ["training.batch_size"]),
    "train-config-precision": (["train", "{cfg_precision}"], ["training.precision"]),
    "train-config-other-task-key": (["train", "{cfg_other_task_key}"], ["data.tag_scheme"]),
    "train-config-unknown-task": (["train", "{cfg_unknown_task}"], ["text_summarisation"]),
    "train-config-unknown-method": (["train", "{cfg_unknown_method}"], ["magic"]),
    "train-config-yaml-syntax": (["train", "{cfg_yaml_syntax}"], ["yaml_syntax.yaml"]),
    "train-config-not-a-mapping": (["train", "{cfg_list_config}"], ["list_config.yaml"]),
    "train-set-unknown-key": (["train", "{cfg_ok}", "--set", "training.epoks=3"], ["training.epoks"]),
    "train-set-without-equals": (["train", "{cfg_ok}", "--set", "training.epochs"], ["training.epochs"]),
    "train-set-bad-value": (["train", "{cfg_ok}", "--set", "training.learning_rate=fast"], ["training.learning_rate"]),
    # -- train: the data -----------------------------------------------------------------------
    "train-data-missing": (["train", "{cfg_missing_train}", "-o", "{tmp}/o1"], ["nowhere.csv", "not found"]),
    "train-data-empty": (["train", "{cfg_empty_train}", "-o", "{tmp}/o2"], ["empty.csv", "empty"]),
    "train-data-bad-json": (["train", "{cfg_bad_json_train}", "-o", "{tmp}/o3"], ["bad.jsonl:2"]),
    "train-data-missing-field": (["train", "{cfg_no_text_train}", "-o", "{tmp}/o4"], ["no_text.jsonl:2", "text"]),
    "train-data-empty-text": (["train", "{cfg_empty_text_train}", "-o", "{tmp}/o5"], ["empty_text.csv:3", "text"]),
    "train-data-bad-encoding": (["train", "{cfg_latin1_train}", "-o", "{tmp}/o6"], ["latin1.csv:3"]),
    "train-data-unknown-extension": (["train", "{cfg_unknown_ext_train}", "-o", "{tmp}/o7"], ["train.xyz"]),
    "train-data-header-only": (["train", "{cfg_header_only_train}", "-o", "{tmp}/o8"], ["header_only.csv"]),
    "train-data-directory": (["train", "{cfg_dir_train}", "-o", "{tmp}/o9"], ["data"]),
    # -- train: the model and the output -------------------------------------------------------
    "train-model-missing": (["train", "{cfg_model_missing}", "-o", "{tmp}/o10"], ["no_such_model"]),
    "train-model-no-weights": (["train", "{cfg_model_no_weights}", "-o", "{tmp}/o11"], ["model_no_weights", "weights"]),
    "train-model-truncated": (
        ["train", "{cfg_model_truncated}", "-o", "{tmp}/o12"],
        ["model_truncated/model.safetensors", "truncated"],
    ),
    "train-model-no-config": (
        ["train", "{cfg_model_no_config}", "-o", "{tmp}/o13"],
        ["model_no_config", "config.json"],
    ),
    "train-model-not-cached": (["train", "{cfg_model_hub_name}", "-o", "{tmp}/o14"], ["some-org/some-model"]),
    "train-output-exists": (["train", "{cfg_ok}", "-o", "{clf}"], ["classification", "--overwrite"]),
    "train-output-under-a-file": (
        ["train", "{cfg_ok}", "-o", "{existing}/model"],
        ["existing.jsonl", "not a directory"],
    ),
    "train-output-is-a-file": (["train", "{cfg_ok}", "-o", "{existing}", "--overwrite"], ["existing.jsonl"]),
    # -- evaluate ------------------------------------------------------------------------------
    "evaluate-artifact-missing": (["evaluate", "{tmp}/no_artifact", "{dev}"], ["no_artifact"]),
    "evaluate-not-an-artifact": (["evaluate", "{not_artifact}", "{dev}"], ["not_artifact", "tunelab.json"]),
    "evaluate-broken-meta": (["evaluate", "{broken_meta}", "{dev}"], ["broken_meta/tunelab.json"]),
    "evaluate-invalid-meta": (["evaluate", "{invalid_meta}", "{dev}"], ["invalid_meta/tunelab.json", "model"]),
    "evaluate-future-meta": (["evaluate", "{future_meta}", "{dev}"], ["future_meta", "newer"]),
    "evaluate-meta-not-object": (["evaluate", "{list_meta}", "{dev}"], ["list_meta/tunelab.json"]),
    "evaluate-no-weights": (["evaluate", "{no_weights}", "{dev}"], ["no_weights", "weights"]),
    "evaluate-truncated-weights": (["evaluate", "{truncated}", "{dev}"], ["truncated/model.safetensors"]),
    "evaluate-garbage-weights": (["evaluate", "{garbage}", "{dev}"], ["garbage/model.safetensors"]),
    "evaluate-no-tokenizer": (["evaluate", "{no_tokenizer}", "{dev}"], ["no_tokenizer", "tokenizer"]),
    "evaluate-data-missing": (["evaluate", "{clf}", "{tmp}/nowhere.csv"], ["nowhere.csv", "not found"]),
    "evaluate-data-unlabelled": (["evaluate", "{clf}", "{unlabelled}"], ["unlabelled.csv"]),
    "evaluate-data-bad-json": (["evaluate", "{clf}", "{bad_json}"], ["bad.jsonl:2"]),
    "evaluate-json-is-the-data": (["evaluate", "{clf}", "{dev}", "--json", "{dev}", "--overwrite"], ["dev.csv"]),
    "evaluate-json-exists": (["evaluate", "{clf}", "{dev}", "--json", "{existing}"], ["existing.jsonl", "--overwrite"]),
    "evaluate-json-is-artifact-file": (
        ["evaluate", "{clf}", "{dev}", "--json", "{clf}/tunelab.json", "--overwrite"],
        ["tunelab.json"],
    ),
    "evaluate-json-is-a-directory": (["evaluate", "{clf}", "{dev}", "--json", "{existing_dir}"], ["existing_dir"]),
    # -- predict -------------------------------------------------------------------------------
    "predict-nothing-to-predict": (["predict", "{clf}"], ["-i FILE"]),
    "predict-input-missing": (["predict", "{clf}", "-i", "{tmp}/nowhere.csv"], ["nowhere.csv", "not found"]),
    "predict-input-unknown-extension": (["predict", "{clf}", "-i", "{unknown_ext}"], ["train.xyz"]),
    "predict-input-empty-text": (["predict", "{clf}", "-i", "{empty_text}"], ["empty_text.csv:3", "text"]),
    "predict-input-bad-json": (["predict", "{clf}", "-i", "{bad_json}"], ["bad.jsonl:2"]),
    "predict-output-is-the-input": (
        ["predict", "{clf}", "-i", "{inputs}", "-o", "{inputs}", "--overwrite"],
        ["inputs.csv", "input"],
    ),
    "predict-output-exists": (["predict", "{clf}", "hello", "-o", "{existing}"], ["existing.jsonl", "--overwrite"]),
    "predict-output-bad-extension": (["predict", "{clf}", "hello", "-o", "{tmp}/out.parquet"], ["out.parquet"]),
    "predict-output-in-artifact": (
        ["predict", "{clf}", "hello", "-o", "{clf}/config.json", "--overwrite"],
        ["config.json"],
    ),
    "predict-input-is-a-directory": (["predict", "{clf}", "-i", "{existing_dir}"], ["existing_dir"]),
    "predict-no-tokenizer": (["predict", "{no_tokenizer}", "hello"], ["no_tokenizer", "tokenizer"]),
    "predict-no-weights": (["predict", "{no_weights}", "hello"], ["no_weights", "weights"]),
    "predict-truncated-weights": (["predict", "{truncated}", "hello"], ["truncated/model.safetensors"]),
    "predict-broken-meta": (["predict", "{broken_meta}", "hello"], ["broken_meta/tunelab.json"]),
    "predict-pair-model-single-text": (["predict", "{pair}", "hello"], ["text pairs"]),
    "predict-pair-without-text": (["predict", "{clf}", "--pair", "x"], ["--pair"]),
    # -- export --------------------------------------------------------------------------------
    "export-into-the-artifact": (["export", "{clf}", "-o", "{clf}", "--overwrite"], ["-o"]),
    "export-output-exists": (["export", "{clf}", "-o", "{not_artifact}"], ["not_artifact"]),
    "export-output-holds-artifact": (["export", "{truncated}", "-o", "{tmp}", "--overwrite"], ["holds the artifact"]),
    "export-unknown-format": (["export", "{clf}", "-o", "{tmp}/e1", "--format", "tflite"], ["tflite"]),
    "export-unknown-quantize": (["export", "{clf}", "-o", "{tmp}/e2", "--quantize", "int3"], ["int3"]),
    "export-no-weights": (["export", "{no_weights}", "-o", "{tmp}/e3"], ["no_weights", "weights"]),
    "export-truncated-weights": (["export", "{truncated}", "-o", "{tmp}/e4"], ["truncated/model.safetensors"]),
    "export-broken-meta": (["export", "{broken_meta}", "-o", "{tmp}/e5"], ["broken_meta/tunelab.json"]),
    "export-data-missing": (["export", "{clf}", "-o", "{tmp}/e6", "--data", "{tmp}/nowhere.csv"], ["nowhere.csv"]),
    # -- serve (the server never starts: see `no_server`) ---------------------------------------
    "serve-artifact-missing": (["serve", "{tmp}/no_artifact"], ["no_artifact"]),
    "serve-not-an-artifact": (["serve", "{not_artifact}"], ["not_artifact"]),
    "serve-broken-meta": (["serve", "{broken_meta}"], ["broken_meta/tunelab.json"]),
    "serve-no-weights": (["serve", "{no_weights}"], ["no_weights", "weights"]),
    "serve-truncated-weights": (["serve", "{truncated}"], ["truncated/model.safetensors"]),
    "serve-port-out-of-range": (["serve", "{clf}", "--port", "70000"], ["--port"]),
    "serve-port-not-a-number": (["serve", "{clf}", "--port", "http"], ["--port"]),
    "serve-api-key-file-missing": (["serve", "{clf}", "--api-key-file", "{tmp}/keys.txt"], ["keys.txt"]),
    "serve-api-key-file-empty": (["serve", "{clf}", "--api-key-file", "{keys_empty}"], ["keys_empty.txt"]),
    "serve-remote-without-keys": (["serve", "{clf}", "--host", "0.0.0.0"], ["0.0.0.0"]),
    "serve-unknown-backend": (["serve", "{clf}", "--backend", "tensorrt"], ["backend"]),
    "serve-unknown-dtype": (["serve", "{clf}", "--dtype", "float8"], ["dtype"]),
    "serve-zero-max-texts": (["serve", "{clf}", "--max-texts", "0"], ["--max-texts"]),
    # -- check (the same config and data checks as train, without training) -------------------
    "check-config-missing": (["check", "{tmp}/nope.yaml"], ["nope.yaml"]),
    "check-config-unknown-key": (["check", "{cfg_typo}"], ["training.lerning_rate"]),
    "check-data-missing": (["check", "{cfg_missing_train}"], ["nowhere.csv", "not found"]),
    "check-data-bad-json": (["check", "{cfg_bad_json_train}"], ["bad.jsonl:2"]),
    "check-data-empty-text": (["check", "{cfg_empty_text_train}"], ["empty_text.csv:3", "text"]),
    "check-json-is-the-config": (["check", "{cfg_ok}", "--json", "{cfg_ok}"], ["ok.yaml"]),
    "check-data-three-bad-rows": (
        ["check", "{cfg_three_bad_rows}"],
        ["three_bad_rows.csv:3", "three_bad_rows.csv:4", "three_bad_rows.csv:5"],
    ),
    "check-data-semicolons": (["check", "{cfg_semicolons}"], ["semicolons.csv:3", "separated by semicolon"]),
    "check-data-unknown-codec": (["check", "{cfg_bad_codec}"], ["no-such-codec", "data.encoding"]),
    "check-data-codec-for-unknown-split": (["check", "{cfg_bad_codec_split}"], ["data.encoding", "training"]),
    "check-data-unknown-pii-type": (["check", "{cfg_bad_pii}"], ["data.mask_pii", "passport"]),
    "check-data-bad-delimiter": (["check", "{cfg_bad_delimiter}"], ["data.delimiter"]),
    "check-json-exists": (["check", "{cfg_ok}", "--json", "{existing}"], ["existing.jsonl", "--overwrite"]),
    # -- train: resuming and restarting ---------------------------------------------------------
    "train-resume-nothing": (["train", "{cfg_ok}", "-o", "{tmp}/never_ran", "--resume"], ["nothing to resume"]),
    "train-resume-no-checkpoint": (
        ["train", "{cfg_ok}", "-o", "{run_no_checkpoint}", "--resume"],
        ["no_checkpoint.partial", "before its first checkpoint"],
    ),
    "train-resume-changed-batch-size": (
        ["train", "{cfg_ok}", "-o", "{run_changed_batch}", "--resume", "--allow-changes"],
        ["training.batch_size: 4 -> 32", "--restart"],
    ),
    "train-resume-changed-data": (
        ["train", "{cfg_ok}", "-o", "{run_changed_data}", "--resume"],
        ["data (train): file {train} has other contents"],
    ),
    "train-resume-more-epochs-not-allowed": (
        ["train", "{cfg_ok}", "-o", "{run_more_epochs}", "--resume"],
        ["training.epochs: 1.0 -> 5.0", "--allow-changes"],
    ),
    "train-resume-other-process-count": (
        ["train", "{cfg_ok}", "-o", "{run_other_processes}", "--resume"],
        ["processes: 4 -> 1"],
    ),
    "train-resume-damaged-record": (
        ["train", "{cfg_ok}", "-o", "{run_damaged_record}", "--resume"],
        ["damaged_record.partial/run.json", "--restart"],
    ),
    "train-new-run-keeps-the-checkpoint": (
        ["train", "{cfg_ok}", "-o", "{run_resumable}"],
        ["resumable.partial/checkpoints/step-00000005", "--resume", "--restart"],
    ),
    "train-foreign-scratch-directory": (["train", "{cfg_ok}", "-o", "{run_foreign}"], ["foreign.partial"]),
    "train-resume-and-restart": (["train", "{cfg_ok}", "--resume", "--restart"], ["--resume", "--restart"]),
    "train-allow-changes-without-resume": (["train", "{cfg_ok}", "--allow-changes"], ["--allow-changes"]),
    "train-checkpoint-keep-zero": (["train", "{cfg_checkpoint_keep}"], ["training.checkpoint.keep"]),
}


def _fill(args: list[str], world: dict[str, str]) -> list[str]:
    return [a.format(**world) for a in args]


@pytest.fixture
def no_server(monkeypatch):
    """A serve case that passed every check would start a server; fail it instead of hanging."""
    import tunelab.serve.app as serve_app

    def started(*_args, **_kwargs):
        raise AssertionError("the server started: this input was not refused")

    monkeypatch.setattr(serve_app, "run", started)


def run_main(monkeypatch, capsys, args: list[str], stdin: bytes = b"") -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tunelab", *args])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    monkeypatch.delenv("TUNELAB_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), captured.out + captured.err


def test_the_catalogue_is_large_enough():
    commands = {args[0] for args, _ in CASES.values()}
    assert len(CASES) >= 40
    assert {"train", "evaluate", "predict", "export", "serve", "check"} <= commands


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_clear_message(case, world, monkeypatch, capsys, no_server):
    args, expected = CASES[case]
    before = {name: Path(world[name]).read_bytes() for name in ("existing", "dev", "inputs")}
    code, output = run_main(monkeypatch, capsys, _fill(args, world))
    assert code == 2, output
    assert "Traceback" not in output
    for text in expected:
        assert text.format(**world) in output, f"{text!r} not in {output!r}"
    # no refused command touches an input or an existing file
    assert before == {name: Path(world[name]).read_bytes() for name in before}


def test_bad_stdin_names_the_line(world, monkeypatch, capsys):
    code, output = run_main(monkeypatch, capsys, ["predict", world["clf"], "-i", "-"], stdin=b"fine\nbad \xff\n")
    assert code == 2 and "<stdin>:2" in output and "utf-8" in output and "Traceback" not in output


def test_stdin_jsonl_error_names_stdin_and_line(world, monkeypatch, capsys):
    lines = b'{"text": "fine"}\n{"text": ""}\n'
    code, output = run_main(monkeypatch, capsys, ["predict", world["clf"], "-i", "-", "-o", "-"], stdin=lines)
    assert code == 2 and "<stdin>:2" in output and "text" in output
    assert world["tmp"] not in output and "tunelab-stdin" not in output  # not the temporary file


# -- the installed entry point -------------------------------------------------------------------
SUBPROCESS_CASES = ["train-config-unknown-key", "evaluate-truncated-weights", "predict-output-is-the-input"]


@pytest.mark.skipif(not TUNELAB.is_file(), reason="the tunelab console script is not installed in this environment")
@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_entry_point(case, world):
    args, expected = CASES[case]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TUNELAB_DEBUG", None)
    result = subprocess.run(
        [str(TUNELAB), *_fill(args, world)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text.format(**world) in result.stderr
    assert result.stderr.startswith("error: ")  # the message, nothing before it (config errors list every key)


def test_entry_point_debug_shows_the_traceback(world):
    if not TUNELAB.is_file():
        pytest.skip("the tunelab console script is not installed in this environment")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNELAB_DEBUG": "1"}
    result = subprocess.run(
        [str(TUNELAB), "predict", world["truncated"], "hello"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "truncated/model.safetensors" in result.stderr.splitlines()[-1]
