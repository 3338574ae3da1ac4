"""`tunelab`'s main(): --version, --debug, and how each kind of failure is reported (exit codes,
one line, a traceback only with --debug)."""

from __future__ import annotations

import errno
import os
import sys

import pytest
from typer.testing import CliRunner

import tunelab
from tunelab.cli.app import _debug_requested, app, main
from tunelab.errors import describe_os_error


def invoke_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tunelab", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


@pytest.fixture(autouse=True)
def _no_debug_env(monkeypatch):
    monkeypatch.delenv("TUNELAB_DEBUG", raising=False)


def _failing_load(monkeypatch, exc: BaseException) -> None:
    def load(*_args, **_kwargs):
        raise exc

    monkeypatch.setattr("tunelab.inference.predictor.load", load)


def test_version(monkeypatch, capsys):
    code, out, err = invoke_main(monkeypatch, capsys, "--version")
    assert code == 0 and out == f"tunelab {tunelab.__version__}\n" and err == ""


def test_every_command_help_has_examples():
    names = [command.name for command in app.registered_commands]
    assert {"init", "train", "evaluate", "predict", "export", "serve"} <= set(names)
    for name in names:
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output, f"`tunelab {name} --help` has no examples"


def test_internal_error_is_one_line_and_exit_1(monkeypatch, capsys):
    _failing_load(monkeypatch, RuntimeError("boom"))
    code, out, err = invoke_main(monkeypatch, capsys, "predict", "some/artifact", "hello")
    assert code == 1 and out == ""
    assert err.strip() == "internal error: RuntimeError: boom; rerun with --debug and report it"


@pytest.mark.parametrize("how", ["flag-before", "flag-after", "env"])
def test_debug_shows_the_traceback(how, monkeypatch, capsys):
    _failing_load(monkeypatch, RuntimeError("boom"))
    args = ["predict", "some/artifact", "hello"]
    if how == "flag-before":
        args = ["--debug", *args]
    elif how == "flag-after":
        args = [*args, "--debug"]
    else:
        monkeypatch.setenv("TUNELAB_DEBUG", "1")
    code, _, err = invoke_main(monkeypatch, capsys, *args)
    assert code == 1
    assert "Traceback (most recent call last)" in err and "RuntimeError: boom" in err
    assert err.strip().splitlines()[-1] == "internal error: RuntimeError: boom"


def test_debug_flag_after_double_dash_is_a_text():
    assert _debug_requested(["predict", "a", "--", "--debug"]) == (False, ["predict", "a", "--", "--debug"])
    assert _debug_requested(["predict", "--debug", "a"]) == (True, ["predict", "a"])


def test_user_error_with_debug_keeps_exit_2(monkeypatch, capsys, tmp_path):
    code, _, err = invoke_main(monkeypatch, capsys, "--debug", "predict", str(tmp_path / "nowhere"), "hi")
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: artifact not found")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/data/out.csv"), "/data/out.csv: permission denied"),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"), "/mnt/ro/x: read-only file system"),
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/home/u/x"), "/home/u/x: disk quota exceeded"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/no/such"), "/no/such: no such file"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/tmp"), "/tmp: is a directory"),
    ],
)
def test_environment_os_errors_are_exit_2(exc, expected, monkeypatch, capsys):
    _failing_load(monkeypatch, exc)
    code, out, err = invoke_main(monkeypatch, capsys, "predict", "some/artifact", "hello")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and expected in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_unexplained_os_error_is_internal(monkeypatch, capsys):
    _failing_load(monkeypatch, FileNotFoundError(errno.ENOENT, "No such file or directory"))  # no path: a bug
    code, _, err = invoke_main(monkeypatch, capsys, "predict", "some/artifact", "hello")
    assert code == 1 and err.startswith("internal error: FileNotFoundError")
    assert describe_os_error(OSError(errno.ECONNRESET, "reset")) is None


def test_keyboard_interrupt_is_130(monkeypatch, capsys):
    _failing_load(monkeypatch, KeyboardInterrupt())
    code, _, err = invoke_main(monkeypatch, capsys, "predict", "some/artifact", "hello")
    assert code == 130 and "Traceback" not in err


def test_messages_are_not_rich_markup(monkeypatch, capsys, tmp_path):
    # a path with [brackets] is printed as it is, not eaten as markup
    code, _, err = invoke_main(monkeypatch, capsys, "predict", str(tmp_path / "[red]x[/red]"), "hi")
    assert code == 2 and "[red]x[/red]" in err


def test_read_only_filesystem_on_write_is_exit_2(monkeypatch, capsys, legacy_artifacts, tmp_path):
    """What a write on a read-only mount raises (EROFS from the rename), simulated: chmod cannot
    make a directory read-only for root."""
    import tunelab.files

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", str(dst))

    monkeypatch.setattr(tunelab.files.os, "replace", read_only)
    out = tmp_path / "pred.jsonl"
    code, _, err = invoke_main(
        monkeypatch, capsys, "predict", str(legacy_artifacts / "classification"), "hi", "-o", str(out)
    )
    assert code == 2 and f"{out}: read-only file system" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []  # the temporary file is removed too


def test_unwritable_output_directory_is_refused_before_loading(monkeypatch, capsys, tmp_path):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    _failing_load(monkeypatch, AssertionError("the model was loaded"))
    code, _, err = invoke_main(monkeypatch, capsys, "predict", "x", "hi", "-o", str(tmp_path / "sub" / "p.csv"))
    assert code == 2 and f"the directory {tmp_path} is not writable" in err
    code, _, err = invoke_main(monkeypatch, capsys, "evaluate", "x", "d.csv", "--json", str(tmp_path / "e.json"))
    assert code == 2 and f"the directory {tmp_path} is not writable" in err
    # train: refused before the data is read or a model loaded, not after the training
    config = tmp_path.parent / f"{tmp_path.name}-config.yaml"
    config.write_text("data:\n  train: nowhere.csv\n")
    code, _, err = invoke_main(monkeypatch, capsys, "train", str(config), "-o", str(tmp_path / "model"))
    assert code == 2 and f"the directory {tmp_path} is not writable" in err and "nowhere.csv" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into 0o555 directories")
@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_chmod_read_only_output_directory(command, monkeypatch, capsys, legacy_artifacts, tmp_path):
    artifact = str(legacy_artifacts / "classification")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        args = {
            "predict": ["predict", artifact, "hi", "-o", str(locked / "p.csv")],
            "evaluate": ["evaluate", artifact, "d.csv", "--json", str(locked / "e.json")],
            "export": ["export", artifact, "-o", str(locked / "onnx")],
        }[command]
        code, _, err = invoke_main(monkeypatch, capsys, *args)
        assert code == 2 and str(locked) in err and "Traceback" not in err
    finally:
        locked.chmod(0o755)
