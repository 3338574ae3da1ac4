"""QA training speed: tunelab against the Hugging Face `run_qa.py` recipe on the same questions, in one run.

Every setting fine-tunes the same model (default: the packaged all-MiniLM-L6-v2) for extractive QA on the
same training questions with the same epochs, batch size, learning rate, linear warmup and decay, weight
decay, gradient clipping (1.0) and seed, then answers the same dev questions, scored with the official
SQuAD EM/F1 (v2.0 rules when a question has no answer):

  hf_default  run_qa.py as shipped (transformers examples/pytorch/question-answering): prepare_train_features
              (question + context, truncation="only_second", max_length 384, stride 128, overflowing tokens,
              offsets, padding="max_length"), AutoModelForQuestionAnswering, transformers.Trainer with default
              TrainingArguments (fp32; a checkpoint every 500 steps), then prepare_validation_features and
              postprocess_qa_predictions (n-best 20, max answer length 30).
  hf_best     the same at its strongest: --pad_to_max_length False (DataCollatorWithPadding), group_by_length
              (transformers 5: train_sampling_strategy), optim="adamw_torch_fused", bf16 where the CPU (oneDNN)
              or GPU has it, as tunelab's precision=auto decides.
  tunelab     `tunelab train examples/squad.yaml` through tunelab.workflow.train.train (load_config with
              --set style overrides for data, epochs, batch size, learning rate, warmup, weight decay, seed
              and windows); dev EM/F1 from its report, and re-scored from the report's predictions here.

Training time: from the trainer's on_train_begin to its on_train_end callback (loading, tokenising and
the final dev evaluation are outside); tunelab's dev evaluations inside its loop (each epoch, keeping the
best weights, as `tunelab train` does) are timed and taken out (eval_in_loop_seconds). Each setting runs
in its own subprocess, one after the other (peak RSS, and GPU memory, its own). Ratios: Hugging Face
training seconds / tunelab's (above 1: tunelab faster); F1 deltas: tunelab minus HF, in points.

    python benchmarks/qa_speed.py [--limit N] [--epochs 2] [--settings tunelab,hf_best] [--json OUT] ...

run_qa.py's prepare_train_features, prepare_validation_features and utils_qa.py's postprocess_qa_predictions
are copied from the transformers examples (Copyright 2020 The HuggingFace Team, Apache License 2.0), the
scorer is the official SQuAD evaluation as in Hugging Face `evaluate`; neither `datasets` nor `evaluate`
is installed here (evaluate loads its metrics from the Hub), so the examples are plain lists.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
import shutil
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, WorkerError, add_common_arguments, busy_note, fmt, machine_info, run_worker, write_result  # noqa: E402

SETTINGS = ("tunelab", "hf_best", "hf_default")
NUMBERS = (("--eval-batch-size", int, 64), ("--warmup-ratio", float, 0.1), ("--seed", int, 42),
           ("--weight-decay", float, 0.01), ("--n-best", int, 20), ("--max-answer-length", int, 30))  # fmt: skip
LABELS = {"tunelab": "tunelab", "hf_best": "HF run_qa.py best", "hf_default": "HF run_qa.py default"}


# -- data: the same questions, written once, read by every setting ----------------------------------
def read_squad(path: str | Path) -> list[dict[str, Any]]:
    """SQuAD JSON flattened as the Hub's `squad` dataset: id, title, context, question, answers."""
    rows = []
    for article in json.loads(Path(path).read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                texts, starts = [a["text"] for a in answers], [a["answer_start"] for a in answers]
                row = {"id": str(qa["id"]), "title": article.get("title", ""), "context": paragraph["context"]}
                rows.append({**row, "question": qa["question"], "answers": {"text": texts, "answer_start": starts}})
    return rows


def write_subset(source: Path, limit: int | None, out: Path) -> dict[str, Any]:
    """The first ``limit`` questions of a SQuAD file (all when None), in their articles and paragraphs."""
    whole = json.loads(source.read_text(encoding="utf-8"))
    kept, questions = [], 0
    for article in whole["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = paragraph["qas"] if limit is None else paragraph["qas"][: max(0, limit - questions)]
            if qas:
                questions += len(qas)
                paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            kept.append({**article, "paragraphs": paragraphs})
    if not questions:
        raise SystemExit(f"no questions in {source}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"version": whole.get("version", "1.1"), "data": kept}, ensure_ascii=False))
    return {"file": str(out), "source": str(source), "questions": questions, "articles": len(kept)}


# -- run_qa.py / utils_qa.py (transformers examples, Copyright 2020 The HuggingFace Team, Apache-2.0) ----
# Their logic unchanged; `examples` is a dict of columns (as datasets' batched map passes it), the
# column names are fixed, and the tokenizer call the two prepare_* functions share is written once.
def tokenize_windows(examples, tokenizer, max_seq_length, doc_stride, pad_to_max_length):
    pad_on_right = tokenizer.padding_side == "right"
    examples["question"] = [q.lstrip() for q in examples["question"]]
    return pad_on_right, tokenizer(
        examples["question" if pad_on_right else "context"], examples["context" if pad_on_right else "question"],
        truncation="only_second" if pad_on_right else "only_first", max_length=max_seq_length, stride=doc_stride,
        return_overflowing_tokens=True, return_offsets_mapping=True,
        padding="max_length" if pad_to_max_length else False,
    )  # fmt: skip


def prepare_train_features(examples, tokenizer, *window):
    pad_on_right, tokenized_examples = tokenize_windows(examples, tokenizer, *window)
    sample_mapping = tokenized_examples.pop("overflow_to_sample_mapping")
    offset_mapping = tokenized_examples.pop("offset_mapping")
    starts, ends = tokenized_examples["start_positions"], tokenized_examples["end_positions"] = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = tokenized_examples["input_ids"][i]
        if tokenizer.cls_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.cls_token_id)
        elif tokenizer.bos_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.bos_token_id)
        else:
            cls_index = 0
        sequence_ids = tokenized_examples.sequence_ids(i)
        answers = examples["answers"][sample_mapping[i]]
        if len(answers["answer_start"]) == 0:
            starts.append(cls_index), ends.append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        token_start_index = 0
        while sequence_ids[token_start_index] != (1 if pad_on_right else 0):
            token_start_index += 1
        token_end_index = len(input_ids) - 1
        while sequence_ids[token_end_index] != (1 if pad_on_right else 0):
            token_end_index -= 1
        if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
            starts.append(cls_index), ends.append(cls_index)
        else:
            while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
                token_start_index += 1
            starts.append(token_start_index - 1)
            while offsets[token_end_index][1] >= end_char:
                token_end_index -= 1
            ends.append(token_end_index + 1)
    return tokenized_examples


def prepare_validation_features(examples, tokenizer, *window):
    pad_on_right, tokenized_examples = tokenize_windows(examples, tokenizer, *window)
    sample_mapping = tokenized_examples.pop("overflow_to_sample_mapping")
    tokenized_examples["example_id"] = []
    for i in range(len(tokenized_examples["input_ids"])):
        sequence_ids = tokenized_examples.sequence_ids(i)
        context_index = 1 if pad_on_right else 0
        tokenized_examples["example_id"].append(examples["id"][sample_mapping[i]])
        tokenized_examples["offset_mapping"][i] = [
            (o if sequence_ids[k] == context_index else None)
            for k, o in enumerate(tokenized_examples["offset_mapping"][i])
        ]
    return tokenized_examples


def postprocess_qa_predictions(examples, features, predictions, version_2_with_negative=False, n_best_size=20,
                               max_answer_length=30, null_score_diff_threshold=0.0):  # fmt: skip
    """utils_qa.py's, without its files and logging; examples and features are lists of rows."""
    import numpy as np

    all_start_logits, all_end_logits = predictions
    assert len(all_start_logits) == len(features), f"{len(all_start_logits)} predictions, {len(features)} features"
    example_id_to_index = {k["id"]: i for i, k in enumerate(examples)}
    features_per_example = collections.defaultdict(list)
    for i, feature in enumerate(features):
        features_per_example[example_id_to_index[feature["example_id"]]].append(i)
    all_predictions = collections.OrderedDict()
    for example_index, example in enumerate(examples):
        min_null_prediction, prelim_predictions = None, []
        for feature_index in features_per_example[example_index]:
            start_logits, end_logits = all_start_logits[feature_index], all_end_logits[feature_index]
            offset_mapping = features[feature_index]["offset_mapping"]
            feature_null_score = start_logits[0] + end_logits[0]
            if min_null_prediction is None or min_null_prediction["score"] > feature_null_score:
                min_null_prediction = {"offsets": (0, 0), "score": feature_null_score,
                                       "start_logit": start_logits[0], "end_logit": end_logits[0]}  # fmt: skip
            start_indexes = np.argsort(start_logits)[-1 : -n_best_size - 1 : -1].tolist()
            end_indexes = np.argsort(end_logits)[-1 : -n_best_size - 1 : -1].tolist()
            for start_index in start_indexes:
                for end_index in end_indexes:
                    if start_index >= len(offset_mapping) or end_index >= len(offset_mapping):
                        continue
                    if offset_mapping[start_index] is None or offset_mapping[end_index] is None:
                        continue
                    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                        continue
                    prelim_predictions.append(
                        {"offsets": (offset_mapping[start_index][0], offset_mapping[end_index][1]),
                         "score": start_logits[start_index] + end_logits[end_index],
                         "start_logit": start_logits[start_index], "end_logit": end_logits[end_index]}
                    )  # fmt: skip
        if version_2_with_negative:
            prelim_predictions.append(min_null_prediction)
            null_score = min_null_prediction["score"]
        predictions = sorted(prelim_predictions, key=lambda x: x["score"], reverse=True)[:n_best_size]
        if version_2_with_negative and not any(p["offsets"] == (0, 0) for p in predictions):
            predictions.append(min_null_prediction)
        context = example["context"]
        for pred in predictions:
            offsets = pred.pop("offsets")
            pred["text"] = context[offsets[0] : offsets[1]]
        if len(predictions) == 0 or (len(predictions) == 1 and predictions[0]["text"] == ""):
            predictions.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})
        if not version_2_with_negative:
            all_predictions[example["id"]] = predictions[0]["text"]
            continue
        best_non_null_pred = next(p for p in predictions if p["text"] != "")  # the first non-empty one
        score_diff = null_score - best_non_null_pred["start_logit"] - best_non_null_pred["end_logit"]
        all_predictions[example["id"]] = "" if score_diff > null_score_diff_threshold else best_non_null_pred["text"]
    return all_predictions


