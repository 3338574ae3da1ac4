"""The `tunelab` command: a thin typer skin over the functions in tunelab.workflow."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from tunelab.cli import evaluate, export, init, predict, serve, train
from tunelab.errors import TunelabError

app = typer.Typer(
    name="tunelab",
    help="Fine-tune, evaluate and use transformer models from raw CSV/TSV/JSONL files, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(init.init_cli)
app.command("train")(train.train_cli)
app.command("evaluate")(evaluate.evaluate_cli)
app.command("predict")(predict.predict_cli)
app.command("serve")(serve.serve_cli)
app.command("export")(export.export_cli)


def _quiet_libraries() -> None:
    # transformers 5 draws its own bars for every load and save; tunelab shows one progress bar.
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def main() -> None:
    _quiet_libraries()
    try:
        app()
    except TunelabError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(getattr(err, "exit_code", 2))
    except KeyboardInterrupt:
        Console(stderr=True).print("[bold red]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
