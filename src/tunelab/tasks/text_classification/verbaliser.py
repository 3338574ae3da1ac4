"""Zero- and few-shot classification with a decoder's own language-model head (a verbaliser, as in PET).

Each text is wrapped in ``task.zero_shot.prompt`` ("{text}\\nSentiment:") and every label stands for a
word (" positive", " negative"): the label's score is the model's next-token logit of that word's
first token after the prompt. That is tunelab's generic sequence head with ``last`` pooling whose
linear layer holds the language-model head's rows of the label words' tokens (zero bias): the
same logits the causal LM gives those tokens, restricted to them, so its softmax is the LM's
distribution renormalised over the label words. Fine-tuning it on a few examples is PET-style
few-shot learning; the artifact is an ordinary classifier (Predictor, serve, ONNX export).

Long texts are cut from the left, so the prompt's ending (where the label word would follow) stays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from tunelab.config import ModelConfig
from tunelab.data.encoding import EncodedDataset
from tunelab.data.example import Example
from tunelab.errors import ConfigError
from tunelab.models.heads import is_decoder_only
from tunelab.models.resolve import ResolvedModel
from tunelab.tasks.backbone import ensure_padding


def wrap(prompt: str, text: str) -> str:
    return prompt.replace("{text}", text)


def encode_prompted(
    encode: Callable[..., EncodedDataset], tokenizer: Any, examples: Sequence[Example], max_length: int, prompt: str
) -> EncodedDataset:
    """``encode`` on the examples wrapped in the prompt, cutting long ones from the left; the
    encoded set keeps the original examples (records show the text the user gave)."""
    wrapped = [dataclasses.replace(ex, text=wrap(prompt, ex.text)) for ex in examples]
    side = tokenizer.truncation_side
    tokenizer.truncation_side = "left"
    try:
        encoded = encode(tokenizer, wrapped, max_length)
    finally:
        tokenizer.truncation_side = side
    encoded.examples = list(examples)
    return encoded


def default_word(label: str, prompt: str, name: str) -> str:
    """The cleaned label name, after a space when the prompt ends without one and the name starts
    with a Latin letter or digit (" positive"; Chinese names follow the prompt directly)."""
    spaced = name[:1].isascii() and name[:1].isalnum() and not prompt.endswith((" ", "\n", "\t"))
    return (" " if spaced else "") + name


def verbaliser_model_config(resolved: ResolvedModel, model_config: ModelConfig) -> ModelConfig:
    """tunelab's head with ``last`` pooling on a decoder-only model (where the next token is read)."""
    config = AutoConfig.from_pretrained(
        resolved.path, local_files_only=resolved.local_files_only, revision=resolved.revision
    )
    if not is_decoder_only(config):
        raise ConfigError(
            f"task.zero_shot.prompt scores label words with a decoder's language-model head, and "
            f"'{getattr(config, 'model_type', '?')}' is not a decoder-only model; leave prompt unset to classify "
            "with label embeddings"
        )
    if model_config.head == "transformers" or model_config.pooling not in ("auto", "last"):
        raise ConfigError("task.zero_shot.prompt reads the last token: leave model.head and model.pooling at auto")
    return model_config.model_copy(update={"head": "tunelab", "pooling": "last"})


def _first_token(tokenizer: Any, word: str) -> int:
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    for token_id in ids:  # a SentencePiece word may start with a bare "▁" piece
        if tokenizer.decode([token_id]).strip():
            return int(token_id)
    if not ids:
        raise ConfigError(f"task.zero_shot.label_words: {word!r} has no tokens")
    return int(ids[0])


def _output_rows(model: Any, resolved: ResolvedModel, ids: list[int]) -> torch.Tensor:
    """The language-model head's rows of ``ids``: the input embeddings when they are tied (Gemma,
    most small decoders), else the checkpoint's own ``lm_head``."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if getattr(text, "tie_word_embeddings", getattr(config, "tie_word_embeddings", True)):
        return model.backbone.get_input_embeddings().weight[ids].detach().clone()  # type: ignore[attr-defined]
    lm = AutoModelForCausalLM.from_pretrained(
        resolved.path, local_files_only=resolved.local_files_only, revision=resolved.revision, dtype=torch.float32
    )
    rows = lm.get_output_embeddings().weight[ids].detach().clone()
    del lm
    return rows


def init_verbaliser_head(
    model: Any, resolved: ResolvedModel, labels: Sequence[str], zero_shot: Any, names: Sequence[str]
) -> dict[str, Any]:
    """Write the label words' LM-head rows into the classifier; return what was done (task state)."""
    tokenizer = AutoTokenizer.from_pretrained(
        resolved.path, local_files_only=resolved.local_files_only, revision=resolved.revision
    )
    ensure_padding(tokenizer)
    given = zero_shot.label_words or {}
    words = {
        label: given.get(label) or default_word(label, zero_shot.prompt, name) for label, name in zip(labels, names)
    }
    ids = [_first_token(tokenizer, words[label]) for label in labels]
    if len(set(ids)) < len(ids):
        shared = sorted({labels[i] for i, t in enumerate(ids) if ids.count(t) > 1})
        raise ConfigError(
            f"task.zero_shot.label_words: the labels {shared} start with the same token; give them words that "
            "differ in their first token"
        )
    rows = _output_rows(model, resolved, ids)
    classifier = model.classifier  # type: ignore[attr-defined]
    with torch.no_grad():
        classifier.weight.copy_(rows.to(classifier.weight.dtype))
        classifier.bias.zero_()
    built: dict[str, Any] = {
        "mode": "verbaliser",
        "prompt": zero_shot.prompt,
        "label_words": words,
        "label_tokens": {label: tokenizer.convert_ids_to_tokens(i) for label, i in zip(labels, ids)},
    }
    if zero_shot.contextual_calibration:
        prior = content_free_prior(model, tokenizer, zero_shot.prompt)
        with torch.no_grad():
            classifier.bias.copy_(torch.as_tensor(-np.log(prior), dtype=classifier.bias.dtype))
        built["content_free_prior"] = {label: round(float(p), 6) for label, p in zip(labels, prior)}
    return built


CONTENT_FREE = ("N/A", "", "[MASK]")  # Zhao et al. 2021, "Calibrate Before Use"


@torch.no_grad()
def content_free_prior(model: Any, tokenizer: Any, prompt: str) -> np.ndarray:
    """The label words' probabilities (renormalised over them) after the prompt wrapped around
    content-free texts, averaged: the model's prior for each word. Subtracting its log from the logits
    (the head's bias) divides every probability by it: contextual calibration (Zhao et al. 2021)."""
    was_training = model.training
    model.eval()
    try:
        probs = []
        for text in CONTENT_FREE:
            batch = tokenizer([wrap(prompt, text)], return_tensors="pt")
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            probs.append(torch.softmax(logits.float(), dim=-1)[0].cpu().numpy())
    finally:
        model.train(was_training)
    prior = np.mean(probs, axis=0)
    return np.clip(prior / prior.sum(), 1e-12, None)
