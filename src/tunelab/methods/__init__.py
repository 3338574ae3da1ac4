"""Training methods register themselves in `tunelab.registry.METHODS` on import."""

from tunelab.methods import adalora, adapter, frozen, full, ia3, lora, prompt_methods  # noqa: F401  (register)
from tunelab.methods.base import Method, parameter_counts
from tunelab.registry import METHODS


def build_method(config, base_path: str | None = None) -> Method:
    return METHODS.get(config.name)(config, base_path)


__all__ = ["Method", "build_method", "parameter_counts"]
