"""The one way a trained model is used: evaluate, predict and serve all go through the Predictor."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from tunelab.artifact import ArtifactMeta, artifact_path, is_ensemble, read_meta, resolve_artifact_dir
from tunelab.config import parse_task_config
from tunelab.data.batching import LengthBucketBatchSampler
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ArtifactLoadError, ConfigError, TunelabError
from tunelab.tasks import task_from_state
from tunelab.tasks.base import Outputs, Task


class TorchBackend:
    """Runs the artifact's PyTorch model: numpy inputs in, the task's outputs out (float32 numpy)."""

    name = "torch"

    def __init__(self, model, device: str | None = None, *, task: Task) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = task.prepare_model(model.to(self.device).eval())  # e.g. hooks that add outputs
        self.task = task

    @classmethod
    def load_model(cls, path: Path, task: Task, meta: ArtifactMeta):
        """The artifact's torch model: the full model, or the base model with the trained weights restored."""
        if meta.method.stored == "full_model":
            from tunelab.tasks.backbone import load_trained

            return load_trained(task.model_class, path)
        # Only the trained weights are here: rebuild the base model it refers to, then restore them.
        from tunelab.config import ModelConfig, parse_method_config
        from tunelab.methods import build_method
        from tunelab.models.resolve import resolve_model

        model_meta = meta.model
        try:
            if model_meta.source == "local":  # a directory, recorded relative to the artifact
                resolved = resolve_model(str(artifact_path(model_meta.path or model_meta.base, path)))
            else:
                resolved = resolve_model(model_meta.base)
        except TunelabError:
            # older artifacts recorded the base model's absolute path too
            if not model_meta.path or not artifact_path(model_meta.path, path).is_dir():
                raise ArtifactLoadError(
                    f"{path} holds only the weights its method trained; it needs its base model "
                    f"'{model_meta.base}', which is not available here"
                ) from None
            resolved = resolve_model(str(artifact_path(model_meta.path, path)))
        base = task.build_model(resolved, ModelConfig.model_validate(meta.model_config_section))
        method = build_method(parse_method_config(meta.method.config), resolved.path, task_type=task.peft_task_type)
        return method.load(base, path)

    @classmethod
    def from_artifact(cls, path: Path, task: Task, meta: ArtifactMeta, device: str | None = None) -> TorchBackend:
        return cls(cls.load_model(path, task, meta), device, task=task)

    @torch.inference_mode()
    def __call__(self, inputs: dict[str, np.ndarray]) -> Outputs:
        tensors = {k: torch.from_numpy(v).to(self.device) for k, v in inputs.items()}
        values = self.task.outputs(self.model(**tensors))
        return {name: value.float().cpu().numpy() for name, value in values.items()}


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

    def __init__(self, backend, tokenizer, task: Task, meta: ArtifactMeta, *, batch_size: int = 64):
        self.backend = backend
        self.tokenizer = tokenizer
        self.task = task
        self.meta = meta
        self.batch_size = batch_size
        self.max_length = int(meta.model.max_length)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.collator = task.collator(pad)

    @classmethod
    def from_artifact(
        cls,
        path: str | Path,
        *,
        backend: str | None = None,
        device: str | None = None,
        batch_size: int = 64,
        meta: ArtifactMeta | None = None,
    ) -> Predictor:
        """``backend`` None picks torch for a trained artifact and onnx for an exported one. ``meta``:
        the artifact's metadata with its recorded paths relative to ``path``, for an artifact that is
        not yet where it will be published (``tunelab.json`` holds paths relative to that place)."""
        path = Path(path) if meta is not None else resolve_artifact_dir(path)  # a `tunelab tune` output: best/
        meta = meta or read_meta(path)
        if is_ensemble(meta):  # `tunelab ensemble`: the members run, their task combines the outputs
            from tunelab.inference.ensemble import load_ensemble

            return load_ensemble(cls, path, meta, backend=backend, device=device, batch_size=batch_size)
        if backend is None:
            backend = "onnx" if meta.export and not (path / "model.safetensors").is_file() else "torch"
        check_artifact_files(path, meta, backend)
        task = task_from_state(parse_task_config(meta.task.config), meta.task.state)
        with _damaged(path, "task files"):
            task.load_files(path)  # what the task fitted after training (Task.fit_after_training)
        with _damaged(path, "tokenizer"):
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        with _damaged(path, "model"):
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
        return dict(self.meta.metrics)

    # -- core ----------------------------------------------------------------------------------
    def batches(self, encoded: EncodedDataset) -> Iterator[tuple[list[int], Outputs]]:
        """(item indices, the model's outputs) per batch; batches are formed from items of similar
        length (less padding)."""
        for indices in LengthBucketBatchSampler(encoded.lengths, self.batch_size, shuffle=False):
            batch = self.collator([encoded[i] for i in indices])
            yield indices, self.backend({k: batch[k].numpy() for k in self.task.input_names if k in batch})

    def items_for(self, encoded: EncodedDataset) -> list[Any]:
        """The task's per-item results (decoded batch by batch), in input order."""
        return self._per_item(encoded, self.task.decode_batch)

    def raw_outputs(self, encoded: EncodedDataset) -> list[dict[str, np.ndarray]]:
        """Each item's raw model outputs (the task's ``output_names``, cut to the item's length), in
        input order: for inspection on small sets; predict and evaluate never hold them all."""
        return self._per_item(encoded, self.task.unbatch)

    def _per_item(self, encoded: EncodedDataset, split: Any) -> list[Any]:
        items: list[Any] = [None] * len(encoded)
        for indices, outputs in self.batches(encoded):
            for i, item in zip(indices, split(encoded, indices, outputs)):
                items[i] = item
        return items

    def encode(self, examples: Sequence[Any]) -> EncodedDataset:
        return self.task.encode(self.tokenizer, examples, self.max_length)

    def _run(self, texts, text_pairs=None, tokens=None) -> tuple[EncodedDataset, list[Any]]:
        encoded = self.encode(self.task.make_examples(texts, text_pairs=text_pairs, tokens=tokens))
        return encoded, self.items_for(encoded)

    # -- public API ----------------------------------------------------------------------------
    def predict(
        self,
        texts: str | Sequence[str] | None = None,
        text_pairs: str | Sequence[str] | None = None,
        *,
        tokens: Sequence[Sequence[str]] | None = None,
    ) -> list:
        """One prediction per input, as the model's task defines it: a label name (a list of names
        for multi-label models), a number, or a list of entities ``{text, type, start, end, score}``
        with character offsets into the input (``tokens`` gives pre-tokenised input instead of
        texts). Pair models take ``text_pairs``, one per text."""
        return self.task.predictions(*self._run(texts, text_pairs, tokens))

    def predict_proba(self, texts: str | Sequence[str], text_pairs: str | Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities, shape (n, len(labels)), columns in ``self.labels`` order (tasks with classes)."""
        probabilities = getattr(self.task, "class_probabilities", None)
        if probabilities is None:
            raise TypeError(f"a {self.task.name} model has no class probabilities; use predict()")
        return probabilities(self._run(texts, text_pairs)[1])

    def predict_scores(
        self,
        texts: str | Sequence[str] | None = None,
        text_pairs: str | Sequence[str] | None = None,
        *,
        tokens: Sequence[Sequence[str]] | None = None,
        top_k: int = 1,
    ) -> list[dict[str, Any]]:
        """One JSON-ready record per input, with scores (what `tunelab predict` prints)."""
        return self.records_for(self.task.make_examples(texts, text_pairs=text_pairs, tokens=tokens), top_k=top_k)

    def records_for(self, examples: Sequence[Any], *, top_k: int = 1) -> list[dict[str, Any]]:
        """Prediction records for examples already read (e.g. from a file)."""
        encoded = self.encode(examples)
        return self.task.prediction_records(encoded, self.items_for(encoded), top_k=top_k)

    def evaluate(self, examples: Sequence[Any], *, also: Callable[[EncodedDataset], Any] | None = None) -> Any:
        """The task's metrics on labelled examples, accumulated batch by batch; the same code
        scores training-time reports. ``also(encoded)`` may build a second consumer of the decoded
        batches (an ``add(indices, items)`` object, e.g. the task's worst-errors finder, or None):
        then ``(metrics, that consumer)`` is returned, both filled in one pass."""
        encoded = self.encode(examples)
        scorer = self.task.scorer(encoded)
        extra = also(encoded) if also is not None else None
        for indices, outputs in self.batches(encoded):
            items = self.task.decode_batch(encoded, indices, outputs)
            scorer.add(indices, items)
            if extra is not None:
                extra.add(indices, items)
        return (scorer.result(), extra) if also is not None else scorer.result()


# What a directory needs to be loadable, checked before any library is asked to read it: a
# missing weights file otherwise surfaces as a transformers OSError, a missing tokenizer as a
# silently empty tokenizer that turns every word into [UNK].
FULL_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def check_artifact_files(path: Path, meta: ArtifactMeta, backend: str) -> None:
    """Refuse an incomplete or damaged artifact with a message naming what is missing or broken."""
    from tunelab.files import safetensors_problem

    if backend == "onnx":
        from tunelab.inference.onnx_backend import ONNX_FILE

        if not (path / ONNX_FILE).is_file():
            from tunelab.artifact import ArtifactError

            raise ArtifactError(f"{path} has no {ONNX_FILE}; export it with `tunelab export` or use the torch backend")
    elif meta.method.stored == "full_model":
        if not any((path / name).is_file() for name in FULL_WEIGHTS):
            raise ArtifactLoadError(
                f"{path} has no model weights (model.safetensors); the artifact is incomplete: copy it again or retrain"
            )
    elif not any(p.suffix in (".safetensors", ".bin") for p in path.iterdir() if p.is_file()):
        raise ArtifactLoadError(
            f"{path} has none of the weights its method ({meta.method.name}) trained; the artifact is incomplete"
        )
    for weights in sorted(path.glob("*.safetensors")):
        problem = safetensors_problem(weights)
        if problem is not None:
            raise ArtifactLoadError(f"{problem}; the artifact is damaged: copy it again or retrain")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ArtifactLoadError(
            f"{path} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...); the artifact is incomplete"
        )


@contextmanager
def _damaged(path: Path, what: str) -> Iterator[None]:
    """A library's failure to read an artifact's files as an ArtifactLoadError naming the directory;
    tunelab's own errors, and the environment's (permissions, ...), pass unchanged."""
    from safetensors import SafetensorError

    from tunelab.errors import describe_os_error

    try:
        yield
    except TunelabError:
        raise
    except OSError as err:
        if err.errno is not None and describe_os_error(err) is not None:
            raise
        raise ArtifactLoadError(f"{path}: cannot load the {what}: {_first_line(err)}; the artifact is damaged") from err
    except (SafetensorError, ValueError, KeyError, RuntimeError, EOFError) as err:
        raise ArtifactLoadError(
            f"{path}: cannot load the {what} ({type(err).__name__}: {_first_line(err)}); the artifact is damaged "
            "or incomplete"
        ) from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load(path: str | Path, *, backend: str | None = None, device: str | None = None, batch_size: int = 64) -> Predictor:
    """Load a tunelab artifact (or exported) directory into a Predictor."""
    return Predictor.from_artifact(path, backend=backend, device=device, batch_size=batch_size)
