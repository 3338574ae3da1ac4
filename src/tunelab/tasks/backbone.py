"""Loading a pretrained backbone with a task's new head; shared by every task module."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PreTrainedModel
from transformers.utils import logging as hf_logging

from tunelab.config import ModelConfig
from tunelab.models.resolve import ResolvedModel

# Config attributes that hold dropout rates, across the common encoder families.
DROPOUT_ATTRS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout", "hidden_dropout")


def load_with_head(model_class: type, resolved: ResolvedModel, model_config: ModelConfig, **config_values: Any) -> PreTrainedModel:
    """``model_class.from_pretrained`` with the task's labels (``config_values``) and the dropout
    overrides of the model section, never touching the network unless the user allowed it."""
    hub_kwargs = {"local_files_only": resolved.local_files_only, "revision": resolved.revision}
    config = AutoConfig.from_pretrained(resolved.path, **config_values, **hub_kwargs)
    if model_config.dropout is not None:
        for attr in DROPOUT_ATTRS:
            if isinstance(getattr(config, attr, None), float):
                setattr(config, attr, model_config.dropout)
    if model_config.classifier_dropout is not None:
        config.classifier_dropout = model_config.classifier_dropout
    # The base checkpoint has no head, so transformers reports it as newly initialised; that is
    # the point of fine-tuning, not something to warn the user about.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return model_class.from_pretrained(resolved.path, config=config, **hub_kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)


def head_modules(model: PreTrainedModel) -> list[str]:
    """Everything at the top level that is not the backbone is head (classifier, pre_classifier,
    score, ...): read from the model's structure, never guessed from parameter names."""
    return [name for name, _ in model.named_children() if name != model.base_model_prefix]
