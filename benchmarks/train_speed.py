"""Training speed: tunelab's trainer against the Hugging Face Trainer, same data, model and budget.

The contenders fine-tune the same model (default: the packaged all-MiniLM-L6-v2) on the same
seeded subset of the training data, with the same batch size, learning rate, linear warmup and
decay, weight decay, gradient clipping, number of epochs and seed:

  tunelab          `tunelab.workflow.train.train(config)`, the function behind `tunelab train`, with
                   its defaults (bf16 autocast where the CPU has it, length-bucketed batches, its own
                   padding collator, fused AdamW with lazy embedding updates, fast CPU dropout masks);
                   the only departure from a plain `tunelab train` is that no dev data is given
                   during training (data.split.dev=0), so, like the Trainer runs, it does not
                   evaluate while training. Its periodic checkpoints (every 500 steps or 10 minutes)
                   fall due in none of these runs; its checkpoint at the final evaluation (about
                   0.15 s for MiniLM) stays inside its timed window. The Trainer runs save none.
  trainer_best     the headline: transformers.Trainer at its strongest on a CPU with bf16: bf16=True,
                   train_sampling_strategy="group_by_length", optim="adamw_torch_fused",
                   dataloader_num_workers=0, dynamic padding (see worker_trainer).
  trainer_dynamic  context: transformers.Trainer, fp32, DataCollatorWithPadding
                   (DataCollatorForTokenClassification for NER): each batch padded to its longest text.
  trainer_max128   context: transformers.Trainer, fp32, every text padded to 128 tokens.
  trainer_dynamic_bf16  (optional, --contenders ...,trainer_dynamic_bf16) trainer_dynamic with bf16=True.

Settings (--task): classification = SST-2 phrases (short, 13 tokens on average); ner = WNUT-17;
long = ChnSentiCorp reviews truncated at 256 tokens (one token per Chinese character in MiniLM's
vocabulary); both = classification + ner; all = the three.

    python benchmarks/train_speed.py [--task classification|ner|long|both|all] [--data-dir ../shared/data]
        [--train-samples 4000] [--epochs 1] [--dev-samples N] [--seeds 42,13,7] [--json OUT]

tunelab and trainer_best run every seed, in the order given for the first seed and reversed for the
next (A B, B A, A B: a steady drift of the machine's speed hits both alike); the context settings
run the first seed only (--context-seeds all for every seed). The JSON holds per setting and, for
the first setting, at the top: `ratio_vs_trainer_best` (tunelab's samples/s over the best
Trainer's, summed over seeds) and `accuracy_delta_vs_trainer_best` (points
of dev accuracy / entity F1, mean over seeds, tunelab minus Trainer).

Each contender runs in its own subprocess, one after the other (peak RSS is its own; none warms
the CPU caches or thread pools for another). Training time runs from the trainer's
on_train_begin callback to its on_train_end callback, for all three alike: model loading, data
encoding and evaluation are outside it. Afterwards each model is scored on the same dev
examples in fp32 by tunelab's Predictor (tunelab's artifact after reloading it; the Trainer's
model in memory), so SST-2 accuracy and WNUT-17 entity F1 (seqeval, strict IOB2) are computed by
the same code for every contender.

Tokens are counted from the attention mask of every training batch the collator builds: real
(non-padding) tokens, and all tokens including padding (the padding share).

Useful work per training sample of L real tokens (identical formula for every contender, on
real tokens only, so padding is never counted as useful):

    FLOP = 6 * P_token * L  +  12 * n_layers * hidden * L**2  +  6 * P_sequence

  P_token     parameters applied to every token: the encoder layers (plus the token-level head for NER);
  P_sequence  parameters applied once per text: pooler and classifier (sequence classification);
  6 = 2 (multiply-add) x 3 (forward + backward for activations and weights); the L**2 term is the
  attention scores (Q K^T) and their weighted sum over V, 4 * L**2 * hidden per layer forward, x3.
  Embedding lookups and the optimizer update are not counted. Useful GFLOP/s is compared with
  the bf16 matrix-multiply peak measured in the same run (torch.matmul, 2048 x 2048, ~2 s, the
  same thread count).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    WorkerError,
    add_common_arguments,
    busy_note,
    fmt,
    machine_info,
    matmul_peak,
    run_worker,
    write_result,
)

CONTENDERS = ("tunelab", "trainer_best", "trainer_dynamic", "trainer_max128")
# The headline: the strongest Trainer setting on this CPU (see worker_trainer).
BEST = "trainer_best"
# Not run by default: the Trainer with dynamic padding and bf16 autocast (bf16=True) but no length
# grouping, to show how much of the difference is precision alone.
OPTIONAL = ("trainer_dynamic_bf16",)
LABELS = {
    "tunelab": "tunelab",
    "trainer_best": "HF Trainer best",
    "trainer_dynamic": "HF Trainer dynamic",
    "trainer_max128": "HF Trainer max-128",
    "trainer_dynamic_bf16": "HF Trainer dynamic",
}
TASKS = {"classification": "text_classification", "ner": "token_classification", "long": "text_classification"}
METRIC = {"classification": "accuracy", "ner": "f1", "long": "accuracy"}
# Truncation length per setting; "long": reviews of 100-400 characters, one token per Chinese character.
MAX_LENGTHS = {"classification": 128, "ner": 128, "long": 256}
# Rates measured on the development machine (../shared/README.md), for the time estimate only.
EXPECTED_RATE = {
    "tunelab": 150.0,
    "trainer_best": 120.0,
    "trainer_dynamic": 35.0,
    "trainer_max128": 14.0,
    "trainer_dynamic_bf16": 49.0,
}
OVERHEAD_SECONDS = 30.0  # per contender: start-up, model loading, fp32 evaluation, artifact (tunelab)


# ---------------------------------------------------------------------------------------------
# data: seeded subsets written as files, so every contender reads exactly the same examples
# ---------------------------------------------------------------------------------------------
def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"data file not found: {path} (see --data-dir / --ner-dir)")
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _subset(n: int, k: int | None, seed: int) -> list[int]:
    if k is None or k <= 0 or k >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), k))


def _write_subsets(
    out: Path,
    dataset: str,
    folder: Path,
    names: tuple[str, str],
    rows: tuple[list[str], list[str]],
    *,
    available: int,
    header: str | None = None,
    separator: str = "\n",
) -> dict[str, Any]:
    """Writes the train and dev subsets (one header line first when given) and describes them."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / name for name in names]
    for path, chosen in zip(files, rows, strict=True):
        path.write_text(separator.join([header, *chosen] if header else chosen) + "\n", encoding="utf-8")
    return {
        "dataset": dataset,
        "source": str(folder),
        "train_file": str(files[0]),
        "dev_file": str(files[1]),
        "train_samples": len(rows[0]),
        "train_available": available,
        "dev_samples": len(rows[1]),
    }


