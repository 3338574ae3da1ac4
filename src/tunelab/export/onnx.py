"""`tunelab export`: a trained artifact to ONNX (fused, optionally int8), checked against the torch
model on dev data. The export holds model.onnx, tokenizer, config.json, tunelab.json (with an
``export`` section), parity.json and the model card, no torch weights (``tunelab.load`` runs it on
onnxruntime). A failed or refused export leaves nothing at the output path."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunelab.artifact import (
    ArtifactMeta,
    artifact_path,
    check_output_dir,
    examples_fingerprint,
    portable_path,
    publish,
    read_meta,
    relocate,
    write_json,
    write_meta,
)
from tunelab.config import parse_data_config, parse_task_config
from tunelab.errors import TunelabError
from tunelab.files import check_writable_dir
from tunelab.inference.predictor import Predictor, TorchBackend
from tunelab.workflow.card import adapt_card

OPSET = 17
PARITY_FILE = "parity.json"
QUANTIZE_CHOICES = ("int8",)
# config.model_type -> the model_type of onnxruntime.transformers.optimizer (BERT-like encoders).
ORT_MODEL_TYPES = {
    "bert": "bert",
    "roberta": "bert",
    "xlm-roberta": "bert",
    "camembert": "bert",
    "distilbert": "bert",
    "electra": "bert",
}
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
)
BATCH1_CALLS, BATCH32_CALLS, BATCH = 50, 5, 32


class ExportError(TunelabError):
    """An export that cannot be made or does not keep the model's quality."""


