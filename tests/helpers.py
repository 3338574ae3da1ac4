"""Builders shared by the tests: tiny random models on a real vocabulary, toy data files."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
VOCAB_EN = FIXTURES / "vocab_en" / "vocab.txt"
VOCAB_ZH = FIXTURES / "vocab_zh" / "vocab.txt"

# Words that make a learnable toy task: each label has its own cue words.
CUES = {
    "billing": ["invoice", "charge", "payment", "refund", "bill"],
    "shipping": ["delivery", "package", "courier", "parcel", "arrive"],
    "account": ["password", "login", "profile", "email", "username"],
}
FILLER = ["the", "my", "is", "was", "please", "help", "with", "today", "again", "not", "why", "when", "a", "i", "need"]


def build_tiny_bert(directory: Path, vocab_file: Path = VOCAB_EN, *, seed: int = 0, **overrides) -> Path:
    """A 2-layer, 32-wide BertModel saved like any Hugging Face model directory."""
    import torch
    import transformers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    if int(transformers.__version__.split(".")[0]) >= 5:
        from transformers.models.bert.tokenization_bert import load_vocab

        # transformers 5 builds the WordPiece model from `vocab` and ignores `vocab_file`.
        tokenizer = BertTokenizerFast(vocab=dict(load_vocab(str(vocab_file))), do_lower_case=True)
    else:
        tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(directory)
    settings = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    settings.update(overrides)
    torch.manual_seed(seed)
    BertModel(BertConfig(**settings)).save_pretrained(directory)
    return directory


def make_texts(n: int, seed: int = 0, labels=tuple(CUES)) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = rng.sample(FILLER, rng.randint(2, 6)) + rng.sample(CUES[label], 2)
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows, header=("text", "label")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def tiny_overrides(model_dir: Path, data: dict[str, Path], **extra) -> list[str]:
    """Overrides for a fast run of the tiny model on toy data."""
    values = {
        "model.name": str(model_dir),
        "data.train": str(data["train"]),
        "data.dev": str(data["dev"]),
        "training.epochs": 8,
        "training.batch_size": 16,
        "training.learning_rate": 3e-3,
        "training.precision": "fp32",
        "training.tensorboard": False,
        "training.early_stopping.patience": None,
        # toy sets of 16 or fewer texts per label would make `auto` train contrastively (few-shot);
        # the suite's runs test the loop: tests/training/test_contrastive.py sets the strategy itself
        "training.strategy": "standard",
        # a second a run saved (about 100 runs in the suite); tests of plots and pages turn it on
        "output.plots": False,
    }
    values.update(extra)
    return [f"{k}={'null' if v is None else v}" for k, v in values.items()]


PEOPLE = ["john", "mary", "peter", "susan", "david", "laura"]
PLACES = ["paris", "london", "berlin", "madrid", "tokyo", "rome"]
VERBS = ["met", "saw", "called", "visited", "thanked"]


def make_ner_sentences(n: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    """Toy English NER: 'i met john smith in paris today' with PER and LOC tags (IOB2)."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        words = [("i", "O"), (rng.choice(VERBS), "O")]
        person = [rng.choice(PEOPLE)] + ([rng.choice(PEOPLE)] if rng.random() < 0.3 else [])
        words += [(w, ("B-PER" if i == 0 else "I-PER")) for i, w in enumerate(person)]
        words += [("in", "O"), (rng.choice(PLACES), "B-LOC")]
        if rng.random() < 0.5:
            words.append(("today", "O"))
        sentences.append(words)
    return sentences


def write_conll(path: Path, sentences) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return path


# -- Chinese toy data and tiny decoders -------------------------------------------------------
ZH_CUES = {
    "正面": ["很好", "满意", "喜欢", "推荐", "干净"],
    "负面": ["很差", "失望", "讨厌", "退货", "太吵"],
}
ZH_FILLER = ["酒店", "房间", "服务", "早餐", "价格", "这次", "我们", "觉得", "非常", "还是", "，", "。", "！"]
ZH_PEOPLE = ["张伟", "李娜", "王小明", "高勇", "刘洋", "陈静"]
ZH_PLACES = ["北京", "上海", "杭州", "深圳", "武汉", "成都"]


