from __future__ import annotations

from importlib import resources

import typer

from tunelab.errors import ConfigError

TEMPLATES = {
    "classification": "classification.yaml",
    "text_classification": "classification.yaml",
    "ner": "token_classification.yaml",
    "token_classification": "token_classification.yaml",
}


def starter_config(kind: str) -> str:
    if kind not in TEMPLATES:
        raise ConfigError(f"no starter config for '{kind}'; known: {', '.join(sorted(set(TEMPLATES)))}")
    return resources.files("tunelab.templates").joinpath(TEMPLATES[kind]).read_text(encoding="utf-8")


def init_cli(kind: str = typer.Argument("classification", help="Task: classification or ner.")) -> None:
    """Print a commented starter config (redirect it to a file)."""
    typer.echo(starter_config(kind), nl=False)
