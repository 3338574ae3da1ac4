"""The one way a trained model is used: evaluate, predict and serve all go through the Predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import AutoTokenizer

from tunelab.artifact import read_meta
from tunelab.config import parse_task_config
from tunelab.data.batching import LengthBucketBatchSampler, PaddingCollator
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ArtifactLoadError, ConfigError, TunelabError
from tunelab.tasks import task_from_state

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class TorchBackend:
    """Runs the artifact's PyTorch model: numpy inputs in, numpy logits out."""

    name = "torch"

    def __init__(self, model, device: str | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()

    @classmethod
    def from_artifact(cls, path: Path, task, meta: dict[str, Any], device: str | None = None) -> "TorchBackend":
        method_meta = meta.get("method") or {"stored": "full_model"}
        if method_meta.get("stored", "full_model") == "full_model":
            from tunelab.tasks.backbone import load_trained

            return cls(load_trained(task.model_class, path), device)
        # Only the trained weights are here: rebuild the base model it refers to, then restore them.
        from tunelab.config import ModelConfig, parse_method_config
        from tunelab.methods import build_method
        from tunelab.models.resolve import resolve_model

        model_meta = meta["model"]
        try:
            resolved = resolve_model(model_meta["base"])
        except TunelabError:
            if not model_meta.get("path") or not Path(model_meta["path"]).is_dir():
                raise ArtifactLoadError(
                    f"{path} holds only the weights its method trained; it needs its base model "
                    f"'{model_meta['base']}', which is not available here"
                ) from None
            resolved = resolve_model(model_meta["path"])
        base = task.build_model(resolved, ModelConfig.model_validate(meta["config"]["model"]))
        method = build_method(parse_method_config(method_meta["config"]), resolved.path)
        return cls(method.load(base, path), device)

    @torch.inference_mode()
    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        tensors = {k: torch.from_numpy(v).to(self.device) for k, v in inputs.items()}
        return self.model(**tensors).logits.float().cpu().numpy()


def backend_class(name: str):
    if name == "torch":
        return TorchBackend
    if name == "onnx":
        from tunelab.inference.onnx_backend import OnnxBackend  # onnxruntime only when asked for

        return OnnxBackend
    raise ConfigError(f"unknown backend '{name}'; known: torch, onnx")


class Predictor:
    """scikit-learn-like access to a trained artifact: ``predict``, ``predict_proba``, ``evaluate``.

    The model runs through a backend (``torch``, or ``onnx`` for an exported artifact); the
    tokenizer, batching and decoding are the same for every backend."""

    def __init__(self, backend, tokenizer, task, meta: dict[str, Any], *, batch_size: int = 64):
        self.backend = backend
        self.tokenizer = tokenizer
        self.task = task
        self.meta = meta
        self.batch_size = batch_size
        self.max_length = int(meta["model"]["max_length"])
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.collator = PaddingCollator(pad, multi_label=getattr(task, "multi_label", False))

    @classmethod
    def from_artifact(
        cls, path: str | Path, *, backend: str | None = None, device: str | None = None, batch_size: int = 64
    ) -> "Predictor":
        """``backend`` None picks torch for a trained artifact and onnx for an exported one."""
        path = Path(path)
        meta = read_meta(path)
        if backend is None:
            backend = "onnx" if meta.get("export") and not (path / "model.safetensors").is_file() else "torch"
        task = task_from_state(parse_task_config(meta["task"]["config"]), meta["task"]["state"])
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        runner = backend_class(backend).from_artifact(path, task, meta, device)
        return cls(runner, tokenizer, task, meta, batch_size=batch_size)

    @property
    def model(self):
        """The PyTorch model (torch backend only)."""
        return getattr(self.backend, "model", None)

    @property
    def labels(self) -> list[str]:
        return list(self.task.labels)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta.get("metrics") or {})

    # -- core ----------------------------------------------------------------------------------
    def outputs_for(self, encoded: EncodedDataset) -> list[np.ndarray]:
        """Logits per encoded item, in order; token-level logits cut to the item's length.
        Batches are formed from items of similar length (less padding)."""
        outputs: list[np.ndarray] = [None] * len(encoded)  # type: ignore[list-item]
        for indices in LengthBucketBatchSampler(encoded.lengths, self.batch_size, shuffle=False):
            batch = self.collator([encoded[i] for i in indices])
            logits = self.backend({k: batch[k].numpy() for k in MODEL_INPUTS if k in batch})
            for row, i in zip(logits, indices):
                outputs[i] = row[: encoded.lengths[i]] if row.ndim == 2 else row
        return outputs

    def encode(self, examples: Sequence[Any]) -> EncodedDataset:
        return self.task.encode(self.tokenizer, examples, self.max_length)

    def _run(self, texts, text_pairs=None, tokens=None):
        examples = self.task.make_examples(texts, text_pairs=text_pairs, tokens=tokens)
        encoded = self.encode(examples)
        return encoded, self.outputs_for(encoded)

    # -- public API ----------------------------------------------------------------------------
    def predict(self, texts: str | Sequence[str] | None = None, text_pairs: Sequence[str] | None = None, *,
                tokens: Sequence[Sequence[str]] | None = None) -> list:
        """One prediction per input: a label name (a list of names for multi-label models), or for
        token classification a list of entities ``{text, type, start, end, score}`` with character
        offsets into the input string. ``tokens`` gives pre-tokenised input instead of texts."""
        return self.task.predictions(*self._run(texts, text_pairs, tokens))

    def predict_proba(self, texts: str | Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        """Classification: probabilities, shape (n, len(labels)), columns in ``self.labels`` order."""
        _, outputs = self._run(texts, text_pairs)
        return self.task.probabilities(np.stack(outputs)) if outputs else np.zeros((0, len(self.labels)))

    def predict_scores(self, texts: str | Sequence[str] | None = None, text_pairs: Sequence[str] | None = None, *,
                       tokens: Sequence[Sequence[str]] | None = None, top_k: int = 1) -> list[dict[str, Any]]:
        """One JSON-ready record per input, with scores (what `tunelab predict` prints)."""
        return self.records_for(self.task.make_examples(texts, text_pairs=text_pairs, tokens=tokens), top_k=top_k)

    def records_for(self, examples: Sequence[Any], *, top_k: int = 1) -> list[dict[str, Any]]:
        """Prediction records for examples already read (e.g. from a file)."""
        encoded = self.encode(examples)
        return self.task.prediction_records(encoded, self.outputs_for(encoded), top_k=top_k)

    def evaluate(self, examples: Sequence[Any]) -> dict[str, Any]:
        """The task's metrics on labelled examples; the same code scores training-time reports."""
        encoded = self.encode(examples)
        return self.task.score(encoded, self.outputs_for(encoded))


def load(path: str | Path, *, backend: str | None = None, device: str | None = None, batch_size: int = 64) -> Predictor:
    """Load a tunelab artifact (or exported) directory into a Predictor."""
    return Predictor.from_artifact(path, backend=backend, device=device, batch_size=batch_size)
