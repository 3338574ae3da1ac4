"""Task modules register themselves in `tunelab.registry.TASKS` on import."""

from tunelab.registry import TASKS
from tunelab.tasks import text_classification, token_classification  # noqa: F401  (register the tasks)
from tunelab.tasks.base import Task


def task_class(name: str) -> type:
    return TASKS.get(name)


def build_task(config, train_examples) -> Task:
    return task_class(config.name).from_examples(config, train_examples)


def task_from_state(config, state: dict) -> Task:
    return task_class(config.name).from_state(config, state)


__all__ = ["Task", "build_task", "task_class", "task_from_state"]
