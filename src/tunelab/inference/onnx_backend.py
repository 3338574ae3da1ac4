"""The ONNX Runtime backend of the Predictor: runs the `model.onnx` that `tunelab export` writes.

It only needs onnxruntime and numpy at run time; tokenisation, batching and decoding stay in the
Predictor, so an exported model predicts exactly like the torch artifact it came from.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.artifact import ArtifactError
from tunelab.errors import ConfigError

ONNX_FILE = "model.onnx"
_NUMPY_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


def default_threads() -> int:
    """Intra-op threads: torch's setting when torch is loaded (one policy for both backends), else
    the CPUs this process may run on."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def providers_for(device: str | None, available: list[str]) -> list[Any]:
    """CPU unless ``device`` asks for CUDA; asking for CUDA without the CUDA provider is an error."""
    if device is None or device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise ConfigError(
                f"device '{device}' needs onnxruntime's CUDAExecutionProvider, but this onnxruntime only has "
                f"{', '.join(available)}; install onnxruntime-gpu or use device='cpu'"
            )
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise ConfigError(f"unknown device '{device}' for the onnx backend; use 'cpu', 'cuda' or 'cuda:N'")


class OnnxBackend:
    """Runs an exported artifact's ONNX graph: numpy inputs in, the task's outputs out (float32 numpy)."""

    name = "onnx"

    def __init__(
        self, session, *, output_names: tuple[str, ...] = ("logits",), output_sizes: dict[str, int] | None = None
    ) -> None:
        self.session = session
        self.inputs = {node.name: _NUMPY_TYPES.get(node.type, np.int64) for node in session.get_inputs()}
        graph_outputs = {node.name: node for node in session.get_outputs()}
        if "input_ids" not in self.inputs:
            raise ArtifactError(
                f"the ONNX graph has no input_ids input (inputs: {', '.join(self.inputs)}); "
                "re-export the artifact with `tunelab export`"
            )
        missing = [name for name in output_names if name not in graph_outputs]
        if missing:
            raise ArtifactError(
                f"the ONNX graph has no output {', '.join(missing)} (outputs: "
                f"{', '.join(graph_outputs)}); model.onnx does not belong to this tunelab.json"
            )
        self.output_names = list(output_names)
        for name, size in (output_sizes or {}).items():
            last = graph_outputs[name].shape[-1] if name in graph_outputs else None
            if isinstance(last, int) and last != size:
                raise ArtifactError(
                    f"the ONNX graph's {name} has {last} scores per item but the artifact expects "
                    f"{size}; model.onnx does not belong to this tunelab.json"
                )

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @classmethod
    def from_artifact(cls, path: Path, task, meta: Any, device: str | None = None) -> OnnxBackend:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ConfigError("the onnx backend needs onnxruntime: pip install onnxruntime") from exc
        model_path = Path(path) / ONNX_FILE
        if not model_path.is_file():
            raise ArtifactError(
                f"no {ONNX_FILE} in {path}; export the trained artifact with `tunelab export ARTIFACT -o DIR` "
                "or load it with backend='torch'"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: ORT warns about every unused initializer
        providers = providers_for(device, ort.get_available_providers())
        try:
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own, unexported exception types
            raise ArtifactError(f"onnxruntime could not load {model_path}: {exc}") from exc
        return cls(session, output_names=tuple(task.output_names), output_sizes=task.output_sizes())

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "input_ids" not in inputs:
            raise ValueError("the onnx backend needs input_ids")
        feed = {}
        for name, dtype in self.inputs.items():
            if name in inputs:
                feed[name] = np.ascontiguousarray(inputs[name], dtype=dtype)
            elif name == "token_type_ids":  # a tokenizer without segment ids: all first segment
                feed[name] = np.zeros_like(inputs["input_ids"], dtype=dtype)
            elif name == "attention_mask":
                feed[name] = np.ones_like(inputs["input_ids"], dtype=dtype)
            else:
                raise ArtifactError(f"model.onnx expects an input '{name}' that the tokenizer does not produce")
        values = self.session.run(self.output_names, feed)
        return {name: np.asarray(value, dtype=np.float32) for name, value in zip(self.output_names, values)}
