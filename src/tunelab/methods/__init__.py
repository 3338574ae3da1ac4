"""Training methods register themselves in `tunelab.registry.METHODS` on import."""

from tunelab.methods import adalora, adapter, frozen, full, ia3, lora, prompt_methods  # noqa: F401  (register)
from tunelab.methods.base import Method, parameter_counts
from tunelab.registry import METHODS


def build_method(config, base_path: str | None = None, *, task_type: str = "SEQ_CLS") -> Method:
    """The method of ``config``; ``task_type`` is the task's peft TaskType name (``Task.peft_task_type``)."""
    return METHODS.get(config.name)(config, base_path, task_type)


__all__ = ["Method", "build_method", "parameter_counts"]