def prepare_classification(args, out: Path) -> dict[str, Any]:
    """SST-2: train.tsv has header `label<TAB>sentence`, dev.tsv `label<TAB>content`. Both subsets
    are written with the train header, so tunelab reads them with the same columns."""
    folder = args.data_dir / "sst2"
    train, dev = _lines(folder / "train.tsv"), _lines(folder / "dev.tsv")
    if train[0].split("\t") != ["label", "sentence"] or dev[0].split("\t")[0] != "label":
        raise SystemExit(f"unexpected SST-2 headers in {folder}: {train[0]!r} / {dev[0]!r}")
    train_rows = [train[1:][i] for i in _subset(len(train) - 1, args.train_samples, args.data_seed)]
    dev_rows = [dev[1:][i] for i in _subset(len(dev) - 1, args.dev_samples, args.data_seed)]
    return _write_subsets(
        out,
        "SST-2",
        folder,
        ("train.tsv", "dev.tsv"),
        (train_rows, dev_rows),
        available=len(train) - 1,
        header=train[0],
    )


def prepare_long(args, out: Path) -> dict[str, Any]:
    """The long-text setting: ChnSentiCorp reviews (text<TAB>label, no header), truncated at 256
    tokens (MiniLM's vocabulary has the common Chinese characters, one token each). Written with a
    `text<TAB>label` header, so every contender reads the same columns."""
    folder = args.data_dir / "chnsenticorp"
    train, dev = _lines(folder / "train.tsv"), _lines(folder / "dev.tsv")
    take = args.long_train_samples
    train_rows = [train[i] for i in _subset(len(train), take, args.data_seed)]
    dev_rows = [dev[i] for i in _subset(len(dev), args.dev_samples, args.data_seed)]
    return _write_subsets(
        out,
        "ChnSentiCorp (long texts, max 256 tokens)",
        folder,
        ("train.tsv", "dev.tsv"),
        (train_rows, dev_rows),
        available=len(train),
        header="text\tlabel",
    )


def _conll_blocks(path: Path) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"data file not found: {path} (see --ner-dir)")
    text = path.read_text(encoding="utf-8")
    # sentences are separated by blank lines; WNUT-17's train file also has lines holding only a tab
    return [block for block in re.split(r"\n(?:[ \t]*\n)+", text.strip("\n")) if block.strip()]


