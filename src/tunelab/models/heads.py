"""tunelab's own task heads on any ``AutoModel`` backbone: encoders (BERT, RoBERTa, MPNet, ELECTRA,
DeBERTa) and decoder-only models (Gemma 3, Qwen2, Llama).

transformers ships a task class per architecture, but not for every one (Gemma 3 has no token
classification class) and each pools its own way. These heads are used whenever transformers has
no class for the task, or when the user asks for them (``model.head: tunelab``, or a pooling other
than the architecture's own). They are ``PreTrainedModel``s, so ``save_pretrained``, PEFT and the
Trainer treat them like any other model; ``config.json`` keeps the backbone's config plus a
``tunelab_head`` entry, and ``load_head_model`` rebuilds them from an artifact.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import (
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

POOLINGS = ("cls", "mean", "last")
HEAD_KEY = "tunelab_head"


def is_decoder_only(config: PretrainedConfig) -> bool:
    """A causal language model with no masked-LM variant: Gemma, Qwen2, Llama, Mistral, GPT-2, ...
    (BERT and RoBERTa also have causal-LM classes, but they are encoders first)."""
    model_type = getattr(config, "model_type", "")
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def default_pooling(config: PretrainedConfig) -> str:
    """Decoders see the whole text only at its last token; encoders summarise it at the first."""
    return "last" if is_decoder_only(config) else "cls"


def _hidden_size(config: PretrainedConfig) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for attr in ("hidden_size", "d_model", "n_embd", "dim"):
        value = getattr(text, attr, None)
        if isinstance(value, int):
            return value
    raise ValueError(f"cannot tell the hidden size of a {type(config).__name__}")


def _head_dropout(config: PretrainedConfig) -> float:
    for attr in ("classifier_dropout", "hidden_dropout_prob", "hidden_dropout", "dropout"):
        value = getattr(config, attr, None)
        if isinstance(value, float):
            return value
    return 0.1


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """(batch, tokens, hidden) -> (batch, hidden). ``last`` takes the last position the mask keeps,
    so left and right padding both work."""
    if how == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden[:, -1] if how == "last" else hidden.mean(dim=1)
    mask = attention_mask.to(hidden.dtype)
    if how == "mean":
        summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)
        return summed / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    if how == "last":
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (attention_mask.long() * positions).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"unknown pooling '{how}'; choose one of {', '.join(POOLINGS)}")


class _HeadModel(PreTrainedModel):
    """Backbone + dropout + linear classifier. Subclasses decide what the classifier reads."""

    config_class = PretrainedConfig
    base_model_prefix = "backbone"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    output_type: type = SequenceClassifierOutput

    def __init__(self, config: PretrainedConfig, backbone: PreTrainedModel | None = None) -> None:
        super().__init__(config)
        self.backbone = backbone if backbone is not None else AutoModel.from_config(config)
        self.dropout = nn.Dropout(_head_dropout(config))
        self.classifier = nn.Linear(_hidden_size(config), config.num_labels)
        std = getattr(config, "initializer_range", 0.02)
        nn.init.normal_(self.classifier.weight, std=std if isinstance(std, float) else 0.02)
        nn.init.zeros_(self.classifier.bias)
        accepted = inspect.signature(self.backbone.forward).parameters
        self._backbone_takes = set(accepted)
        self._backbone_takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        self.post_init()

    # PEFT's prompt methods and resizing reach the embeddings through these.
    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.backbone.set_input_embeddings(value)

    def _init_weights(self, module: nn.Module) -> None:
        # Weights come from the backbone checkpoint and the head initialises itself in __init__;
        # nothing for transformers to (re)initialise.
        return None

    @property
    def head_config(self) -> dict[str, Any]:
        return dict(getattr(self.config, HEAD_KEY, None) or {})

    def _backbone_outputs(self, input_ids, attention_mask, inputs_embeds, kwargs: dict[str, Any]):
        extra = {
            k: v
            for k, v in kwargs.items()
            if v is not None and (self._backbone_takes_kwargs or k in self._backbone_takes)
        }
        extra.pop("labels", None)
        extra.pop("return_dict", None)
        if "use_cache" in self._backbone_takes and "past_key_values" not in extra:
            extra["use_cache"] = False  # no KV cache while training or classifying
        return self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, return_dict=True, **extra
        )

    def _features(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, **kwargs: Any):
        outputs = self._backbone_outputs(input_ids, attention_mask, inputs_embeds, kwargs)
        hidden = outputs.last_hidden_state
        logits = self.classifier(self.dropout(self._features(hidden, attention_mask)))
        loss = None
        if labels is not None:  # tunelab computes its loss outside; this is for plain-PyTorch users
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100
            )
        return self.output_type(
            loss=loss,
            logits=logits,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )


class TunelabForSequenceClassification(_HeadModel):
    """One label distribution per text, from the pooled hidden states (``cls``, ``mean`` or ``last``).

    With ``normalize`` in the head config the pooled vector is L2-normalised before the linear
    layer, so a classifier whose rows are unit label embeddings times a scale computes
    ``scale * cosine`` (zero-shot classification from label names; the same in torch and ONNX)."""

    output_type = SequenceClassifierOutput

    @property
    def pooling(self) -> str:
        return self.head_config.get("pooling") or default_pooling(self.config)

    @property
    def normalize(self) -> bool:
        return bool(self.head_config.get("normalize", False))  # absent in older artifacts: off

    def _features(self, hidden, attention_mask):
        features = pool(hidden, attention_mask, self.pooling)
        if self.normalize:
            features = nn.functional.normalize(features.float(), p=2.0, dim=-1).to(features.dtype)
        return features


class TunelabForTokenClassification(_HeadModel):
    """One label distribution per token, from each token's hidden state."""

    output_type = TokenClassifierOutput

    def _features(self, hidden, attention_mask):
        return hidden


