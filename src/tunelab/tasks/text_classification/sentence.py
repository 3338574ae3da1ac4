"""Sentence embeddings from any classifier's body, the way sentence-transformers pools them.

Zero-shot classification (label embeddings as the head) and few-shot contrastive training (SetFit's
idea: pull texts of one label together, push the others apart) both need one vector per text:
the backbone's token states, mean-pooled over the attention mask and L2-normalised, which is how
sentence-transformers models such as the default all-MiniLM-L6-v2 are trained to be used (their
``1_Pooling/config.json`` says so; :func:`sentence_pooling` reads it).

The body is taken from whatever model is given: a bare ``AutoModel``, tunelab's generic head
(``.backbone``), a transformers task class (``.base_model``: BertForSequenceClassification's
``.bert``) or a peft model (its wrapped model, adapters included). sentence-transformers itself is
not a dependency: these few lines are what its Transformer + Pooling + Normalize modules compute.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunelab.models.heads import pool

# sentence-transformers' 1_Pooling/config.json keys -> tunelab's pooling names
_ST_POOLING = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_lasttoken": "last",
}


def sentence_pooling(model_path: str | Path) -> str | None:
    """The pooling a sentence-transformers model directory declares (``modules.json`` ->
    ``1_Pooling/config.json``): "mean", "cls" or "last"; None when the directory is not a
    sentence-transformers model or its pooling (max, mean-sqrt-len) has no tunelab equivalent."""
    root = Path(model_path)
    modules_file = root / "modules.json"
    if not modules_file.is_file():
        return None
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        folder = next(m.get("path") for m in modules if str(m.get("type", "")).endswith("Pooling"))
        settings = json.loads((root / folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, StopIteration, AttributeError, TypeError):
        return None
    chosen = [name for key, name in _ST_POOLING.items() if settings.get(key)]
    others = [key for key, on in settings.items() if key.startswith("pooling_mode") and on and key not in _ST_POOLING]
    return chosen[0] if len(chosen) == 1 and not others else None


def body(model: Any) -> Any:
    """The encoder (or decoder) stack of a classifier, whichever class wraps it."""
    if hasattr(model, "get_base_model"):  # peft: the wrapped model, its adapters still in place
        model = model.get_base_model()
    return getattr(model, "base_model", model)


def _accepted(module: torch.nn.Module) -> tuple[set[str], bool]:
    params = inspect.signature(module.forward).parameters
    return set(params), any(p.kind is p.VAR_KEYWORD for p in params.values())


def pooled(
    model: torch.nn.Module,
    batch: Mapping[str, torch.Tensor],
    *,
    pooling: str = "mean",
    normalize: bool = True,
) -> torch.Tensor:
    """(batch, hidden) sentence embeddings of a tokenised batch (``input_ids``, ``attention_mask``,
    ``token_type_ids`` when the model takes them; other keys are ignored), differentiable: the
    contrastive loss of few-shot training back-propagates through it."""
    stack = body(model)
    takes, takes_any = _accepted(stack)
    names = ("input_ids", "attention_mask", "token_type_ids")
    inputs: dict[str, Any] = {k: v for k, v in batch.items() if k in names and (takes_any or k in takes)}
    if "use_cache" in takes:
        inputs["use_cache"] = False
    hidden = stack(**inputs, return_dict=True).last_hidden_state
    features = pool(hidden, batch.get("attention_mask"), pooling)
    return torch.nn.functional.normalize(features.float(), p=2, dim=-1) if normalize else features


def embed_texts(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 128,
    pooling: str = "mean",
    normalize: bool = True,
) -> np.ndarray:
    """(len(texts), hidden) float32 sentence embeddings, in the order of ``texts``; computed without
    gradients in eval mode (the model's mode is restored), batches of similar lengths together."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if tokenizer.pad_token is None:
        from tunelab.tasks.backbone import ensure_padding

        ensure_padding(tokenizer)
    texts = [str(t) for t in texts]
    stack = body(model)
    hidden_size = getattr(getattr(stack, "config", None), "hidden_size", None)
    if not texts:
        return np.zeros((0, int(hidden_size or 0)), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    rows: list[np.ndarray] = []
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                chunk = [texts[i] for i in order[start : start + batch_size]]
                batch = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                batch = {k: v.to(device) for k, v in batch.items()}
                rows.append(pooled(model, batch, pooling=pooling, normalize=normalize).float().cpu().numpy())
    finally:
        model.train(was_training)
    sorted_rows = np.concatenate(rows, axis=0)
    out = np.empty_like(sorted_rows)
    out[np.asarray(order)] = sorted_rows
    return out.astype(np.float32, copy=False)
