"""Where the time of a training step goes, before and after each of tunelab's step optimisations.

One process, the packaged all-MiniLM-L6-v2 with a 2-label head, batches of 32 of the same seeded
SST-2 phrases (short: about 13 tokens) or ChnSentiCorp reviews (--texts long: up to 256 tokens),
length-bucketed as tunelab batches them, bf16 autocast. Each variant trains the same batches
from the same weights; the phases of every step are timed separately (forward with the loss,
backward, gradient clipping, optimizer step, zeroing the gradients). The variants alternate
(--rounds times), so drift of the machine hits each alike; the table shows each variant's median
per phase over its rounds.

  torch        torch.optim.AdamW with its default implementation on a CPU (one parameter at a time),
               torch's clip_grad_norm_, torch's dropout, dense embedding gradients: what a plain loop
               (and tunelab before these changes) ran
  fused        the fused AdamW kernel (torch.optim.AdamW(fused=True), the Trainer's default too) and
               clipping with foreach kernels
  fused_lazy   + lazy embedding updates (sparse gradient rows, tunelab.training.optim.AdamW)
  tunelab      + fast CPU dropout masks (tunelab.training.dropout): tunelab's defaults

    python benchmarks/step_profile.py [--texts short|long] [--steps 40] [--rounds 3] [--json OUT]

Useful GFLOP/s counts the real (non-padding) tokens with train_speed.py's formula; the share is of
the bf16 matmul peak measured in the same process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fmt, machine_info, matmul_peak  # noqa: E402

VARIANTS = ("torch", "fused", "fused_lazy", "tunelab")
PHASES = ("forward", "backward", "clip", "optimizer", "zero_grad")


def read_texts(data_dir: Path, kind: str, count: int, seed: int) -> tuple[list[str], list[int]]:
    if kind == "short":
        lines = (data_dir / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
        rows = [line.split("\t") for line in lines if line.strip()]
        pairs = [(text, int(label)) for label, text in rows]
    else:
        lines = (data_dir / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines()
        rows = [line.rsplit("\t", 1) for line in lines if line.strip()]
        pairs = [(text, int(label == "positive")) for text, label in rows]
    pairs = random.Random(seed).sample(pairs, min(count, len(pairs)))
    return [p[0] for p in pairs], [p[1] for p in pairs]


def make_batches(tokenizer, texts, labels, max_length: int, batch_size: int, seed: int):
    import torch

    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    random.Random(seed).shuffle(groups)
    batches = []
    for group in groups:
        length = max(len(ids[i]) for i in group)
        input_ids = torch.zeros(len(group), length, dtype=torch.long)
        mask = torch.zeros(len(group), length, dtype=torch.long)
        for row, i in enumerate(group):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        batches.append((input_ids, mask, torch.tensor([labels[i] for i in group])))
    return batches


def run_variant(name: str, model_path: str, initial: dict, batches, warmup: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification

    from tunelab.training.dropout import fast_dropout
    from tunelab.training.optim import build_optimizer, clip_grad_norm, lazy_embeddings, sparse_gradients

    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)
    model.load_state_dict(initial)
    model.train()
    params = list(model.parameters())
    if name == "torch":
        decay = [p for p in params if p.dim() >= 2]
        rest = [p for p in params if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=1e-4
        )

        def clip() -> None:
            torch.nn.utils.clip_grad_norm_(params, 1.0)
    else:
        optimizer = build_optimizer(model, learning_rate=1e-4, weight_decay=0.01)

        def clip() -> None:
            clip_grad_norm(params, 1.0)

    sparse = lazy_embeddings(model) if name in ("fused_lazy", "tunelab") else []
    times = {phase: [] for phase in PHASES}
    torch.manual_seed(0)
    with contextlib.ExitStack() as stack:
        stack.enter_context(sparse_gradients(sparse))
        if name == "tunelab":
            stack.enter_context(fast_dropout(model))
        for step, (input_ids, mask, labels) in enumerate(batches):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            clip()
            t3 = time.perf_counter()
            optimizer.step()
            t4 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            t5 = time.perf_counter()
            if step >= warmup:
                for phase, a, b in zip(PHASES, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5), strict=True):
                    times[phase].append(b - a)
    return {phase: sum(values) for phase, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", choices=["short", "long"], default="short")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per round (after 8 warm-up steps)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from tunelab.models.resolve import resolve_model

    hf_logging.set_verbosity_error()
    console = Console() if Console().is_terminal else Console(width=150)
    variants = [v for v in args.variants.split(",") if v]
    path = resolve_model("minilm").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    max_length = 128 if args.texts == "short" else 256
    warmup = 8
    count = (args.steps + warmup) * args.batch_size * 3
    texts, labels = read_texts(args.data_dir, args.texts, count, seed=0)
    batches = make_batches(tokenizer, texts, labels, max_length, args.batch_size, seed=0)[: args.steps + warmup]
    torch.manual_seed(0)
    reference = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    initial = {k: v.clone() for k, v in reference.state_dict().items()}
    config = reference.config
    encoder = sum(p.numel() for p in reference.bert.encoder.parameters())
    timed = batches[warmup:]
    real = sum(int(m.sum()) for _, m, _ in timed)
    square = sum(int((m.sum(1) ** 2).sum()) for _, m, _ in timed)
    padded = sum(m.numel() for _, m, _ in timed)
    flop = 6.0 * encoder * real + 12.0 * config.num_hidden_layers * config.hidden_size * square
    peak = matmul_peak(2.0)
    console.print(
        f"{args.texts} texts: {len(timed)} timed steps of {args.batch_size}, {real / len(timed) / args.batch_size:.1f} "
        f"real tokens per text, {100 * (1 - real / padded):.1f}% padding; bf16 peak {peak['bf16_gflops']} GFLOP/s; "
        f"load {machine_info()['load_average_1m']}"
    )

    rounds: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for r in range(args.rounds):
        for variant in variants:
            rounds[variant].append(run_variant(variant, path, initial, batches, warmup))
            total = sum(rounds[variant][-1].values())
            console.print(f"  round {r + 1} {variant}: {1000 * total / len(timed):.1f} ms/step")

    results: dict[str, Any] = {}
    for variant in variants:
        per_phase = {p: statistics.median(x[p] for x in rounds[variant]) / len(timed) * 1000 for p in PHASES}
        step_ms = statistics.median(sum(x.values()) for x in rounds[variant]) / len(timed) * 1000
        gflops = flop / len(timed) / (step_ms / 1000) / 1e9
        results[variant] = {
            "ms_per_step": round(step_ms, 1),
            "phases_ms": {p: round(v, 1) for p, v in per_phase.items()},
            "samples_per_second": round(args.batch_size / (step_ms / 1000), 1),
            "useful_gflops_per_second": round(gflops, 1),
            "share_of_bf16_peak": round(gflops / peak["bf16_gflops"], 4),
        }
    base = results[variants[0]]["ms_per_step"]
    table = Table("variant", *[f"{p} ms" for p in PHASES], "step ms", "samples/s", "of bf16 peak", f"vs {variants[0]}")
    for variant in variants:
        r = results[variant]
        table.add_row(
            variant,
            *[fmt(r["phases_ms"][p]) for p in PHASES],
            fmt(r["ms_per_step"]),
            fmt(r["samples_per_second"]),
            f"{100 * r['share_of_bf16_peak']:.1f}%",
            f"{base / r['ms_per_step']:.2f}x",
        )
    table.caption = f"median of {args.rounds} rounds per phase; {args.texts} texts, batch {args.batch_size}"
    console.print(table)
    if args.json:
        report = {
            "machine": machine_info(),
            "peak": peak,
            "texts": args.texts,
            "steps": len(timed),
            "rounds": args.rounds,
            "real_tokens_per_text": round(real / len(timed) / args.batch_size, 2),
            "padding_share": round(1 - real / padded, 4),
            "variants": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"written {args.json}")


if __name__ == "__main__":
    main()
