from __future__ import annotations

from typing import Optional

import typer

from tunelab.errors import ConfigError


def _templates() -> dict[str, object]:
    from tunelab.tasks import task_specs

    names: dict[str, object] = {}
    for spec in task_specs():
        for name in (spec.name, *spec.aliases):
            names[name] = spec
    return names


def starter_config(kind: str) -> str:
    """The commented starter config of a task, by its name or a short alias (see each task's spec)."""
    templates = _templates()
    if kind not in templates:
        raise ConfigError(f"no starter config for '{kind}'; known: {', '.join(sorted(templates))}")
    return templates[kind].template()  # type: ignore[attr-defined]


def init_cli(
    kind: Optional[str] = typer.Argument(
        None, help="A task's name or short alias (default: the default task); an unknown one lists them all."
    ),
) -> None:
    """Print a commented starter config (redirect it to a file).

    Examples:

      tunelab init classification > config.yaml

      tunelab init ner > ner.yaml
    """
    from tunelab.config import DEFAULT_TASK

    typer.echo(starter_config(kind or DEFAULT_TASK), nl=False)
