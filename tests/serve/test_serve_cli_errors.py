"""`tunelab serve` on a missing, incomplete or damaged artifact, or with a bad setting: exit 2 and one
line naming the path or the setting, no traceback, and no server started."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tunelab.cli.app import main
from tunelab.serve.preflight import check_artifact


@pytest.fixture
def artifact(legacy_artifacts, tmp_path):
    """A copy of a real (format-1, tiny) classification artifact to damage."""
    return shutil.copytree(legacy_artifacts / "classification", tmp_path / "model")


def run_serve(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    started = []
    monkeypatch.setattr("tunelab.serve.app.run", started.append)
    monkeypatch.setattr(sys, "argv", ["tunelab", "serve", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert started == [], "the server must not start"
    return exit_info.value.code, captured.out + captured.err


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


DAMAGES = {
    "missing artifact": (lambda a: shutil.rmtree(a), "artifact not found", ""),
    "no tunelab.json": (lambda a: (a / "tunelab.json").unlink(), "not a tunelab artifact", ""),
    "broken tunelab.json": (
        lambda a: (a / "tunelab.json").write_text("{not json"),
        "not readable JSON",
        "tunelab.json",
    ),
    "tunelab.json of the wrong shape": (
        lambda a: (a / "tunelab.json").write_text(json.dumps({"task": 3})),
        "tunelab.json",
        "tunelab.json",
    ),
    "weights missing": (lambda a: (a / "model.safetensors").unlink(), "holds no model weights", ""),
    "weights truncated": (lambda a: truncate(a / "model.safetensors"), "damaged or truncated", "model.safetensors"),
    "weights overwritten": (
        lambda a: (a / "model.safetensors").write_bytes(b"\x00" * 64),
        "damaged or truncated",
        "model.safetensors",
    ),
    "weights empty": (
        lambda a: (a / "model.safetensors").write_bytes(b""),
        "damaged or truncated",
        "model.safetensors",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_artifacts_exit_2_naming_the_path(artifact, monkeypatch, capsys, damage):
    apply, words, file = DAMAGES[damage]
    apply(artifact)
    code, output = run_serve(monkeypatch, capsys, str(artifact))
    assert code == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and str(artifact / file if file else artifact) in lines[0]
    assert words in lines[0] and "Traceback" not in output


def test_onnx_backend_without_an_export(artifact, monkeypatch, capsys):
    code, output = run_serve(monkeypatch, capsys, str(artifact), "--backend", "onnx")
    assert code == 2 and str(artifact / "model.onnx") in output and "is missing" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--header-timeout", "0"], "header_timeout_s"),
        (["--body-timeout", "-1"], "body_timeout_s"),
        (["--request-timeout", "100000"], "request_timeout_s"),
        (["--cors-origin", "app.example.com"], "cors_origins"),
    ],
)
def test_bad_settings_exit_2_naming_the_setting(artifact, monkeypatch, capsys, args, words):
    code, output = run_serve(monkeypatch, capsys, str(artifact), *args)
    assert code == 2 and words in output and "Traceback" not in output, output


def test_a_sound_artifact_passes_and_starts(artifact, monkeypatch, capsys):
    assert check_artifact(artifact).task.name == "text_classification"
    started = []
    monkeypatch.setattr("tunelab.serve.app.run", started.append)
    monkeypatch.setattr(sys, "argv", ["tunelab", "serve", str(artifact), "--cors-origin", "https://a.example"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    (settings,) = started
    assert settings.cors_origins == ("https://a.example",) and settings.max_concurrent_per_key == 32
