"""NER training throughput against classification at equal token counts.

The same WNUT-17 sentences are trained twice with the same model, batch size, precision and
number of samples: once as token classification (tags per word), once as text classification
(the joined sentence with a label). Both see the same sub-word tokens, so tokens per second
compare the task heads, losses and data paths, not the data.

    python benchmarks/ner_throughput.py [--data-dir data] [--samples 3200] [--repeat 2] [--json OUT]

Prints samples/s, tokens/s, peak RSS and the ratio NER / classification.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from tunelab.config import ModelConfig, TrainingConfig
from tunelab.data.example import Example
from tunelab.models import resolve_model
from tunelab.tasks.text_classification.config import TextClassificationConfig
from tunelab.tasks.text_classification.task import TextClassificationTask
from tunelab.tasks.token_classification.config import TokenClassificationConfig
from tunelab.tasks.token_classification.readers import read_ner_file
from tunelab.tasks.token_classification.task import TokenClassificationTask
from tunelab.training.loop import Trainer

ROOT = Path(__file__).resolve().parents[1]


def run(task, examples, tokenizer, resolved, training: TrainingConfig) -> dict:
    encoded = task.encode(tokenizer, examples, 128)
    torch.manual_seed(training.seed)
    model = task.build_model(resolved, ModelConfig())
    with tempfile.TemporaryDirectory() as workdir:
        trainer = Trainer(
            model=model,
            task=task,
            loss_fn=task.loss_fn(examples),
            train_set=encoded,
            dev_set=None,
            collator=task.collator(tokenizer.pad_token_id),
            config=training,
            workdir=Path(workdir),
            callbacks=[],
        )
        started = time.perf_counter()
        state = trainer.fit()
        seconds = time.perf_counter() - started
    epochs = state.samples_seen / len(encoded)
    tokens = sum(encoded.lengths) * epochs
    return {
        "samples": state.samples_seen,
        "seconds": round(seconds, 2),
        "samples_per_second": round(state.samples_seen / seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1),
        "mean_tokens": round(sum(encoded.lengths) / len(encoded), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--samples", type=int, default=3200)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    ner_examples = read_ner_file(args.data_dir / "wnut17" / "train.conll").examples
    ner_examples = [ex for ex in ner_examples if ex.tokens][: args.samples]
    # the same sentences as classification input; the label only has to exist
    cls_examples = [
        Example(" ".join(ex.tokens), label=("has_entity" if ex.entities() else "none")) for ex in ner_examples
    ]
    resolved = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    training = TrainingConfig(epochs=1, batch_size=32, tensorboard=False, early_stopping={"patience": None})
    results: dict[str, dict] = {}
    runs = (
        (
            "text_classification",
            TextClassificationTask.from_examples(TextClassificationConfig(), cls_examples),
            cls_examples,
        ),
        (
            "token_classification",
            TokenClassificationTask.from_examples(TokenClassificationConfig(), ner_examples),
            ner_examples,
        ),
    )
    # Alternate the two, `--repeat` times, and keep each one's best run: the first run in a
    # process also pays one-time kernel set-up, which would otherwise favour whichever goes second.
    for round_ in range(args.repeat):
        for name, task, examples in runs:
            result = run(task, examples, tokenizer, resolved, training)
            print(f"round {round_ + 1} {name:22s} {result}")
            if name not in results or result["tokens_per_second"] > results[name]["tokens_per_second"]:
                results[name] = result
    ratio = results["token_classification"]["tokens_per_second"] / results["text_classification"]["tokens_per_second"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"NER / classification tokens per second: {ratio:.3f}   peak RSS {peak_mb:.0f} MB")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"results": results, "ratio_ner_vs_classification": ratio, "peak_rss_mb": round(peak_mb)}, indent=2
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