def prepare_ner(args, out: Path) -> dict[str, Any]:
    folder = args.ner_dir
    train, dev = _conll_blocks(folder / "train.conll"), _conll_blocks(folder / "dev.conll")
    train_rows = [train[i] for i in _subset(len(train), args.train_samples, args.data_seed)]
    dev_rows = [dev[i] for i in _subset(len(dev), args.dev_samples, args.data_seed)]
    return _write_subsets(
        out,
        "WNUT-17",
        folder,
        ("train.conll", "dev.conll"),
        (train_rows, dev_rows),
        available=len(train),
        separator="\n\n",
    )


# ---------------------------------------------------------------------------------------------
# workers (run in subprocesses)
# ---------------------------------------------------------------------------------------------
class TokenCounter:
    """Counts what the training batches hold, from their attention masks."""

    def __init__(self) -> None:
        self.batches = self.samples = self.real_tokens = self.padded_tokens = self.sum_sq_length = 0

    def add(self, attention_mask) -> None:
        lengths = attention_mask.sum(dim=1).long()
        self.batches += 1
        self.samples += int(attention_mask.shape[0])
        self.real_tokens += int(lengths.sum())
        self.sum_sq_length += int((lengths * lengths).sum())
        self.padded_tokens += int(attention_mask.numel())

    def as_dict(self) -> dict[str, int]:
        return dict(
            batches=self.batches,
            samples=self.samples,
            real_tokens=self.real_tokens,
            padded_tokens=self.padded_tokens,
            sum_sq_length=self.sum_sq_length,
        )


def flop_parameters(model, token_level: bool) -> dict[str, int]:
    """Parameter counts for the useful-FLOP formula (see the module docstring)."""
    import torch

    base = model.base_model
    total = sum(p.numel() for p in model.parameters())
    if hasattr(base, "embeddings") and hasattr(base, "encoder"):  # BERT-like encoders (MiniLM)
        embedding = sum(p.numel() for p in base.embeddings.parameters())
        encoder = sum(p.numel() for p in base.encoder.parameters())
    else:  # other architectures: every embedding table is lookup, everything else in the backbone is per token
        embedding = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
        encoder = sum(p.numel() for p in base.parameters()) - embedding
    head = total - embedding - encoder  # pooler + classifier (sequence), classifier (token)
    return {
        "total": total,
        "embedding": embedding,
        "encoder": encoder,
        "head": head,
        "per_token": encoder + (head if token_level else 0),
        "per_sequence": 0 if token_level else head,
        "layers": int(model.config.num_hidden_layers),
        "hidden": int(model.config.hidden_size),
    }


def read_split(task: str, path: str) -> list:
    if task != "ner":
        from tunelab.data.loading import read_examples

        return read_examples(path).examples
    from tunelab.tasks.token_classification.readers import read_ner_file

    return read_ner_file(path).examples


def score(task: str, metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "macro_f1") if task != "ner" else ("f1", "precision", "recall", "macro_f1", "token_accuracy")
    return {k: metrics[k] for k in keys if k in metrics}


def worker_peak(spec: dict[str, Any]) -> dict[str, Any]:
    return matmul_peak(spec["peak_seconds"])