def make_zh_texts(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Chinese reviews (no spaces, full-width punctuation) whose label is given by cue words."""
    rng = random.Random(seed)
    labels = list(ZH_CUES)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        parts = rng.sample(ZH_FILLER, rng.randint(2, 6)) + rng.sample(ZH_CUES[label], 2)
        rng.shuffle(parts)
        rows.append(("".join(parts), label))
    return rows


def make_zh_ner_sentences(n: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    """Character-level Chinese NER (one character a token, IOB2): '高勇在北京工作。'."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        person, place = rng.choice(ZH_PEOPLE), rng.choice(ZH_PLACES)
        chars = [(c, "B-PER" if i == 0 else "I-PER") for i, c in enumerate(person)]
        chars += [(c, "O") for c in rng.choice(["在", "去了", "来自"])]
        chars += [(c, "B-LOC" if i == 0 else "I-LOC") for i, c in enumerate(place)]
        chars += [(c, "O") for c in rng.choice(["工作。", "出差！", "，很开心。", ""])]
        sentences.append(chars)
    return sentences


def build_tiny_decoder(
    directory: Path, *, family: str = "gemma3", tokenizer_style: str = "byte_level", seed: int = 0
) -> Path:
    """A 2-layer, 32-wide random decoder-only model (Gemma 3 or Llama architecture) saved like a
    causal-LM checkpoint, with a small real BPE tokenizer trained in code (tests/decoder_helpers.py)."""
    import torch
    from transformers import AutoTokenizer

    from decoder_helpers import build_decoder_tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    build_decoder_tokenizer(directory, style=tokenizer_style)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    if family == "gemma3":
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig

        model = Gemma3ForCausalLM(Gemma3TextConfig(head_dim=16, sliding_window=64, **common))
    elif family == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        model = LlamaForCausalLM(LlamaConfig(**common))
    else:
        raise ValueError(f"unknown decoder family {family}")
    model.save_pretrained(directory)
    return directory


# Small settings for the PEFT methods, so tiny models train them in seconds (method contract tests).
SMALL_METHOD_SETTINGS = {
    "prefix_tuning": ["method.num_virtual_tokens=4"],
    "prompt_tuning": ["method.num_virtual_tokens=4"],
    "p_tuning": ["method.num_virtual_tokens=4", "method.encoder_hidden_size=16"],
    "adapter": ["method.reduction_factor=4"],
    "adalora": ["method.init_r=6", "method.target_r=2"],
}


def final_outputs_callback():
    """A callback that keeps what the in-memory model predicts on dev once training has ended
    (best weights restored), to compare with the reloaded artifact."""
    from tunelab.training.callbacks import Callback

    class FinalOutputs(Callback):
        def on_train_end(self, trainer):
            self.outputs = trainer.raw_outputs(trainer.dev_loader, trainer.dev_set)

    return FinalOutputs()


def perfect_outputs(encoded, num_tags):
    """Token-classification logits that put all mass on each labelled sub-word's gold tag: what a
    perfect model outputs."""
    import numpy as np

    from tunelab.data.batching import IGNORE_INDEX

    outputs = []
    for labels in encoded.labels:
        rows = np.zeros((len(labels), num_tags), dtype=np.float32)
        for i, label in enumerate(labels):
            if label != IGNORE_INDEX:
                rows[i, label] = 10.0
        outputs.append(rows)
    return outputs


def perfect_items(task, encoded):
    """The task's decoded per-item results of those logits (what decode_batch gives the scorer)."""
    return [
        task.decode_batch(encoded, [i], {"logits": rows[None]})[0]
        for i, rows in enumerate(perfect_outputs(encoded, len(task.labels)))
    ]


LEGACY = FIXTURES / "legacy_v1"


def fill_deterministic(model) -> None:
    """Give every parameter fixed, non-trivial values computed from its position: the same model on
    any machine and torch version, without storing weights (no RNG involved)."""
    import math

    import torch

    with torch.no_grad():
        for k, (name, param) in enumerate(sorted(model.named_parameters())):
            n = param.numel()
            # a hash of (position, parameter): values spread in [-0.5, 0.5), no two parameters alike
            angle = torch.arange(n, dtype=torch.float64) * 12.9898 + k * 78.233
            wave = torch.remainder(torch.sin(angle) * 43758.5453, 1.0) - 0.5
            if name.endswith("LayerNorm.weight"):
                values = 1.0 + 0.2 * wave
            else:
                values = wave * (4.0 / math.sqrt(max(1, param.shape[-1])))
            param.copy_(values.reshape(param.shape).to(param.dtype))


def materialise_legacy(directory: Path) -> Path:
    """The format-1 fixture artifacts (tests/fixtures/legacy_v1, kept without weights) copied to
    ``directory``, each with the deterministic weights of :func:`fill_deterministic` written by
    transformers from its own config.json."""
    import shutil

    import transformers

    shutil.copytree(LEGACY, directory, dirs_exist_ok=True)
    for config_file in sorted(directory.glob("*/config.json")):
        config = transformers.AutoConfig.from_pretrained(config_file.parent)
        model = getattr(transformers, config.architectures[0])(config)
        fill_deterministic(model)
        model.save_pretrained(config_file.parent, safe_serialization=True)
    return directory
