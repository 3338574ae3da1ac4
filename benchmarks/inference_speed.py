"""Inference speed: tunelab's Predictor backends against the strongest settings of the incumbents.

Contenders, all on the same trained classification artifact and the same texts, CPU only. The
incumbents, what a Hugging Face user runs without tunelab:

  pipeline       transformers.pipeline("text-classification", model=ARTIFACT, device=-1) in fp32, the
                 default: batch 1 is `pipe(text)`, batch 32 is `pipe(texts, batch_size=32)` (context);
  pipeline_bf16  the same with dtype=torch.bfloat16: the pipeline's strongest setting on a CPU with
                 native bf16;
  ort_direct     the most direct way to ONNX Runtime without tunelab: the artifact's transformers
                 model (eager attention, which ORT ran faster than the sdpa graph here) exported with
                 torch.onnx.export (TorchScript exporter, opset 17, dynamic batch and sequence axes)
                 into a temporary directory, run by onnxruntime.InferenceSession (default graph
                 optimisations, torch's thread count), the artifact's tokenizer padding each batch of
                 32 texts (input order) to its longest text, truncation on; argmax -> config.id2label.
                 The export counts as load time. Not optimum's ORTModelForSequenceClassification:
                 optimum-onnx 0.1.0 (the latest) requires transformers<4.58 and would downgrade this
                 environment's transformers 5.x, so it is not used.

and tunelab:

  torch_fp32     tunelab.load(ARTIFACT, backend="torch") -- the reference for agreement;
  torch_bf16     the same with the weights cast to bfloat16 (what `tunelab serve --dtype bfloat16` does);
  onnx_fp32      tunelab.load(EXPORT) of `tunelab export ARTIFACT` (fused graph, fp32);
  onnx_int8      the same with `--quantize int8`.

The headline is against the strongest setting of each incumbent: ratio_vs_pipeline_bf16 and
ratio_vs_ort_direct are the batch-32 ("list") throughput of the fastest tunelab backend whose
agreement with torch_fp32 is at least 99%, divided by pipeline_bf16's and ort_direct's; with them
the share of texts on which that backend and the incumbent predict the same label. The fp32
pipeline stays as context (throughput_ratio, best_throughput_ratio and the other existing keys).

    python benchmarks/inference_speed.py [--artifact DIR] [--texts FILE] [--num-texts 1000]
        [--latency-calls 200] [--rounds 2] [--export-dir DIR] [--json OUT]

Figures per contender: batch-1 latency p50/p95 (one call per text, tokenisation and decoding
included), batch-32 throughput, peak RSS, and agreement: the share of texts whose predicted label
(argmax) equals torch fp32's. Throughput is measured two ways, each the best of --rounds:

  list     the whole list of texts in one call with batch size 32, as each API is meant to be used
           (`pipe(texts, batch_size=32)`, `predictor.predict(texts)` with batch_size=32, ort_direct
           32 texts per session run); tunelab's Predictor groups texts of similar length into its
           batches (and restores the order), the pipeline and ort_direct batch them in input order.
           This is the headline figure.
  chunked  32 texts per call, in input order, for all: the same batches for every contender.

--artifact defaults to runs/banking77 (what `make demo` writes) when it exists; otherwise a quick
BANKING77 model (1 epoch, about 2-3 minutes on 2 cores) is trained once into
runs/bench-inference-banking77 and reused afterwards. The texts default to the artifact's dev file.
ONNX exports go to a temporary directory unless --export-dir is given (then they are reused when
they were exported from the same artifact). Every contender runs in its own subprocess, one after
the other, with torch's default thread count (onnxruntime uses the same number).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    WORKER_ENV,
    WorkerError,
    add_common_arguments,
    busy_note,
    fmt,
    machine_info,
    quantile,
    run_worker,
    write_result,
)

BACKENDS = ("pipeline", "pipeline_bf16", "ort_direct", "torch_fp32", "torch_bf16", "onnx_fp32", "onnx_int8")
INCUMBENTS = ("pipeline", "pipeline_bf16", "ort_direct")  # everything else is tunelab
HEADLINE = ("pipeline_bf16", "ort_direct")  # the strongest setting of each incumbent
LABELS = {
    "pipeline": "HF pipeline fp32",
    "pipeline_bf16": "HF pipeline bf16",
    "ort_direct": "HF model -> ORT, direct",
    "torch_fp32": "tunelab torch fp32",
    "torch_bf16": "tunelab torch bf16",
    "onnx_fp32": "tunelab onnx fp32",
    "onnx_int8": "tunelab onnx int8",
}
REFERENCE = "torch_fp32"
OPSET = 17  # ort_direct's export; the opset tunelab's export uses too
BATCH = 32
EXPORTS = {"onnx_fp32": ("onnx-fp32", None), "onnx_int8": ("onnx-int8", "int8")}
DEMO_ARTIFACT = ROOT / "runs" / "banking77"
QUICK_ARTIFACT = ROOT / "runs" / "bench-inference-banking77"


# ---------------------------------------------------------------------------------------------
# workers (run in subprocesses)
# ---------------------------------------------------------------------------------------------
def worker_export(spec: dict[str, Any]) -> dict[str, Any]:
    """`tunelab export` through its Python function, fp32 and int8. --force: the benchmark wants
    the figures even when the quality gate would refuse the export (the gate result is reported)."""
    from tunelab.export.onnx import export_onnx

    out: dict[str, Any] = {}
    for name in spec["exports"]:
        folder, quantize = EXPORTS[name]
        target = Path(spec["export_dir"]) / folder
        started = time.perf_counter()
        report = export_onnx(
            spec["artifact"],
            target,
            quantize=quantize,
            force=True,
            overwrite=True,
            log=lambda message: print(message, file=sys.stderr, flush=True),
        )
        out[name] = {
            "path": str(target),
            "seconds": round(time.perf_counter() - started, 1),
            "metric": report["metric"],
            "agreement": report["agreement"],
            "gate": report["gate"],
            "optimized": report["optimized"],
            "size_mb": report["size_mb"],
            "notes": report.get("notes", []),
        }
    return out


def ort_direct(artifact: str) -> tuple[Any, Any, dict[str, Any]]:
    """The plain Hugging Face -> ONNX Runtime path, without tunelab or optimum: torch.onnx.export of
    the transformers model, an InferenceSession, the HF tokenizer, argmax -> id2label. Returns the
    contender's one() and many() and its details; the export is part of the caller's load time."""
    import inspect
    import warnings

    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(artifact)
    model = AutoModelForSequenceClassification.from_pretrained(artifact, attn_implementation="eager").eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    sample = tokenizer(
        ["How do I top up my card?", "My card payment was declined twice today."],
        padding=True,
        truncation=True,
        return_tensors="pt",
    )
    # positional inputs in the order forward() takes them (not the tokenizer's key order)
    names = [n for n in inspect.signature(model.forward).parameters if n in sample]
    folder = Path(tempfile.mkdtemp(prefix="ort-direct-"))
    try:
        path = folder / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                tuple(sample[n] for n in names),
                str(path),
                input_names=names,
                output_names=["logits"],
                dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}},
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,  # the dynamo exporter needs onnxscript, which this environment lacks
            )
        export_seconds = time.perf_counter() - started
        size_mb = round(path.stat().st_size / 2**20, 1)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # ORT's default
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    del model
    inputs = [node.name for node in session.get_inputs()]

    def many(items: list[str]) -> list[str]:
        labels: list[str] = []
        for j in range(0, len(items), BATCH):  # input order, each batch padded to its longest text
            encoded = tokenizer(items[j : j + BATCH], padding=True, truncation=True, return_tensors="np")
            logits = session.run(["logits"], {n: encoded[n].astype(np.int64) for n in inputs})[0]
            labels.extend(id2label[int(i)] for i in logits.argmax(axis=-1))
        return labels

    def one(text: str) -> Any:
        return many([text])

    try:
        import optimum  # noqa: F401

        optimum_installed = True
    except ImportError:
        optimum_installed = False
    details = {
        "ort_path": "plain: torch.onnx.export (dynamic batch/sequence axes) + onnxruntime.InferenceSession",
        "why_not_optimum": "optimum-onnx 0.1.0 requires transformers<4.58; installing it would downgrade transformers",
        "optimum_installed": optimum_installed,
        "exporter": "torchscript",
        "opset": OPSET,
        "attention": "eager",
        "inputs": inputs,
        "graph_optimization": "ORT_ENABLE_ALL",
        "export_seconds": round(export_seconds, 2),
        "onnx_size_mb": size_mb,
        "dtype": "float32",
        "onnxruntime": ort.__version__,
        "intra_op_threads": options.intra_op_num_threads,
    }
    return one, many, details


def worker_backend(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    kind = spec["kind"]
    texts: list[str] = json.loads(Path(spec["texts_file"]).read_text())
    started = time.perf_counter()
    if kind == "ort_direct":
        one, many, details = ort_direct(spec["artifact"])
    elif kind in ("pipeline", "pipeline_bf16"):
        from transformers import pipeline

        extra = {"dtype": torch.bfloat16} if kind == "pipeline_bf16" else {}  # fp32: the default call, unchanged
        pipe = pipeline("text-classification", model=spec["artifact"], tokenizer=spec["artifact"], device=-1, **extra)

        def one(text: str) -> Any:
            return pipe(text, truncation=True)

        def many(items: list[str]) -> list[str]:
            return [r["label"] for r in pipe(items, batch_size=BATCH, truncation=True)]

        details = {
            "dtype": str(pipe.model.dtype).removeprefix("torch."),
            "attention": getattr(pipe.model.config, "_attn_implementation", None),
        }
    else:
        import tunelab

        path = spec["artifact"] if kind.startswith("torch") else spec["exports"][kind]
        predictor = tunelab.load(
            path, backend="onnx" if kind.startswith("onnx") else "torch", device="cpu", batch_size=BATCH
        )
        if kind == "torch_bf16":
            predictor.model.to(torch.bfloat16)  # as `tunelab serve --dtype bfloat16`; logits come back as float32

        def one(text: str) -> Any:
            return predictor.predict([text])

        def many(items: list[str]) -> list[str]:
            return list(predictor.predict(items))

        details = {"backend": predictor.backend.name}
        if predictor.model is not None:
            details["dtype"] = str(next(predictor.model.parameters()).dtype).removeprefix("torch.")
    load_seconds = time.perf_counter() - started

    for i in range(5):  # warm-up: allocators, thread pools, oneDNN / ORT kernel selection
        one(texts[i % len(texts)])
    for k in range(2):
        many([texts[(k * BATCH + i) % len(texts)] for i in range(BATCH)])

    latencies = []
    for i in range(spec["latency_calls"]):
        t0 = time.perf_counter()
        one(texts[i % len(texts)])
        latencies.append(time.perf_counter() - t0)

    best_list, predictions = float("inf"), None
    for _ in range(spec["rounds"]):
        t0 = time.perf_counter()
        predictions = many(texts)
        best_list = min(best_list, time.perf_counter() - t0)
    best_chunked = float("inf")
    for _ in range(spec["rounds"]):
        t0 = time.perf_counter()
        for j in range(0, len(texts), BATCH):
            many(texts[j : j + BATCH])
        best_chunked = min(best_chunked, time.perf_counter() - t0)

    return {
        "backend": kind,
        **details,
        "threads": torch.get_num_threads(),
        "load_seconds": round(load_seconds, 2),
        "latency_calls": len(latencies),
        "latency_p50_ms": round(quantile(latencies, 0.50) * 1000, 2),
        "latency_p95_ms": round(quantile(latencies, 0.95) * 1000, 2),
        "latency_mean_ms": round(sum(latencies) / len(latencies) * 1000, 2),
        "throughput": round(len(texts) / best_list, 1),
        "throughput_chunked": round(len(texts) / best_chunked, 1),
        "num_texts": len(texts),
        "predictions": predictions,
    }


def worker_main(name: str, spec_path: Path, result_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    result = worker_export(spec) if spec["kind"] == "export" else worker_backend(spec)
    write_result(result_path, result)


# ---------------------------------------------------------------------------------------------
# the parent
# ---------------------------------------------------------------------------------------------
def read_meta(artifact: Path) -> dict[str, Any]:
    meta_file = artifact / "tunelab.json"
    if not meta_file.is_file():
        raise SystemExit(f"{artifact} is not a tunelab artifact (no tunelab.json)")
    return json.loads(meta_file.read_text())


def default_artifact(console) -> Path:
    """runs/banking77 when `make demo` made it; else a quick BANKING77 model, trained once and reused."""
    for candidate in (DEMO_ARTIFACT, QUICK_ARTIFACT):
        if (candidate / "tunelab.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    console.print(
        f"no artifact given and none at {DEMO_ARTIFACT}: training a quick BANKING77 model (1 epoch) into "
        f"{QUICK_ARTIFACT} (about 2-3 minutes on 2 cores; reused next time)"
    )
    command = [
        sys.executable,
        "-m",
        "tunelab.cli.app",
        "train",
        str(ROOT / "examples" / "banking77.yaml"),
        "-o",
        str(QUICK_ARTIFACT),
        "--overwrite",
        "--set",
        "training.epochs=1",
    ]
    import os

    done = subprocess.run(command, env={**os.environ, **WORKER_ENV}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training the quick artifact failed:\n{done.stderr[-3000:]}")
    return QUICK_ARTIFACT


def read_texts(path: Path, meta: dict[str, Any], limit: int) -> list[str]:
    from tunelab.data.loading import read_examples

    column = (meta.get("data", {}).get("columns") or {}).get("text")
    try:
        examples = read_examples(path, text_column=column, require_labels=False).examples
    except Exception:  # another file layout: let the reader detect the text column
        examples = read_examples(path, require_labels=False).examples
    texts = [ex.text for ex in examples if ex.text]
    if not texts:
        raise SystemExit(f"no texts in {path}")
    return texts[:limit] if limit and limit > 0 else texts


def reusable_export(folder: Path, artifact: Path) -> bool:
    meta_file = folder / "tunelab.json"
    if not (meta_file.is_file() and (folder / "model.onnx").is_file()):
        return False
    source = (json.loads(meta_file.read_text()).get("export") or {}).get("source")
    return source is not None and Path(source).resolve() == artifact.resolve()


def results_table(results: dict[str, dict[str, Any]], name: str, num_texts: int, latency_calls: int, rounds: int):
    """The printed table: incumbents first, a rule, then tunelab's backends."""
    from rich.table import Table

    def ratio(r: dict[str, Any], key: str) -> str:
        return f"{r[key]:.2f}x" if key in r else "-"

    table = Table(
        "contender",
        "what",
        "p50\nms",
        "p95\nms",
        "batch 32\nsamples/s",
        "vs pipe\nbf16",
        "vs ort\ndirect",
        "vs pipe\nfp32",
        "32-text calls\nsamples/s",
        "vs pipe\nbf16",
        "agree-\nment",
        "peak RSS\nMB",
        title=f"{name}: {num_texts} texts, batch 1 latency ({latency_calls} calls) and batch {BATCH} throughput "
        f"(best of {rounds}); tunelab against the strongest setting of each incumbent",
    )
    for column in table.columns[:2]:
        column.no_wrap = True
    last_incumbent = ([b for b in results if b in INCUMBENTS] or [None])[-1]
    for backend, r in results.items():
        table.add_row(
            backend,
            LABELS[backend],
            fmt(r["latency_p50_ms"]),
            fmt(r["latency_p95_ms"]),
            fmt(r["throughput"]),
            ratio(r, "throughput_ratio_vs_pipeline_bf16"),
            ratio(r, "throughput_ratio_vs_ort_direct"),
            ratio(r, "throughput_ratio"),
            fmt(r["throughput_chunked"]),
            ratio(r, "throughput_chunked_ratio_vs_pipeline_bf16"),
            f"{r['agreement']:.2%}",
            str(r["peak_rss_mb"]),
            end_section=backend == last_incumbent,  # a rule between the incumbents and tunelab
        )
    table.caption = (
        f"agreement: same argmax label as {REFERENCE}; batch 32 = the whole list in one call with batch "
        "size 32 (tunelab groups texts by length, the incumbents batch in input order); 32-text calls = "
        "input order, same batches for all; pipeline_bf16 and ort_direct are the strongest settings of the "
        "incumbents (the headline), the fp32 pipeline is context; ort_direct's export counts as load time "
        f"and its peak RSS includes it; {results[REFERENCE]['threads']} threads"
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--artifact",
        type=Path,
        help="trained text-classification artifact holding a full model (default: runs/banking77, "
        "else a quick BANKING77 model trained once into runs/bench-inference-banking77)",
    )
    parser.add_argument(
        "--texts", type=Path, help="CSV/TSV/JSONL file with the texts (default: the artifact's dev file)"
    )
    parser.add_argument(
        "--num-texts", type=int, default=1000, help="first N texts of the file; 0: all (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-calls", type=int, default=200, help="batch-1 calls timed per contender (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="throughput passes over the texts; the best counts (default: %(default)s)"
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma-separated subset of {', '.join(BACKENDS)}; {REFERENCE} always runs (the reference)",
    )
    parser.add_argument("--export-dir", type=Path, help="keep the ONNX exports here and reuse them on later runs")
    parser.add_argument("--workdir", type=Path, help="keep logs and worker files here")
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args.worker, args.spec, args.result)

    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {', '.join(BACKENDS)}")
    if REFERENCE not in backends:
        backends.insert(0, REFERENCE)
    backends = [b for b in BACKENDS if b in backends]  # fixed order

    artifact = (args.artifact or default_artifact(console)).resolve()
    meta = read_meta(artifact)
    if meta["task"]["name"] != "text_classification" or meta["task"].get("state", {}).get("multi_label"):
        raise SystemExit(
            f"{artifact}: this benchmark compares single-label text classification "
            f"(the pipeline's task); this artifact is {meta['task']['name']}"
        )
    if meta.get("export") or (meta.get("method") or {}).get("stored", "full_model") != "full_model":
        raise SystemExit(
            f"{artifact}: pass a trained artifact holding a full model (the pipeline loads it as a "
            "plain transformers model): method full, or a method saved with merge: true"
        )
    texts_file = args.texts
    if texts_file is None:
        from tunelab.artifact import artifact_path  # recorded paths are relative to the artifact

        files = meta.get("data", {}).get("files", {})
        for split in ("dev", "test", "train"):
            if split in files and artifact_path(files[split]["path"], artifact).is_file():
                texts_file = artifact_path(files[split]["path"], artifact)
                break
        else:
            raise SystemExit("the artifact's data files are not here; pass --texts FILE")
    texts = read_texts(texts_file, meta, args.num_texts)

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tunelab-inference-speed-")) if temporary else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "texts.json").write_text(json.dumps(texts))
    export_dir = (args.export_dir or workdir / "exports").resolve()
    script = Path(__file__).resolve()
    console.print(
        f"artifact {artifact} ({len(meta['labels'])} labels); {len(texts)} texts from {texts_file}; "
        f"contenders {', '.join(backends)}; load average {machine_info()['load_average_1m']}"
    )
    report: dict[str, Any] = {
        "machine": machine_info(),
        "config": {
            "artifact": str(artifact),
            "texts": str(texts_file),
            "num_texts": len(texts),
            "batch_size": BATCH,
            "latency_calls": args.latency_calls,
            "rounds": args.rounds,
            "backends": backends,
        },
    }
    started = time.perf_counter()
    try:
        wanted = [b for b in backends if b in EXPORTS]
        todo = [b for b in wanted if not reusable_export(export_dir / EXPORTS[b][0], artifact)]
        exports = {b: str(export_dir / EXPORTS[b][0]) for b in wanted}
        if todo:
            console.print(f"exporting {', '.join(todo)} with tunelab's export (ONNX, parity check included) ...")
            report["exports"] = run_worker(
                script,
                "export",
                {"kind": "export", "artifact": str(artifact), "export_dir": str(export_dir), "exports": todo},
                workdir / "logs",
                verbose=args.verbose,
                timeout=1800,
            )
            for name, info in report["exports"].items():
                if isinstance(info, dict) and "metric" in info:
                    m = info["metric"]
                    console.print(
                        f"  {name}: {m['name']} torch {m['torch']:.4f} -> onnx {m['onnx']:.4f}, "
                        f"agreement {info['agreement']:.2%}, {info['size_mb']['onnx']} MB, "
                        f"gate {'passed' if info['gate']['passed'] else 'FAILED (forced)'}"
                    )
        results: dict[str, dict[str, Any]] = {}
        for backend in backends:
            console.print(f"timing {backend} ...")
            spec = {
                "kind": backend,
                "artifact": str(artifact),
                "exports": exports,
                "texts_file": str(workdir / "texts.json"),
                "latency_calls": args.latency_calls,
                "rounds": args.rounds,
            }
            results[backend] = run_worker(script, backend, spec, workdir / "logs", verbose=args.verbose, timeout=1800)
            r = results[backend]
            console.print(
                f"  p50 {r['latency_p50_ms']} ms, {r['throughput']} samples/s (list), "
                f"{r['throughput_chunked']} (chunked), peak RSS {r['peak_rss_mb']} MB; other processes "
                f"{fmt(r.get('other_processes_cores'), '.2f')} cores"
            )
            if note := busy_note(r):
                console.print(f"  [yellow]warning:[/] {note}")
    except WorkerError as exc:
        console.print(f"[red]{exc}[/]")
        console.print(f"work directory kept: {workdir}")
        raise SystemExit(1) from None

    def share_same(a: list[str], b: list[str]) -> float:
        return round(sum(x == y for x, y in zip(a, b)) / len(b), 6)

    reference = results[REFERENCE]["predictions"]
    for name, r in results.items():
        r["label"] = LABELS[name]
        same = sum(a == b for a, b in zip(r["predictions"], reference))
        r["agreement"] = round(same / len(reference), 6)
        r["agreeing"] = same
    base = results.get("pipeline")
    for r in results.values():
        if base:
            r["throughput_ratio"] = round(r["throughput"] / base["throughput"], 3)
            r["throughput_chunked_ratio"] = round(r["throughput_chunked"] / base["throughput_chunked"], 3)
            r["latency_p50_ratio"] = round(base["latency_p50_ms"] / r["latency_p50_ms"], 3)
        for incumbent in HEADLINE:
            if incumbent in results:
                other = results[incumbent]
                r[f"throughput_ratio_vs_{incumbent}"] = round(r["throughput"] / other["throughput"], 3)
                r[f"throughput_chunked_ratio_vs_{incumbent}"] = round(
                    r["throughput_chunked"] / other["throughput_chunked"], 3
                )
                r[f"latency_p50_ratio_vs_{incumbent}"] = round(other["latency_p50_ms"] / r["latency_p50_ms"], 3)
    tunelab_backends = [b for b in results if b not in INCUMBENTS]
    best = max(tunelab_backends, key=lambda b: results[b]["throughput"])
    report["best_backend"] = best
    report["agreement"] = results[best]["agreement"]
    if base:
        report["best_throughput_ratio"] = results[best]["throughput_ratio"]
        best_chunked = max(tunelab_backends, key=lambda b: results[b]["throughput_chunked"])
        report["best_chunked_backend"] = best_chunked
        report["best_chunked_throughput_ratio"] = results[best_chunked]["throughput_chunked_ratio"]
        agreeing = [b for b in tunelab_backends if results[b]["agreement"] >= 0.99]
        if agreeing:
            best_ok = max(agreeing, key=lambda b: results[b]["throughput"])
            report["best_backend_with_99pct_agreement"] = best_ok
            report["best_throughput_ratio_with_99pct_agreement"] = results[best_ok]["throughput_ratio"]
    # the headline: the fastest tunelab backend that agrees with torch fp32 on >= 99% of the texts,
    # against the strongest setting of each incumbent
    agreeing = [b for b in tunelab_backends if results[b]["agreement"] >= 0.99]
    headline_backend = max(agreeing, key=lambda b: results[b]["throughput"]) if agreeing else None
    for incumbent in HEADLINE:
        if incumbent in results and headline_backend:
            report[f"ratio_vs_{incumbent}"] = results[headline_backend][f"throughput_ratio_vs_{incumbent}"]
            report[f"ratio_vs_{incumbent}_backend"] = headline_backend
            report[f"agreement_vs_{incumbent}"] = share_same(
                results[headline_backend]["predictions"], results[incumbent]["predictions"]
            )

    console.print(results_table(results, artifact.name, len(texts), args.latency_calls, args.rounds))
    if headline_backend:
        lines = [
            f"  {report[f'ratio_vs_{incumbent}']:.2f}x {incumbent}'s batch-32 throughput, same label as it on "
            f"{report[f'agreement_vs_{incumbent}']:.2%} of the texts"
            for incumbent in HEADLINE
            if f"ratio_vs_{incumbent}" in report
        ]
        if base:
            lines.append(f"  {results[headline_backend]['throughput_ratio']:.2f}x the fp32 pipeline's (context)")
        if lines:
            console.print(
                f"headline: {headline_backend}, the fastest tunelab backend with >= 99% agreement with "
                f"{REFERENCE} ({results[headline_backend]['agreement']:.2%}):\n" + "\n".join(lines)
            )
    if base:
        console.print(
            f"best backend: {best}, {report['best_throughput_ratio']:.2f}x the fp32 pipeline's batch-32 throughput, "
            f"agreement {report['agreement']:.2%}"
        )
    for r in results.values():
        r.pop("predictions", None)
    report["backends"] = results
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {args.json}")
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