def worker_tunelab(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from rich.console import Console

    import tunelab
    import tunelab.workflow.train as workflow
    from tunelab.config import load_config
    from tunelab.data.batching import PaddingCollator
    from tunelab.training.callbacks import Callback

    counter = TokenCounter()

    # Measurement only: every task's collator is a PaddingCollator; count the tokens of each batch
    # it pads while `train()` runs (restored before the fp32 evaluation below).
    padding_call = PaddingCollator.__call__

    def counting_call(self, items):
        batch = padding_call(self, items)
        counter.add(batch["attention_mask"])
        return batch

    PaddingCollator.__call__ = counting_call  # type: ignore[method-assign]

    class Clock(Callback):
        def on_train_begin(self, trainer) -> None:
            self.model = trainer.accelerator.unwrap_model(trainer.model)
            self.precision = trainer.accelerator.mixed_precision
            self.started = time.perf_counter()

        def on_train_end(self, trainer) -> None:
            self.ended = time.perf_counter()
            self.samples_seen = trainer.state.samples_seen
            self.steps = trainer.state.global_step

    task = spec["task"]
    output = Path(spec["workdir"]) / f"tunelab-{task}-{spec['seed']}"
    overrides = [
        f"model.name={spec['model']}",
        f"model.max_length={MAX_LENGTHS[task]}",
        f"task.name={TASKS[task]}",
        f"data.train={spec['train_file']}",
        "data.split.dev=0",  # no dev data while training: the Trainer runs do not evaluate either
        f"training.epochs={spec['epochs']}",
        f"training.batch_size={spec['batch_size']}",
        f"training.learning_rate={spec['learning_rate']}",
        f"training.warmup_ratio={spec['warmup_ratio']}",
        f"training.weight_decay={spec['weight_decay']}",
        f"training.seed={spec['seed']}",
    ]
    config = load_config(None, overrides)
    clock = Clock()
    try:
        result = workflow.train(
            config, output_dir=output, overwrite=True, console=Console(stderr=True), callbacks=[clock]
        )
    finally:
        PaddingCollator.__call__ = padding_call  # type: ignore[method-assign]
    seconds = clock.ended - clock.started
    params = flop_parameters(clock.model, token_level=task == "ner")
    threads = torch.get_num_threads()
    del clock.model
    predictor = tunelab.load(output)  # fp32, as `tunelab evaluate` scores it
    metrics = predictor.evaluate(read_split(task, spec["dev_file"]))
    if not spec.get("keep"):
        shutil.rmtree(output, ignore_errors=True)
    counts = counter.as_dict()
    if not counts["samples"]:
        raise RuntimeError(
            "the token-counting hook saw no training batch: the task's collator is no longer a "
            "tunelab.data.batching.PaddingCollator; update worker_tunelab"
        )
    if counts["samples"] != clock.samples_seen:
        print(
            f"note: counted {counts['samples']} samples in batches, the trainer reports {clock.samples_seen}",
            file=sys.stderr,
        )
    return {
        "contender": "tunelab",
        "seed": spec["seed"],
        "seconds": seconds,
        "steps": clock.steps,
        "samples_seen": clock.samples_seen,
        **counts,
        "params": params,
        "threads": threads,
        "precision": clock.precision,
        "tunelab_reported_seconds": result.meta["training"]["seconds"],
        "metrics": score(task, metrics),
    }


def worker_trainer(spec: dict[str, Any], padding: str, bf16: bool = False, best: bool = False) -> dict[str, Any]:
    """One Trainer run. ``best``: its strongest settings for a CPU with native bf16, from its
    documentation: bf16 autocast, batches grouped by length (``train_sampling_strategy=
    "group_by_length"``, transformers 5's name for ``group_by_length``), the fused AdamW kernel
    (``optim="adamw_torch_fused"``, its default since torch 2.8, named here so it stays), no
    DataLoader worker processes (on 2 cores they take cycles from the step) and no checkpoint saving
    (tunelab's periodic checkpoints, every 500 steps or 10 minutes, fall due in none of these runs;
    its one at the final evaluation, about 0.15 s, is left inside its timed window).
    ``torch_compile`` is left off: compiling the model took longer (101 s) than these whole runs."""
    import torch
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    from tunelab.artifact import ArtifactMeta, ModelMeta, TaskMeta
    from tunelab.inference.predictor import Predictor, TorchBackend
    from tunelab.tasks.text_classification.config import TextClassificationConfig
    from tunelab.tasks.token_classification.config import TokenClassificationConfig

    task = spec["task"]
    max128 = padding == "max_length"
    tokenizer = AutoTokenizer.from_pretrained(spec["model_path"])
    examples = read_split(task, spec["train_file"])
    max_length = MAX_LENGTHS[task]
    pad = {"padding": "max_length", "max_length": max_length} if max128 else {"max_length": max_length}
    if task != "ner":
        from tunelab.tasks.text_classification.task import TextClassificationTask

        labels_task = TextClassificationTask.from_examples(TextClassificationConfig(), examples)
        targets = labels_task.targets(examples)
        encoded = tokenizer([ex.text for ex in examples], truncation=True, **pad)
        features = [{**{k: encoded[k][i] for k in encoded}, "labels": int(targets[i])} for i in range(len(examples))]
        collator = default_data_collator if max128 else DataCollatorWithPadding(tokenizer)
        model_class = AutoModelForSequenceClassification
    else:
        from tunelab.tasks.token_classification.task import TokenClassificationTask
        from tunelab.tasks.token_classification.words import to_words

        labels_task = TokenClassificationTask.from_examples(TokenClassificationConfig(), examples)
        sequences = [to_words(ex) for ex in examples]
        encoded = tokenizer([seq.words for seq in sequences], is_split_into_words=True, truncation=True, **pad)
        features = []
        for i, seq in enumerate(sequences):
            # the usual recipe: the label on a word's first sub-word, -100 on the rest and on specials/padding
            tags, previous = [], None
            for word in encoded.word_ids(i):
                tags.append(-100 if word is None or word == previous else labels_task.tag2id[seq.tags[word]])
                previous = word
            features.append({**{k: encoded[k][i] for k in encoded}, "labels": tags})
        collator = default_data_collator if max128 else DataCollatorForTokenClassification(tokenizer)
        model_class = AutoModelForTokenClassification

    counter = TokenCounter()

    def counting_collator(batch_features):
        batch = collator(batch_features)
        counter.add(batch["attention_mask"])
        return batch

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            self.ended = time.perf_counter()
            self.steps = state.global_step

    set_seed(spec["seed"])  # the new head's initial weights, as tunelab seeds them
    model = model_class.from_pretrained(
        spec["model_path"],
        num_labels=len(labels_task.labels),
        id2label=dict(enumerate(labels_task.labels)),
        label2id={label: i for i, label in enumerate(labels_task.labels)},
    )
    params = flop_parameters(model, token_level=task == "ner")
    steps_per_epoch = math.ceil(len(features) / spec["batch_size"])
    total_steps = max(1, math.ceil(steps_per_epoch * spec["epochs"]))
    args = TrainingArguments(
        output_dir=str(Path(spec["workdir"]) / f"hf-{padding}-{task}-{spec['seed']}"),
        per_device_train_batch_size=spec["batch_size"],
        num_train_epochs=spec["epochs"],
        learning_rate=spec["learning_rate"],
        # the same number of warmup steps as tunelab's round(total_steps * warmup_ratio)
        warmup_steps=round(total_steps * spec["warmup_ratio"]),
        weight_decay=spec["weight_decay"],
        seed=spec["seed"],
        bf16=bf16,
        **(
            {"train_sampling_strategy": "group_by_length", "optim": "adamw_torch_fused", "dataloader_num_workers": 0}
            if best
            else {}
        ),
        # the Trainer refuses bf16 without a GPU unless told it runs on the CPU
        **({"use_cpu": True} if bf16 and not torch.cuda.is_available() else {}),
        eval_strategy="no",
        save_strategy="no",
        report_to=[],
    )
    clock = Clock()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=features,
        data_collator=counting_collator,
        processing_class=tokenizer,
        callbacks=[clock],
    )
    trainer.train()
    seconds = clock.ended - clock.started
    threads = torch.get_num_threads()
    # Scored exactly as tunelab scores its own model: the same Predictor, encoding and metric code, fp32.
    meta = ArtifactMeta(
        task=TaskMeta(name=labels_task.name), model=ModelMeta(base=spec["model"], max_length=max_length)
    )
    predictor = Predictor(TorchBackend(trainer.model.float(), "cpu", task=labels_task), tokenizer, labels_task, meta)
    metrics = predictor.evaluate(read_split(task, spec["dev_file"]))
    return {
        "contender": spec["kind"],
        "seed": spec["seed"],
        "seconds": seconds,
        "steps": clock.steps,
        "samples_seen": counter.samples,
        **counter.as_dict(),
        "params": params,
        "threads": threads,
        "precision": "bf16" if bf16 else "fp32",
        "optim": str(args.optim),
        "sampling": str(args.train_sampling_strategy),
        "warmup_steps": args.warmup_steps,
        "transformers": transformers.__version__,
        "metrics": score(task, metrics),
    }


