"""The task registry. Each task is a package ``tunelab.tasks.<name>`` whose ``__init__`` registers a
:class:`TaskSpec`: its config and data sections (pydantic only, so reading a config stays cheap)
and where its Task class lives (imported, with torch, on first use).

Adding a task is one line here (the package name) plus the package itself; nothing else in the
core names a task. See docs/adding-a-task.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module, resources
from typing import TYPE_CHECKING, Any

from tunelab.registry import Registry

if TYPE_CHECKING:
    from tunelab.tasks.base import Task

TASK_PACKAGES = (
    "text_classification",
    "token_classification",
    "text_regression",
    "relation_extraction",
    "extractive_qa",
)


@dataclass(frozen=True)
class TaskSpec:
    """What the core needs to know about a task before any model is loaded."""

    name: str
    config: type  # the task section (a tunelab.config.TaskSection)
    data: type  # the data section (a tunelab.config.DataConfig)
    task: str  # "module:Class" of the Task implementation
    summary: str
    aliases: tuple[str, ...] = field(default=())  # other names for `tunelab init`

    def task_class(self) -> type[Task]:
        module, _, name = self.task.partition(":")
        return getattr(import_module(module), name)

    def template(self) -> str:
        """The commented starter config that `tunelab init` prints."""
        package = self.task.partition(":")[0].rsplit(".", 1)[0]
        return resources.files(package).joinpath("template.yaml").read_text(encoding="utf-8")


TASKS: Registry[TaskSpec] = Registry("task")
_loaded = False


def register_task(spec: TaskSpec) -> TaskSpec:
    TASKS.register(spec.name)(spec)
    return spec


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for package in TASK_PACKAGES:
            import_module(f"{__name__}.{package}")
        _loaded = True


def task_spec(name: str) -> TaskSpec:
    _load_all()
    return TASKS.get(name)


def task_specs() -> list[TaskSpec]:
    _load_all()
    return [TASKS.get(name) for name in TASKS.names()]


def task_class(name: str) -> type[Task]:
    return task_spec(name).task_class()


def build_task(config: Any, train_examples: Any) -> Task:
    return task_class(config.name).from_examples(config, train_examples)


def task_from_state(config: Any, state: dict[str, Any]) -> Task:
    return task_class(config.name).from_state(config, state)


__all__ = [
    "TASKS",
    "TaskSpec",
    "build_task",
    "register_task",
    "task_class",
    "task_from_state",
    "task_spec",
    "task_specs",
]