def export_onnx(
    artifact: str | Path,
    output_dir: str | Path,
    *,
    quantize: str | None = None,
    optimize: bool = True,
    max_metric_drop: float = 1.0,
    force: bool = False,
    data: str | Path | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Export ``artifact`` to ``output_dir`` and return the parity report (also in parity.json).

    ``quantize="int8"`` quantises the weights (ONNX Runtime dynamic quantisation); ``optimize``
    applies ONNX Runtime's transformer fusions (BERT-like models). The exported model's dev metric
    may fall at most ``max_metric_drop`` points below torch's unless ``force``."""
    log = log or (lambda message: None)
    artifact, output = Path(artifact), Path(output_dir)
    quantize = _check_quantize(quantize)
    meta = read_meta(artifact)
    if meta.export:
        raise ExportError(
            f"{artifact} is already an export ({meta.export.get('format')}); "
            f"export the trained artifact it came from ({meta.export.get('source')})"
        )
    if output.resolve() == artifact.resolve():
        raise ExportError("the export directory must differ from the artifact; choose another -o")
    if artifact.resolve().is_relative_to(output.resolve()):
        raise ExportError(f"-o {output} holds the artifact {artifact}; replacing it would delete the artifact")
    check_output_dir(output, overwrite)
    check_writable_dir(output.parent, what=str(output))  # before minutes of work, not after
    torch_predictor = Predictor.from_artifact(artifact, backend="torch", device="cpu")
    examples, data_info = dev_examples(torch_predictor, meta, data, artifact)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.export-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        notes: list[str] = []
        work = staging / ".work"
        work.mkdir()
        log(f"exporting to ONNX (opset {OPSET})")
        onnx_path = work / "model.onnx"
        config, torch_bytes = _to_onnx(artifact, torch_predictor, onnx_path, examples)
        optimized, fused = False, dict[str, int]()
        if optimize:
            log("optimizing the graph (onnxruntime transformer fusions)")
            onnx_path, fused, note = _optimize(onnx_path, work / "model.opt.onnx", config)
            optimized = note is None
            notes += [note] if note else []
        if quantize == "int8":
            log("quantizing weights to int8")
            onnx_path = _quantize_int8(onnx_path, work / "model.int8.onnx")
        shutil.move(str(onnx_path), staging / "model.onnx")
        shutil.rmtree(work)
        for name in (*TOKENIZER_FILES, *torch_predictor.task.task_files()):  # + the task's own files
            if (artifact / name).is_file():
                shutil.copy2(artifact / name, staging / name)
        config.save_pretrained(staging)  # the exported model's config (adapter artifacts have none)
        export_info = {
            "format": "onnx",
            "quantize": quantize,
            "optimized": optimized,
            "opset": OPSET,
            "source": portable_path(artifact, output),
            "fused_operators": fused,
            "notes": notes,
            "outputs": list(torch_predictor.task.output_names),
        }
        meta = relocate(meta, artifact, output)  # recorded paths: relative to the export now
        write_meta(meta.model_copy(update={"export": export_info}), staging)

        log(f"checking parity on {len(examples)} examples ({data_info['source']})")
        onnx_predictor = Predictor.from_artifact(staging, device="cpu")
        report = parity_report(torch_predictor, onnx_predictor, examples)
        if "file" in data_info:
            data_info = {**data_info, "file": portable_path(data_info["file"], output)}
        report.update(
            data=data_info,
            quantize=quantize,
            optimized=optimized,
            notes=notes,
            size_mb={"torch": round(torch_bytes / 1e6, 2), "onnx": _mb(staging / "model.onnx")},
        )
        report["gate"] = _gate(report, max_metric_drop, force, output)
        write_json(report, staging / PARITY_FILE)
        write_meta(meta.model_copy(update={"export": {**export_info, "parity": _summary(report)}}), staging)
        _write_card(artifact / "README.md", staging / "README.md", report, export_info)
        publish(staging, output, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _gate(report: dict[str, Any], max_metric_drop: float, force: bool, output: Path) -> dict[str, Any]:
    """The quality gate: refuse (ExportError with the numbers) when the metric drops too far."""
    m, drop = report["metric"], report["metric"]["drop_points"]
    if drop > max_metric_drop and not force:
        hint = ", or export without --quantize" if report["quantize"] else ""
        raise ExportError(
            f"the ONNX export loses {drop:.2f} points of {m['name']} on {report['data']['num_examples']} examples "
            f"({report['data']['source']}): torch {m['torch']:.4f} -> onnx {m['onnx']:.4f}, allowed drop "
            f"{max_metric_drop:.2f}; predictions agree on {report['agreement']:.2%} of {report['agreement_unit']}, "
            f"largest output difference {report['max_abs_output_diff']:.4g}. {output} was not written. "
            f"Pass --force to export anyway or raise --max-drop{hint}."
        )
    return {"max_metric_drop": max_metric_drop, "passed": drop <= max_metric_drop, "forced": force}


def _check_quantize(quantize: str | None) -> str | None:
    value = None if quantize is None or str(quantize).lower() in ("none", "fp32", "") else str(quantize).lower()
    if value is not None and value not in QUANTIZE_CHOICES:
        raise ExportError(f"unknown quantization '{quantize}'; choose one of: {', '.join(QUANTIZE_CHOICES)} (or none)")
    return value


def dev_examples(
    predictor: Predictor, meta: ArtifactMeta, data: str | Path | None, artifact: str | Path
) -> tuple[list[Any], dict[str, Any]]:
    """The labelled examples the parity check runs on: ``data``, else the artifact's dev file, else
    the dev examples carved from the training file, found by the lines the artifact recorded
    (format-1 artifacts, which recorded none, carve the split again from the same settings).
    Recorded paths are relative to the artifact (absolute in older artifacts)."""
    task = predictor.task
    files = {name: str(artifact_path(ref.path, artifact)) for name, ref in meta.data.files.items()}
    dev_lines = meta.data.dev_lines
    info: dict[str, Any]
    if data is not None:
        if not Path(data).is_file():
            raise ExportError(f"--data file not found: {data}")
        examples, info = task.read_file(data, meta), {"source": "--data", "file": str(data)}
    elif "dev" in files and Path(files["dev"]).is_file():
        examples, info = task.read_file(files["dev"], meta), {"source": "dev file", "file": files["dev"]}
    elif "train" in files and Path(files["train"]).is_file() and meta.data.dev_source == "split":
        train_path = files["train"]
        if dev_lines is not None:
            by_line = {ex.line: ex for ex in task.read_file(train_path, meta)}
            examples = [by_line[line] for line in dev_lines if line in by_line]
        else:
            config = parse_task_config(meta.task.config)
            recorded = dict(meta.data_config)
            for split in ("train", "dev", "test"):
                if recorded.get(split):
                    recorded[split] = str(artifact_path(recorded[split], artifact))
            splits = type(task).read_splits(parse_data_config(config.name, recorded), config)
            examples = list(splits.dev)
        info = {"source": "dev carved from train", "file": train_path}
    else:
        where = files.get("dev", files.get("train"))
        raise ExportError(
            f"no dev data to check the export against ({where or 'the training data'} "
            "is not there); pass --data FILE with labelled examples in the training format"
        )
    if not examples:
        raise ExportError(f"{info['file']} has no examples to check the export against; pass --data FILE")
    task.check_known(examples, "parity data")
    expected = meta.data.fingerprint.get("dev")
    info.update(
        num_examples=len(examples),
        same_as_training_dev=None if expected is None else examples_fingerprint(examples) == expected,
    )
    return examples, info


class _Outputs(torch.nn.Module):
    """Positional inputs in, the task's outputs as a tuple out: the signature torch.onnx.export traces."""

    def __init__(self, model, task, names: Sequence[str]) -> None:
        super().__init__()
        self.model, self.task, self.names = model, task, tuple(names)

    def forward(self, *tensors):
        outputs = self.task.outputs(self.model(**dict(zip(self.names, tensors))))
        return tuple(outputs[name] for name in self.task.output_names)


def _export_model(artifact: Path, predictor: Predictor):
    """A fresh copy of the artifact's torch model to trace: PEFT adapters merged where the method
    allows, eager attention (the pattern ORT's attention fusion recognises). Returns it and the
    transformers model inside it."""
    from transformers import PreTrainedModel

    model = TorchBackend.from_artifact(artifact, predictor.task, predictor.meta, "cpu").model
    if hasattr(model, "merge_and_unload"):  # LoRA, IA3, AdaLoRA; prompt learning cannot merge: traced as is
        with contextlib.suppress(Exception):
            model = predictor.task.prepare_model(model.merge_and_unload())  # hooks again on the merged modules
    hf = next((m for m in model.modules() if isinstance(m, PreTrainedModel)), None)
    if hf is None:
        raise ExportError(f"cannot export {type(model).__name__}: no transformers model inside it")
    with contextlib.suppress(Exception):  # else the default attention: the optimizer may fuse less
        hf.set_attn_implementation("eager")
    return model.eval(), hf


def _to_onnx(artifact: Path, predictor: Predictor, path: Path, examples: Sequence[Any]):
    """TorchScript export (opset 17) with dynamic batch and sequence axes, traced on a batch of the
    parity examples (so any input a task adds is there); returns the exported model's config and
    its weights' size in bytes."""
    model, hf = _export_model(artifact, predictor)
    task = predictor.task
    accepted = inspect.signature(hf.forward).parameters
    batch = predictor.collator([predictor.encode(list(examples[:2]))[i] for i in range(min(2, len(examples)))])
    names = [n for n in task.input_names if n in batch and (n in accepted or "kwargs" in accepted)]
    if "input_ids" not in names:
        raise ExportError(f"cannot export {type(hf).__name__}: it does not take input_ids")
    args = tuple(batch[n] for n in names)
    # inputs are (batch, sequence) unless the task says otherwise (relation extraction's entity
    # positions: a fixed number per text)
    input_axes = getattr(task, "input_axes", {})
    axes = {n: dict(input_axes.get(n, {0: "batch", 1: "sequence"})) for n in names}
    for name in task.output_names:
        axes[name] = {0: "batch", 1: "sequence"} if name in task.sequence_keys else {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _Outputs(model, task, names),
                args,
                str(path),
                input_names=names,
                output_names=list(task.output_names),
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        except Exception as exc:
            raise ExportError(f"torch.onnx.export failed for {type(hf).__name__}: {exc}") from exc
    return hf.config, sum(p.numel() * p.element_size() for p in model.parameters())


def _optimize(source: Path, target: Path, config) -> tuple[Path, dict[str, int], str | None]:
    """ONNX Runtime's transformer fusions (attention, layer norm, GELU); skipped with a note for
    architectures it does not know or when it fails."""
    model_type = ORT_MODEL_TYPES.get(getattr(config, "model_type", ""))
    if model_type is None:
        return source, {}, f"graph optimizer skipped: onnxruntime has no fusions for model_type '{config.model_type}'"
    from onnxruntime.transformers.optimizer import optimize_model

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", 0)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "dim", 0)
    try:
        optimized = optimize_model(str(source), model_type=model_type, num_heads=heads, hidden_size=hidden)
        optimized.save_model_to_file(str(target))
    except Exception as exc:  # the optimizer raises assorted errors on graphs it does not expect
        return source, {}, f"graph optimizer skipped: it failed ({type(exc).__name__}: {exc})"
    fused = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    return target, fused, None


def _quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic quantisation: int8 weights, activations quantised at run time. Per-tensor (per-channel
    did not measurably help on BANKING77 and makes the graph larger)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level, root.level = root.level, max(root.level, logging.ERROR)  # hush "consider pre-processing"
    try:
        # Fused ops (com.microsoft domain) defeat ONNX shape inference: their outputs are float.
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=False,
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    except Exception as exc:
        raise ExportError(f"int8 quantization failed: {exc}; export without --quantize") from exc
    finally:
        root.setLevel(level)
    return target


def parity_report(reference: Predictor, candidate: Predictor, examples: Sequence[Any]) -> dict[str, Any]:
    """Task metric, prediction agreement and largest output difference of two predictors on the
    same encoded examples, plus their latency (batch 1) and throughput (batch 32)."""
    task, encoded, encoded_export = reference.task, reference.encode(examples), candidate.encode(examples)
    if encoded_export.input_ids != encoded.input_ids:
        raise ExportError(
            "the export's tokenizer files encode the data differently from the artifact's; "
            "check the artifact's tokenizer files and export again"
        )
    scorers = {"torch": task.scorer(encoded), "onnx": task.scorer(encoded_export)}
    items: dict[str, list[Any]] = {"torch": [None] * len(encoded), "onnx": [None] * len(encoded)}
    max_diff = 0.0
    for (indices, before), (_, after) in zip(reference.batches(encoded), candidate.batches(encoded_export)):
        for side, outputs in (("torch", before), ("onnx", after)):
            decoded = task.decode_batch(encoded, indices, outputs)
            scorers[side].add(indices, decoded)
            for i, item in zip(indices, decoded):
                items[side][i] = item
        for a, b in zip(task.unbatch(encoded, indices, before), task.unbatch(encoded, indices, after)):
            for name in a:
                if a[name].size:
                    max_diff = max(max_diff, float(np.abs(a[name] - b[name]).max()))
    metrics = {side: scorer.result() for side, scorer in scorers.items()}
    name = task.default_metric
    agree, total, unit = task.agreement(encoded, items["torch"], items["onnx"])
    report: dict[str, Any] = {
        "metric": {
            "name": name,
            "torch": metrics["torch"][name],
            "onnx": metrics["onnx"][name],
            "drop_points": round(_drop(task, name, metrics["torch"][name], metrics["onnx"][name]), 4),
        },
        "agreement": agree / total if total else 1.0,
        "agreement_unit": unit,
        "agreeing": agree,
        "compared": total,
        "max_abs_output_diff": max_diff,
        "max_abs_logit_diff": max_diff,
        "metrics": {k: {n: v for n, v in m.items() if isinstance(v, (int, float))} for k, m in metrics.items()},
    }
    # Timings depend on what else runs: the 1-minute load average before them says how busy the CPU was.
    report["bench"] = {"threads": torch.get_num_threads(), "load_average": round(os.getloadavg()[0], 2)}
    speed = {"torch": _speed(reference, examples), "onnx": _speed(candidate, examples)}
    report["latency_ms"] = {k: v["latency_ms"] for k, v in speed.items()}
    report["throughput"] = {k: v["throughput"] for k, v in speed.items()}
    report["throughput"]["ratio"] = round(report["throughput"]["onnx"] / report["throughput"]["torch"], 3)
    return report


def _drop(task, name: str, before: float, after: float) -> float:
    """How many points the export loses on the metric (100 x the change, in the bad direction)."""
    sign = -1.0 if task.metric_directions.get(name, "max") == "min" else 1.0
    return 100 * sign * (before - after)


def _speed(predictor: Predictor, examples: Sequence[Any]) -> dict[str, Any]:
    """p50/p95 of single-text calls (tokenisation included) and samples/s over batches of 32; bounded work."""

    def timed(items) -> float:
        start = time.perf_counter()
        predictor.items_for(predictor.encode(items))
        return time.perf_counter() - start

    pick = lambda i: examples[i % len(examples)]  # noqa: E731
    size, predictor.batch_size = predictor.batch_size, BATCH
    try:
        for i in range(3):
            timed([pick(i)])  # warm-up: allocators, thread pools, lazy initialisation
        singles = [timed([pick(i)]) for i in range(BATCH1_CALLS)]
        timed([pick(i) for i in range(BATCH)])
        batches = sum(timed([pick(k * BATCH + i) for i in range(BATCH)]) for k in range(BATCH32_CALLS))
    finally:
        predictor.batch_size = size
    p50, p95 = np.percentile(np.asarray(singles) * 1000, [50, 95])
    return {
        "latency_ms": {"p50": round(float(p50), 3), "p95": round(float(p95), 3)},
        "throughput": round(BATCH * BATCH32_CALLS / batches, 1),
    }


def _mb(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 2)


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        k: report[k]
        for k in (
            "metric",
            "agreement",
            "agreement_unit",
            "max_abs_output_diff",
            "max_abs_logit_diff",
            "latency_ms",
            "throughput",
            "size_mb",
            "gate",
        )
    }


def _write_card(source: Path, target: Path, report: dict[str, Any], export: dict[str, Any]) -> None:
    """The artifact's model card, tagged onnx, with a section on the export appended."""
    card = source.read_text(encoding="utf-8").rstrip("\n") if source.is_file() else "# tunelab model"
    card = adapt_card(card, library_name="onnx", add_tags=["onnx"])
    target.write_text(card + "\n\n" + export_card_section(report, export), encoding="utf-8")


def export_card_section(report: dict[str, Any], export: dict[str, Any]) -> str:
    m, lat, thr = report["metric"], report["latency_ms"], report["throughput"]
    kind = f"{'int8-quantised' if export['quantize'] else 'fp32'}{', fused graph' if export['optimized'] else ''}"
    forced = " (exported with --force: above the allowed drop)" if not report["gate"]["passed"] else ""
    outputs = ", ".join(f"`{n}`" for n in export.get("outputs", ["logits"]))
    latency = {k: f"{lat[k]['p50']:.1f} / {lat[k]['p95']:.1f}" for k in ("torch", "onnx")}
    return f"""## ONNX export

An ONNX export ({kind}, opset {export["opset"]}) of `{export["source"]}` made by `tunelab export`, without
PyTorch weights: `tunelab.load(...)` runs it on onnxruntime (plain transformers loads the source artifact).
Inputs `input_ids`, `attention_mask` (and `token_type_ids` if the model takes them), int64, (batch, sequence);
outputs {outputs}.

Parity with the torch model on {report["data"]["num_examples"]} examples ({report["data"]["source"]}){forced}:

| | torch | onnx |
|---|---|---|
| {m["name"]} | {m["torch"]:.4f} | {m["onnx"]:.4f} |
| latency p50 / p95, batch 1 (ms) | {latency["torch"]} | {latency["onnx"]} |
| throughput, batch 32 (samples/s) | {thr["torch"]:.0f} | {thr["onnx"]:.0f} |
| model size (MB) | {report["size_mb"]["torch"]:.1f} | {report["size_mb"]["onnx"]:.1f} |

Predictions agree on {report["agreement"]:.2%} of {report["agreement_unit"]}; the largest output difference is
{report["max_abs_output_diff"]:.3g}. The full numbers are in `parity.json`.
"""