def worker_main(name: str, spec_path: Path, result_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    kind = spec["kind"]
    if kind == "peak":
        result = worker_peak(spec)
    elif kind == "tunelab":
        result = worker_tunelab(spec)
    elif kind == "trainer_dynamic":
        result = worker_trainer(spec, "dynamic")
    elif kind == "trainer_max128":
        result = worker_trainer(spec, "max_length")
    elif kind == "trainer_dynamic_bf16":
        result = worker_trainer(spec, "dynamic", bf16=True)
    elif kind == "trainer_best":
        result = worker_trainer(spec, "dynamic", bf16=True, best=True)
    else:
        raise SystemExit(f"unknown worker kind {kind}")
    write_result(result_path, result)


# ---------------------------------------------------------------------------------------------
# the parent: plan, run, aggregate, print
# ---------------------------------------------------------------------------------------------
def useful_flops(run: dict[str, Any]) -> float:
    p = run["params"]
    return (
        6.0 * p["per_token"] * run["real_tokens"]
        + 12.0 * p["layers"] * p["hidden"] * run["sum_sq_length"]
        + 6.0 * p["per_sequence"] * run["samples"]
    )


def aggregate(runs: list[dict[str, Any]], metric: str, peak: dict[str, Any]) -> dict[str, Any]:
    """Sums over seeds for speed (total work / total time); the dev metric is the mean over seeds."""
    seconds = sum(r["seconds"] for r in runs)
    samples = sum(r["samples"] for r in runs)
    real = sum(r["real_tokens"] for r in runs)
    padded = sum(r["padded_tokens"] for r in runs)
    flops = sum(useful_flops(r) for r in runs)
    gflops = flops / seconds / 1e9
    values = [r["metrics"][metric] for r in runs]
    return {
        "seconds": round(seconds, 2),
        "samples": samples,
        "samples_per_second": round(samples / seconds, 2),
        "tokens_per_second": round(real / seconds, 1),
        "padded_tokens_per_second": round(padded / seconds, 1),
        "padding_share": round(1 - real / padded, 4) if padded else None,
        "mean_real_tokens_per_sample": round(real / samples, 2),
        "useful_gflop": round(flops / 1e9, 1),
        "useful_gflops_per_second": round(gflops, 2),
        "share_of_bf16_peak": round(gflops / peak["bf16_gflops"], 4) if peak.get("bf16_gflops") else None,
        "share_of_fp32_peak": round(gflops / peak["fp32_gflops"], 4) if peak.get("fp32_gflops") else None,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "metric": metric,
        "dev_metric": round(sum(values) / len(values), 6),
        "dev_metric_per_seed": values,
        "precision": runs[0].get("precision"),
        "threads": runs[0].get("threads"),
        "runs": runs,
    }


def compare(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tl = results.get("tunelab")
    if tl is None:
        return out
    deltas = []  # the default fp32 Trainer runs only
    for other in ("trainer_best", "trainer_max128", "trainer_dynamic", "trainer_dynamic_bf16"):
        if other in results:
            name = other.removeprefix("trainer_")
            out[f"ratio_vs_trainer_{name}"] = round(tl["samples_per_second"] / results[other]["samples_per_second"], 3)
            delta = round(100 * (tl["dev_metric"] - results[other]["dev_metric"]), 2)
            out[f"accuracy_delta_vs_trainer_{name}"] = delta
            if other in ("trainer_dynamic", "trainer_max128"):
                deltas.append(delta)
    if deltas:
        # the less favourable of the two fp32 comparisons for tunelab (tunelab minus the better Trainer run)
        out["accuracy_delta"] = min(deltas)
    return out


def print_task(
    console,
    task: str,
    info: dict[str, Any],
    results: dict[str, Any],
    ratios: dict[str, Any],
    args,
    peak: dict[str, Any],
) -> None:
    from rich.table import Table

    metric = METRIC[task]
    name = "dev accuracy" if metric == "accuracy" else "dev entity F1"
    table = Table(
        "contender",
        "samples/s",
        "tokens/s",
        "padding",
        "useful GFLOP/s",
        "of bf16 peak",
        "peak RSS MB",
        name,
        "train s",
        "ratio",
        title=f"{info['dataset']}: {info['train_samples']} train samples x {args.epochs:g} epoch(s), batch "
        f"{args.batch_size}, lr {args.learning_rate:g}, seed(s) {args.seeds}; dev {info['dev_samples']}",
    )
    base = results.get("tunelab")
    for contender in CONTENDERS + OPTIONAL:
        r = results.get(contender)
        if r is None:
            continue
        ratio = base["samples_per_second"] / r["samples_per_second"] if base else None
        table.add_row(
            LABELS[contender] + (f" ({r['precision']})" if r.get("precision") else ""),
            fmt(r["samples_per_second"]),
            fmt(r["tokens_per_second"], ",.0f"),
            fmt(100 * r["padding_share"], ".1f") + "%",
            fmt(r["useful_gflops_per_second"]),
            fmt(100 * r["share_of_bf16_peak"], ".1f") + "%" if r["share_of_bf16_peak"] is not None else "-",
            str(r["peak_rss_mb"]),
            fmt(100 * r["dev_metric"], ".2f"),
            fmt(r["seconds"]),
            "" if contender == "tunelab" else f"{ratio:.2f}x",
        )
    table.caption = (
        f"peak matmul ({peak.get('threads')} threads): bf16 {fmt(peak.get('bf16_gflops'))} GFLOP/s, "
        f"fp32 {fmt(peak.get('fp32_gflops'))} GFLOP/s; dev metric in fp32 for all; "
        "ratio = tunelab samples/s / contender's"
    )
    console.print(table)
    parts = []
    for name_ in ("best", "max128", "dynamic", "dynamic_bf16"):
        if f"ratio_vs_trainer_{name_}" in ratios:
            parts.append(
                f"vs Trainer {name_}: {ratios[f'ratio_vs_trainer_{name_}']:.2f}x faster, "
                f"{ratios[f'accuracy_delta_vs_trainer_{name_}']:+.2f} points"
            )
    if parts:
        console.print(f"tunelab {task}: " + "; ".join(parts))


HEADLINE = ("tunelab", BEST)


def seeds_for(args, contender: str) -> list[int]:
    """tunelab and the strongest Trainer run every seed (their accuracy is compared); the weak
    Trainer settings, context only, run the first seed unless --context-seeds all."""
    if contender in HEADLINE or args.context_seeds == "all":
        return args.seed_list
    return args.seed_list[:1]


def expected_seconds(args, samples: dict[str, int]) -> float:
    total = 0.0
    for n in samples.values():
        for contender in args.contenders:
            total += len(seeds_for(args, contender)) * (n * args.epochs / EXPECTED_RATE[contender] + OVERHEAD_SECONDS)
    return total + 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--task",
        choices=["classification", "ner", "long", "both", "all"],
        default="classification",
        help="classification: SST-2; ner: WNUT-17; both (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=ROOT.parent / "shared" / "data",
        help="folder holding sst2/ (default: ../shared/data)",
    )
    parser.add_argument(
        "--ner-dir",
        type=Path,
        default=ROOT / "data" / "wnut17",
        help="folder holding WNUT-17 train.conll/dev.conll (default: the copy shipped in data/wnut17)",
    )
    parser.add_argument(
        "--train-samples",
        type=int,
        default=4000,
        help="seeded random subset of the training data (capped at its size; default: %(default)s)",
    )
    parser.add_argument(
        "--long-train-samples",
        type=int,
        default=2000,
        help="seeded subset of ChnSentiCorp's 9,600 training reviews for --task long (default: %(default)s)",
    )
    parser.add_argument("--dev-samples", type=int, default=None, help="seeded subset of the dev data (default: all)")
    parser.add_argument("--epochs", type=float, default=1.0, help="epochs over the subset (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", "--lr", type=float, default=1e-4, help="default: tunelab's default, 1e-4")
    parser.add_argument("--warmup-ratio", type=float, default=0.06, help="linear warmup share (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=0.01, help="default: tunelab's default, 0.01")
    parser.add_argument(
        "--seeds",
        default="42,13,7",
        help="training seeds, comma-separated; tunelab and the best Trainer run once per seed, speed is "
        "summed and the dev metric averaged (one seed's accuracy moves about a point; default: %(default)s)",
    )
    parser.add_argument(
        "--context-seeds",
        choices=["first", "all"],
        default="first",
        help="the weaker Trainer settings (context, not the headline) run the first seed only, or all",
    )
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the train/dev subsets (default: %(default)s)")
    parser.add_argument("--model", default="minilm", help="tunelab model name or local directory (default: minilm)")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated, run in this order; from {', '.join(CONTENDERS + OPTIONAL)} (default: the first three)",
    )
    parser.add_argument("--peak-seconds", type=float, default=2.0, help="seconds per dtype for the matmul peak")
    parser.add_argument("--workdir", type=Path, help="keep data subsets, logs (and with --keep, artifacts) here")
    parser.add_argument("--keep", action="store_true", help="keep tunelab's artifacts in the work directory")
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args.worker, args.spec, args.result)

    from rich.console import Console

    from tunelab.models.resolve import resolve_model

    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough for the table instead of rich's 80 columns
        console = Console(width=160)
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = sorted(set(args.contenders) - set(CONTENDERS + OPTIONAL))
    if unknown:
        parser.error(f"unknown contenders {unknown}; choose from {', '.join(CONTENDERS + OPTIONAL)}")
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    tasks = {"both": ["classification", "ner"], "all": ["classification", "ner", "long"]}.get(args.task, [args.task])
    resolved = resolve_model(args.model)  # offline: a local directory or the packaged model, never a download

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tunelab-train-speed-")) if temporary else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    infos = {}
    for task in tasks:
        prepare = {"classification": prepare_classification, "ner": prepare_ner, "long": prepare_long}[task]
        infos[task] = prepare(args, workdir / f"data-{task}")
    expected = expected_seconds(args, {t: infos[t]["train_samples"] for t in tasks})
    console.print(
        f"model {resolved.name} ({resolved.path}); contenders {', '.join(args.contenders)}; seeds {args.seed_list}; "
        + "; ".join(f"{t}: {infos[t]['train_samples']} train / {infos[t]['dev_samples']} dev" for t in tasks)
    )
    console.print(
        f"expected time on the 2-core development machine: about {expected / 60:.1f} min "
        f"(HF max-128 ~{EXPECTED_RATE['trainer_max128']:.0f} samples/s, dynamic "
        f"~{EXPECTED_RATE['trainer_dynamic']:.0f}, tunelab ~{EXPECTED_RATE['tunelab']:.0f}, plus "
        f"~{OVERHEAD_SECONDS:.0f} s per contender run); load average now {machine_info()['load_average_1m']}"
    )

    script = Path(__file__).resolve()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": machine_info(),
        "config": {
            "model": resolved.name,
            "model_path": resolved.path,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "warmup_ratio": args.warmup_ratio,
            "weight_decay": args.weight_decay,
            "max_length": {t: MAX_LENGTHS[t] for t in tasks},
            "seeds": args.seed_list,
            "data_seed": args.data_seed,
            "contenders": args.contenders,
            "flop_formula": "6*P_token*L + 12*n_layers*hidden*L^2 + 6*P_sequence per sample, L = real tokens",
        },
    }
    try:
        console.print("measuring the matmul peak ...")
        peak = run_worker(
            script,
            "peak",
            {"kind": "peak", "peak_seconds": args.peak_seconds},
            workdir / "logs",
            verbose=args.verbose,
            timeout=300,
        )
        console.print(
            f"  peak: bf16 {peak['bf16_gflops']} GFLOP/s, fp32 {peak['fp32_gflops']} GFLOP/s "
            f"({peak['threads']} threads)"
        )
        if note := busy_note(peak):
            console.print(f"  [yellow]warning:[/] {note}")
        report["peak"] = peak
        for task in tasks:
            info = infos[task]
            runs: dict[str, list[dict[str, Any]]] = {c: [] for c in args.contenders}
            for index, seed in enumerate(args.seed_list):
                # A B ... then ... B A: this machine's speed drifts over minutes (up to 1.5x), and
                # alternating the order seed by seed cancels a steady drift between contenders.
                order = args.contenders if index % 2 == 0 else list(reversed(args.contenders))
                for contender in order:
                    if seed not in seeds_for(args, contender):
                        continue
                    spec = {
                        "kind": contender,
                        "task": task,
                        "seed": seed,
                        "model": args.model,
                        "model_path": resolved.path,
                        "train_file": info["train_file"],
                        "dev_file": info["dev_file"],
                        "epochs": args.epochs,
                        "batch_size": args.batch_size,
                        "learning_rate": args.learning_rate,
                        "warmup_ratio": args.warmup_ratio,
                        "weight_decay": args.weight_decay,
                        "workdir": str(workdir),
                        "keep": args.keep,
                    }
                    console.print(f"{task}: training {LABELS[contender]} (seed {seed}) ...")
                    budget = 600 + 2 * info["train_samples"] * args.epochs
                    run = run_worker(
                        script,
                        f"{task}-{contender}-{seed}",
                        spec,
                        workdir / "logs",
                        verbose=args.verbose,
                        timeout=budget,
                    )
                    runs[contender].append(run)
                    console.print(
                        f"  {run['samples'] / run['seconds']:.1f} samples/s over {run['seconds']:.1f} s, "
                        f"dev {METRIC[task]} {run['metrics'][METRIC[task]]:.4f}, "
                        f"peak RSS {run['peak_rss_mb']} MB; other processes "
                        f"{fmt(run.get('other_processes_cores'), '.2f')} cores"
                    )
                    if note := busy_note(run):
                        console.print(f"  [yellow]warning:[/] {note}")
            results = {c: aggregate(rs, METRIC[task], peak) for c, rs in runs.items()}
            ratios = compare(results)
            report[task] = {"data": info, "metric": METRIC[task], "contenders": results, **ratios}
            print_task(console, task, info, results, ratios, args, peak)
    except WorkerError as exc:
        console.print(f"[red]{exc}[/]")
        console.print(f"work directory kept: {workdir}")
        raise SystemExit(1) from None
    main_task = tasks[0]
    for key in (
        "ratio_vs_trainer_best",
        "accuracy_delta_vs_trainer_best",
        "ratio_vs_trainer_max128",
        "ratio_vs_trainer_dynamic",
        "accuracy_delta",
    ):
        if key in report[main_task]:
            report[key] = report[main_task][key]
    report["primary_task"] = main_task
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    console.print(
        f"done in {report['wall_seconds'] / 60:.1f} min; load average now {machine_info()['load_average_1m']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {args.json}")
    if temporary and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
