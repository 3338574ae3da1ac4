"""Task modules register themselves in `tunelab.registry.TASKS` on import."""

from tunelab.tasks import text_classification  # noqa: F401  (registers the task)
from tunelab.tasks.base import Task
from tunelab.registry import TASKS


def build_task(config, train_examples) -> Task:
    return TASKS.get(config.name).from_examples(config, train_examples)


def task_from_state(config, state: dict) -> Task:
    return TASKS.get(config.name).from_state(config, state)


__all__ = ["Task", "build_task", "task_from_state"]
