"""tunelab: fine-tune, evaluate and use transformer models from raw files, offline and fast on CPU."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load", "load_config", "train", "evaluate", "Predictor"]


def __getattr__(name: str):
    # Lazy: `import tunelab` stays fast (no torch import) for the CLI's --help and config checks.
    if name in ("load", "Predictor"):
        from tunelab.inference import predictor

        return getattr(predictor, name)
    if name == "load_config":
        from tunelab.config import load_config

        return load_config
    if name == "train":
        from tunelab.workflow.train import train

        return train
    if name == "evaluate":
        from tunelab.workflow.evaluate import evaluate_artifact

        return evaluate_artifact
    raise AttributeError(f"module 'tunelab' has no attribute {name!r}")