# -- the official SQuAD scorer (v1.1; v2.0: an unanswerable question's gold answer is "") ----------------
def normalize_answer(s: str) -> str:
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def f1_score(prediction: str, ground_truth: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    if not predicted or not gold:  # squad_v2: 1 when both are empty
        return float(predicted == gold)
    num_same = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    return 0.0 if num_same == 0 else 2 * num_same / (len(predicted) + len(gold))


def squad_scores(predictions: dict[str, str], examples: list[dict[str, Any]]) -> dict[str, float]:
    """Exact match and F1, the maximum over the gold answers, as fractions (the official script prints %)."""
    exact = f1 = 0.0
    for example in examples:
        golds, predicted = example["answers"]["text"] or [""], predictions.get(example["id"], "")
        exact += max(float(normalize_answer(predicted) == normalize_answer(g)) for g in golds)
        f1 += max(f1_score(predicted, g) for g in golds)
    return {"exact_match": exact / len(examples), "f1": f1 / len(examples)}


# -- workers (one subprocess each) ------------------------------------------------------------------
def device_figures() -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        return {"device": "cpu", "threads": torch.get_num_threads()}
    return {"device": torch.cuda.get_device_name(), "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20)}


def windows_of(prepare, rows: list[dict[str, Any]], *window) -> list[dict[str, Any]]:
    """``prepare`` (a run_qa.py function) on the rows as columns, its output as one dict per window."""
    encoded = prepare({key: [row[key] for row in rows] for key in rows[0]}, *window)
    return [{k: encoded[k][i] for k in encoded} for i in range(len(encoded["input_ids"]))]


def worker_hf(spec: dict[str, Any], best: bool) -> dict[str, Any]:
    import torch
    import transformers as tf

    from tunelab.training.optim import cpu_supports_bf16

    class Clock(tf.TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            self.ended, self.steps = time.perf_counter(), state.global_step

    tf.set_seed(spec["seed"])  # run_qa.py seeds before loading the model (the new QA head's weights)
    tokenizer = tf.AutoTokenizer.from_pretrained(spec["model_path"], use_fast=True)
    model = tf.AutoModelForQuestionAnswering.from_pretrained(spec["model_path"])
    cuda = torch.cuda.is_available()
    bf16 = best and (torch.cuda.is_bf16_supported() if cuda else cpu_supports_bf16())  # as precision=auto
    pad = not best  # run_qa.py's --pad_to_max_length, True by default
    window = (tokenizer, min(spec["max_length"], tokenizer.model_max_length), spec["doc_stride"], pad)
    train_examples, dev_examples = read_squad(spec["train_file"]), read_squad(spec["dev_file"])
    version_2 = any(not ex["answers"]["text"] for ex in train_examples + dev_examples)
    train_features = windows_of(prepare_train_features, train_examples, *window)
    dev_features = windows_of(prepare_validation_features, dev_examples, *window)
    collator = tf.default_data_collator if pad else tf.DataCollatorWithPadding(tokenizer, pad_to_multiple_of=None)
    counted = {"windows": 0, "real_tokens": 0, "padded_tokens": 0}

    def counting_collator(features):
        batch = collator(features)
        if "start_positions" in batch:  # training batches only
            mask = batch["attention_mask"]
            counted["windows"] += int(mask.shape[0])
            counted["real_tokens"] += int(mask.sum())
            counted["padded_tokens"] += int(mask.numel())
        return batch

    total_steps = max(1, math.ceil(math.ceil(len(train_features) / spec["batch_size"]) * spec["epochs"]))
    options = {"use_cpu": True} if bf16 and not cuda else {}  # the Trainer refuses CPU bf16 unless told
    if best:
        options.update(train_sampling_strategy="group_by_length", optim="adamw_torch_fused", dataloader_num_workers=0)
    args = tf.TrainingArguments(
        output_dir=str(Path(spec["workdir"]) / "trainer"), per_device_train_batch_size=spec["batch_size"],
        per_device_eval_batch_size=spec["eval_batch_size"], num_train_epochs=spec["epochs"],
        learning_rate=spec["learning_rate"], weight_decay=spec["weight_decay"], seed=spec["seed"], bf16=bf16,
        warmup_steps=round(total_steps * spec["warmup_ratio"]),  # as tunelab: round(total_steps * warmup_ratio)
        report_to=[], disable_tqdm=True, **options,
    )  # fmt: skip
    clock = Clock()
    trainer = tf.Trainer(model=model, args=args, train_dataset=train_features, data_collator=counting_collator,
                         processing_class=tokenizer, callbacks=[clock])  # fmt: skip
    trainer.train()
    started = time.perf_counter()  # QuestionAnsweringTrainer.evaluate: predict the windows, then post-process
    inputs = [{k: v for k, v in f.items() if k not in ("offset_mapping", "example_id")} for f in dev_features]
    logits = trainer.predict(inputs).predictions[:2]
    predictions = postprocess_qa_predictions(dev_examples, dev_features, logits, version_2, spec["n_best"],
                                             spec["max_answer_length"])  # fmt: skip
    eval_seconds = time.perf_counter() - started
    shutil.rmtree(args.output_dir, ignore_errors=True)  # its checkpoints
    return {
        **{"setting": spec["kind"], "train_seconds": clock.ended - clock.started, "steps": clock.steps},
        **{"train_windows": len(train_features), **counted, "dev_windows": len(dev_features)},
        **{"eval_seconds": eval_seconds, "precision": "bf16" if bf16 else "fp32"},
        "optim": getattr(args.optim, "value", args.optim),
        "padding": "dynamic, grouped by length" if best else f"max_length {window[1]}",
        **{"version_2_with_negative": version_2, "transformers": tf.__version__},
        **squad_scores(predictions, dev_examples),
        **device_figures(),
    }


# tunelab config keys set from the benchmark's options (the spec's keys)
OVERRIDES = """model.name=model model.max_length=max_length data.train=train_file data.dev=dev_file
task.max_length=max_length task.doc_stride=doc_stride task.max_question_length=max_question_length
task.n_best=n_best task.max_answer_length=max_answer_length training.epochs=epochs training.batch_size=batch_size
training.eval_batch_size=eval_batch_size training.learning_rate=learning_rate training.warmup_ratio=warmup_ratio
training.weight_decay=weight_decay training.seed=seed""".split()  # noqa: SIM905


def worker_tunelab(spec: dict[str, Any]) -> dict[str, Any]:
    from rich.console import Console

    import tunelab.workflow.train as workflow
    from tunelab.config import load_config
    from tunelab.training.callbacks import Callback
    from tunelab.training.loop import Trainer

    class Clock(Callback):
        def on_train_begin(self, trainer) -> None:
            self.started, self.precision = time.perf_counter(), trainer.accelerator.mixed_precision

        def on_train_end(self, trainer) -> None:
            self.ended, self.state = time.perf_counter(), trainer.state

    # Measurement only: the dev evaluations inside the loop (with their checkpoint and best-weights
    # saves) are timed and taken out of the training time; the Hugging Face runs evaluate after it.
    evaluate, in_loop = Trainer.evaluate_and_notify, {"seconds": 0.0, "calls": 0}

    def timed_evaluate(self):
        started, metrics = time.perf_counter(), evaluate(self)
        in_loop["seconds"], in_loop["calls"] = in_loop["seconds"] + time.perf_counter() - started, in_loop["calls"] + 1
        return metrics

    Trainer.evaluate_and_notify = timed_evaluate  # type: ignore[method-assign]
    overrides = [f"{key}={spec[name]}" for key, name in (item.split("=") for item in OVERRIDES)]
    config = load_config(spec["config"], overrides + spec["tunelab_set"])
    output, clock, started = Path(spec["workdir"]) / "artifact", Clock(), time.perf_counter()
    result = workflow.train(config, output_dir=output, overwrite=True, console=Console(stderr=True), callbacks=[clock])
    workflow_seconds = time.perf_counter() - started
    metrics, dev_examples = result.report["metrics"], read_squad(spec["dev_file"])
    rows = {row["id"]: row["prediction"] for row in metrics.get("predictions", [])}
    rescored = squad_scores(rows, dev_examples) if len(rows) == len(dev_examples) else {}
    if not spec["keep"]:
        shutil.rmtree(output, ignore_errors=True)
    window = clock.ended - clock.started
    return {
        **{"setting": "tunelab", "train_seconds": window - in_loop["seconds"], "train_window_seconds": window},
        **{"eval_in_loop_seconds": in_loop["seconds"], "evaluations_in_loop": in_loop["calls"]},
        **{"workflow_seconds": workflow_seconds, "steps": clock.state.global_step, "windows": clock.state.samples_seen},
        **{"precision": "bf16" if clock.precision == "bf16" else "fp32", "padding": "dynamic, length buckets"},
        **{"exact_match": metrics["exact_match"], "f1": metrics["f1"]},
        "rescored": {f"{k}_official": v for k, v in rescored.items()},
        "config_overrides": overrides + spec["tunelab_set"],
        **device_figures(),
    }


def worker_main(name: str, spec_path: Path, result_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    kind = spec["kind"]
    write_result(result_path, worker_tunelab(spec) if kind == "tunelab" else worker_hf(spec, best=kind == "hf_best"))


# -- the parent: data, the settings one after the other, the table and the JSON -------------------------
def summarise(run: dict[str, Any], questions: int, epochs: float) -> dict[str, Any]:
    seconds = run["train_seconds"]
    out = {
        **{"train_seconds": round(seconds, 2), "windows_per_second": round(run["windows"] / seconds, 2)},
        **{"questions_per_second": round(questions * epochs / seconds, 2), "peak_rss_mb": run["peak_rss_mb"]},
        **{"exact_match": round(run["exact_match"], 6), "f1": round(run["f1"], 6), "precision": run["precision"]},
        "padding": run["padding"],
    }
    if run.get("padded_tokens"):
        out["padding_share"] = round(1 - run["real_tokens"] / run["padded_tokens"], 4)
    return {**out, "run": run}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--model", default="minilm", help="tunelab model name or local directory (default: minilm)")
    add("--train", type=Path, default=ROOT / "data" / "squad" / "train.json", help="SQuAD JSON (default: shipped)")
    add("--dev", type=Path, default=ROOT / "data" / "squad" / "dev.json", help="SQuAD JSON (default: shipped)")
    add("--limit", type=int, help="the first N questions of train and of dev (default: all)")
    add("--dev-limit", type=int, help="the first N dev questions (default: --limit)")
    add("--epochs", type=float, default=2.0, help="default: examples/squad.yaml's, 2")
    add("--batch-size", type=int, default=16, help="default: examples/squad.yaml's, 16")
    add("--lr", "--learning-rate", dest="learning_rate", type=float, default=1e-4, help="default: 1e-4")
    for flag, kind, default in NUMBERS:
        add(flag, type=kind, default=default, help=f"default: {default}")
    add("--max-length", type=int, default=384, help="run_qa.py's max_seq_length, tunelab's task.max_length")
    add("--doc-stride", type=int, default=128, help="run_qa.py's doc_stride, tunelab's task.doc_stride")
    add("--max-question-length", type=int, default=64, help="tunelab's task.max_question_length (run_qa.py: none)")
    add("--settings", default=",".join(SETTINGS), help=f"comma-separated, run in this order, of {', '.join(SETTINGS)}")
    add("--config", type=Path, default=ROOT / "examples" / "squad.yaml", help="tunelab's config")
    add("--set", dest="tunelab_set", action="append", default=[], metavar="KEY=VALUE", help="more tunelab overrides")
    add("--timeout", type=float, help="seconds per setting (default: none)")
    add("--workdir", type=Path, help="keep the data subsets and the logs here")
    add("--keep", action="store_true", help="keep tunelab's artifact in the work directory")
    add_common_arguments(parser)
    args = parser.parse_args()
    args.settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    if args.worker is None and (not args.settings or set(args.settings) - set(SETTINGS)):
        parser.error(f"--settings: choose from {', '.join(SETTINGS)}")
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        return worker_main(args.worker, args.spec, args.result)
    from rich.console import Console
    from rich.table import Table

    from tunelab.models.resolve import resolve_model

    console = Console() if sys.stdout.isatty() else Console(width=160)
    resolved = resolve_model(args.model)  # offline: a local directory or the packaged model
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tunelab-qa-speed-")) if temporary else args.workdir.resolve()
    dev_limit = args.dev_limit if args.dev_limit is not None else args.limit
    data = {"train": write_subset(args.train.resolve(), args.limit, workdir / "data" / "train.json")}
    data["dev"] = write_subset(args.dev.resolve(), dev_limit, workdir / "data" / "dev.json")
    questions, dev_questions = data["train"]["questions"], data["dev"]["questions"]
    names = "epochs batch_size eval_batch_size learning_rate warmup_ratio weight_decay seed max_length doc_stride"
    names += " max_question_length n_best max_answer_length tunelab_set keep"
    shared = {"model": args.model, "model_path": resolved.path, "config": str(args.config.resolve())}
    shared.update({"train_file": data["train"]["file"], "dev_file": data["dev"]["file"]})
    shared.update({name: getattr(args, name) for name in names.split()})
    report: dict[str, Any] = {"machine": machine_info(), "config": {**shared, "settings": args.settings}, "data": data}
    console.print(
        f"model {resolved.name} ({resolved.path}); {questions} train / {dev_questions} dev questions; "
        f"{args.epochs:g} epoch(s), batch {args.batch_size}, lr {args.learning_rate:g}; {', '.join(args.settings)}"
    )
    results: dict[str, dict[str, Any]] = {}
    try:
        for setting in args.settings:
            console.print(f"training {LABELS[setting]} ...")
            spec = {**shared, "kind": setting, "workdir": str(workdir / setting)}
            run = run_worker(Path(__file__).resolve(), setting, spec, workdir / "logs", verbose=args.verbose,
                             timeout=args.timeout)  # fmt: skip
            results[setting] = summarise(run, questions, args.epochs)
            console.print(f"  {run['train_seconds']:.1f} s training, dev EM {run['exact_match']:.4f} F1 "
                          f"{run['f1']:.4f}, peak RSS {run['peak_rss_mb']} MB")  # fmt: skip
            if note := busy_note(run):
                console.print(f"  [yellow]warning:[/] {note}")
    except WorkerError as exc:
        console.print(f"[red]{exc}[/]\nwork directory kept: {workdir}")
        raise SystemExit(1) from None
    report["settings"] = results
    tunelab = results.get("tunelab")
    for name in ("hf_best", "hf_default"):
        if tunelab and name in results:
            report[f"ratio_vs_{name}"] = round(results[name]["train_seconds"] / tunelab["train_seconds"], 3)
            report[f"f1_delta_vs_{name}"] = round(100 * (tunelab["f1"] - results[name]["f1"]), 2)
    table = Table(
        "setting", "precision", "train s", "windows/s", "questions/s", "peak RSS MB", "dev EM", "dev F1",
        "HF s / tunelab s",
        title=f"extractive QA: {questions} train questions x {args.epochs:g} epoch(s), batch {args.batch_size}, "
        f"max length {args.max_length}, stride {args.doc_stride}; {dev_questions} dev questions",
    )  # fmt: skip
    for setting, r in results.items():
        ratio = report.get(f"ratio_vs_{setting}")
        table.add_row(LABELS[setting], r["precision"], fmt(r["train_seconds"]), fmt(r["windows_per_second"]),
                      fmt(r["questions_per_second"]), str(r["peak_rss_mb"]), fmt(100 * r["exact_match"], ".2f"),
                      fmt(100 * r["f1"], ".2f"), f"{ratio:.2f}x" if ratio else "")  # fmt: skip
    console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {args.json}")
    if temporary and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