class TunelabForPositionClassification(_HeadModel):
    """One label distribution per text from the hidden states at given token positions
    (``positions``: (batch, k) indices, e.g. the entity start markers of relation extraction),
    concatenated: the classifier reads k * hidden features. Encoders and decoders alike."""

    output_type = SequenceClassifierOutput

    def __init__(self, config: PretrainedConfig, backbone: PreTrainedModel | None = None) -> None:
        super().__init__(config, backbone)
        count = int(self.head_config.get("positions", 1))
        self.classifier = nn.Linear(_hidden_size(config) * count, config.num_labels)
        std = getattr(config, "initializer_range", 0.02)
        nn.init.normal_(self.classifier.weight, std=std if isinstance(std, float) else 0.02)
        nn.init.zeros_(self.classifier.bias)

    @property
    def positions_input(self) -> str:
        return self.head_config.get("input", "positions")

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, **kwargs: Any):
        positions = kwargs.pop(self.positions_input, None)
        if positions is None:
            raise ValueError(f"{type(self).__name__} needs the '{self.positions_input}' input: the positions to read")
        outputs = self._backbone_outputs(input_ids, attention_mask, inputs_embeds, kwargs)
        hidden = outputs.last_hidden_state
        index = positions.long().unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        features = hidden.gather(1, index).reshape(hidden.shape[0], -1)
        logits = self.classifier(self.dropout(features))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels.reshape(-1))
        return self.output_type(
            loss=loss,
            logits=logits,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )


class TunelabForQuestionAnswering(_HeadModel):
    """A span per text: a start and an end logit per token (``config.num_labels`` is 2), as
    transformers' ``...ForQuestionAnswering`` classes, for backbones that have none (Gemma 3)."""

    output_type = QuestionAnsweringModelOutput

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, **kwargs: Any):
        kwargs.pop("start_positions", None)
        kwargs.pop("end_positions", None)
        outputs = self._backbone_outputs(input_ids, attention_mask, inputs_embeds, kwargs)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        start, end = logits.unbind(dim=-1)
        return QuestionAnsweringModelOutput(
            start_logits=start.contiguous(),
            end_logits=end.contiguous(),
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )


HEAD_CLASSES: dict[str, type[_HeadModel]] = {
    "sequence": TunelabForSequenceClassification,
    "token": TunelabForTokenClassification,
    "positions": TunelabForPositionClassification,
    "span": TunelabForQuestionAnswering,
}
HEAD_CLASS_NAMES = {cls.__name__: cls for cls in HEAD_CLASSES.values()}


def build_head_model(
    kind: str,
    config: PretrainedConfig,
    backbone: PreTrainedModel,
    pooling: str | None,
    options: dict[str, Any] | None = None,
    *,
    normalize: bool = False,
) -> _HeadModel:
    """Wrap an already loaded pretrained backbone with a fresh head; ``config`` carries the labels,
    ``options`` the head's own settings (``positions``: how many positions a position head reads,
    ``input``: the name of its positions input). ``normalize`` (sequence heads): L2-normalise the
    pooled vector before the linear layer."""
    head: dict[str, Any] = {"kind": kind, **(options or {})}
    if kind == "sequence":
        head["pooling"] = pooling or default_pooling(config)
        if normalize:
            head["normalize"] = True
    setattr(config, HEAD_KEY, head)
    cls = HEAD_CLASSES[kind]
    config.architectures = [cls.__name__]
    model = cls(config, backbone=backbone)
    return model


def head_class_of(path: str | Path) -> type[_HeadModel] | None:
    """The tunelab head class a saved model directory was written with, or None for a transformers class."""
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        return None
    import json

    architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    for name in architectures:
        if name in HEAD_CLASS_NAMES:
            return HEAD_CLASS_NAMES[name]
    return None


def load_head_model(path: str | Path) -> _HeadModel:
    """Rebuild a saved tunelab head model: structure from config.json, weights from safetensors.

    The backbone is created on the meta device and the saved tensors are assigned into it, so a
    large model is not first initialised at random and then overwritten."""
    from accelerate import init_empty_weights
    from safetensors.torch import load_file

    path = Path(path)
    cls = head_class_of(path)
    if cls is None:
        raise ValueError(f"{path} was not saved with a tunelab head")
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    with init_empty_weights(include_buffers=False):
        model = cls(config)
    state: dict[str, torch.Tensor] = {}
    shards = sorted(path.glob("model*.safetensors"))
    if not shards:
        raise FileNotFoundError(f"{path} has no model.safetensors")
    for shard in shards:
        state.update(load_file(str(shard)))
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if unexpected:
        raise ValueError(f"{path} holds weights the model does not have: {unexpected[:5]}")
    if missing:
        # Weights shared with another (tied) tensor are saved once; tie them back.
        model.tie_weights()
        still = [name for name, p in model.named_parameters() if p.is_meta]
        if still:
            raise ValueError(f"{path} lacks weights for {still[:5]}")
    return model.eval()
