"""The `tunelab` command: a thin typer skin over the functions in tunelab.workflow."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Optional

import typer
from rich.console import Console

from tunelab.cli import check, compare, ensemble, evaluate, export, init, predict, serve, train, tune
from tunelab.errors import TunelabError, describe_os_error

EPILOG = (
    "Examples:\n\n"
    "  tunelab init classification > config.yaml\n\n"
    "  tunelab train config.yaml -o runs/model\n\n"
    "  tunelab predict runs/model -i texts.txt -o - | head\n\n"
    "Errors you can fix exit with status 2 and one line; add --debug (or TUNELAB_DEBUG=1) for the traceback."
)

app = typer.Typer(
    name="tunelab",
    help="Fine-tune, evaluate and use transformer models from raw CSV/TSV/JSONL files, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog=EPILOG,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunelab {_package_version()}")
        raise typer.Exit()


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("tunelab")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        from tunelab import __version__

        return __version__


@app.callback()
def _global_options(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an error (also TUNELAB_DEBUG=1), for bug reports."
    ),
) -> None:
    """Fine-tune, evaluate and use transformer models from raw CSV/TSV/JSONL files, offline."""
    # --debug is taken out of the arguments by main() (so it also works after the command); listed
    # here for --help. Nothing writes TUNELAB_DEBUG: a debug run must not leak into later ones.


app.command("init")(init.init_cli)
app.command("train")(train.train_cli)
app.command("evaluate")(evaluate.evaluate_cli)
# unknown --NAME VALUE options reach predict as a model's named inputs (--question/--context)
app.command("predict", context_settings={"ignore_unknown_options": True})(predict.predict_cli)
app.command("serve")(serve.serve_cli)
app.command("export")(export.export_cli)
app.command("check")(check.check_cli)
app.command("compare")(compare.compare_cli)
app.command("ensemble")(ensemble.ensemble_cli)
app.command("tune")(tune.tune_cli)


def _quiet_libraries() -> None:
    # transformers 5 draws its own bars for every load and save; tunelab shows one progress bar.
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def _debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """``--debug`` anywhere before ``--`` (not only before the command), or TUNELAB_DEBUG=1."""
    cut = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:cut]
    kept = [a for a in argv[:cut] if a != "--debug"] + argv[cut:]
    env = os.environ.get("TUNELAB_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")
    return debug or env, kept


def _fail(message: str, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    Console(stderr=True).print(message, highlight=False, markup=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    """The console script: every error a user can fix is one line on stderr and exit 2, a bug is
    one line (``internal error: ...``) and exit 1; ``--debug`` adds the traceback."""
    debug, argv = _debug_requested(sys.argv[1:])
    sys.argv[1:] = argv
    _quiet_libraries()
    try:
        app()
    except TunelabError as err:
        _fail(f"error: {err}", getattr(err, "exit_code", 2), debug)
    except KeyboardInterrupt:
        _fail("interrupted", 130, debug)
    except OSError as err:
        described = describe_os_error(err)
        if described is not None:
            _fail(f"error: {described}", 2, debug)
        _internal(err, debug)
    except Exception as err:
        _internal(err, debug)


def _internal(err: BaseException, debug: bool) -> None:
    hint = "" if debug else "; rerun with --debug and report it"
    _fail(f"internal error: {type(err).__name__}: {err}{hint}", 1, debug)


if __name__ == "__main__":  # pragma: no cover
    main()
