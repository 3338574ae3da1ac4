"""Loading a pretrained backbone with a task's new head; shared by every task module.

The head is transformers' own task class for the architecture when it has one (BertFor...,
Gemma3TextForSequenceClassification), otherwise tunelab's generic head (`tunelab.models.heads`);
``model.head`` and ``model.pooling`` choose explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel
from transformers.utils import logging as hf_logging

from tunelab.config import ModelConfig
from tunelab.errors import ConfigError
from tunelab.models.heads import build_head_model, default_pooling, head_class_of, load_head_model
from tunelab.models.resolve import ResolvedModel

# Config attributes that hold dropout rates, across the common encoder families.
DROPOUT_ATTRS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "dropout",
    "attention_dropout",
    "hidden_dropout",
)


def effective_max_length(tokenizer, configured: int) -> int:
    """``model.max_length``, capped at the tokenizer's own limit when it states a real one
    (many tokenizers say 10**30 for "unknown")."""
    limit = getattr(tokenizer, "model_max_length", None)
    limit = int(limit) if isinstance(limit, int) and 0 < limit < 100_000 else 10**6
    return min(configured, limit)


def ensure_padding(tokenizer) -> None:
    """Decoder tokenizers often have no pad token; batches need one. Use end-of-sequence (the usual
    choice), else unknown. Padding is on the right and masked, so the choice never reaches the model."""
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ConfigError("the tokenizer has no pad, end-of-sequence or unknown token to pad batches with")
        tokenizer.pad_token = fallback
    tokenizer.padding_side = "right"


def _pad_token_id(resolved: ResolvedModel) -> int | None:
    tokenizer = AutoTokenizer.from_pretrained(
        resolved.path, local_files_only=resolved.local_files_only, revision=resolved.revision
    )
    ensure_padding(tokenizer)
    return tokenizer.pad_token_id


def use_generic_head(model_class: type, config, model_config: ModelConfig) -> bool:
    """transformers' class when it knows the architecture, unless the user asked for tunelab's head
    or for a pooling only tunelab's head offers."""
    if model_config.head == "tunelab":
        return True
    has_native = type(config) in getattr(model_class, "_model_mapping", {})
    if model_config.head == "transformers":
        if not has_native:
            raise ConfigError(
                f"transformers has no {model_class.__name__.replace('AutoModelFor', '')} class for "
                f"'{config.model_type}'; set model.head to auto or tunelab to use tunelab's generic head"
            )
        return False
    return not has_native or model_config.pooling not in ("auto", default_pooling(config))


def load_with_head(
    model_class: Any,
    resolved: ResolvedModel,
    model_config: ModelConfig,
    *,
    kind: str,
    head_options: dict[str, Any] | None = None,
    **config_values: Any,
) -> PreTrainedModel:
    """The backbone with a fresh head of ``kind`` ("sequence", "token" or "positions"; ``head_options``:
    the head's own settings), the task's labels (``config_values``) and the dropout overrides of the
    model section, in fp32 (mixed precision casts per operation), never touching the network unless
    the user allowed it."""
    hub_kwargs = {"local_files_only": resolved.local_files_only, "revision": resolved.revision}
    overrides = dict(model_config.config_overrides)
    if overrides:  # given to from_pretrained, so a config that derives values from them does so
        plain = AutoConfig.from_pretrained(resolved.path, **hub_kwargs)
        unknown = sorted(key for key in overrides if not hasattr(plain, key))
        if unknown:
            raise ConfigError(
                f"model.config_overrides: {type(plain).__name__} ('{plain.model_type}') has no attribute "
                f"{', '.join(unknown)}"
            )
    config = AutoConfig.from_pretrained(resolved.path, **{**overrides, **config_values}, **hub_kwargs)
    if getattr(config, "pad_token_id", None) is None:
        # decoder sequence classifiers find each text's last token by the pad id
        config.pad_token_id = _pad_token_id(resolved)
    if model_config.dropout is not None:
        for attr in DROPOUT_ATTRS:
            if isinstance(getattr(config, attr, None), float):
                setattr(config, attr, model_config.dropout)
    if model_config.classifier_dropout is not None:
        config.classifier_dropout = model_config.classifier_dropout
    # The base checkpoint has no head, so transformers reports it as newly initialised; that is
    # the point of fine-tuning, not something to warn the user about.
    generic = use_generic_head(model_class, config, model_config)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        if not generic:
            return model_class.from_pretrained(resolved.path, config=config, dtype=torch.float32, **hub_kwargs)
        backbone = AutoModel.from_pretrained(resolved.path, config=config, dtype=torch.float32, **hub_kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    pooling = None if model_config.pooling == "auto" else model_config.pooling
    return build_head_model(kind, config, backbone, pooling, head_options)


def load_trained(model_class: Any, path: str | Path) -> PreTrainedModel:
    """A full trained model from an artifact directory, whichever head it was trained with."""
    if head_class_of(path) is not None:
        return load_head_model(path)
    return model_class.from_pretrained(path, local_files_only=True, dtype=torch.float32)


def head_modules(model: PreTrainedModel) -> list[str]:
    """Everything at the top level that is not the backbone is head (classifier, pre_classifier,
    score, ...): read from the model's structure, never guessed from parameter names."""
    return [name for name, _ in model.named_children() if name != model.base_model_prefix]
