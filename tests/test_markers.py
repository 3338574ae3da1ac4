"""The `train` marker is checked: a test that trains a model without the mark fails (conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

INNER = """
import pytest
from tunelab.training.loop import Trainer


def fit():
    try:
        Trainer.fit(None)  # counted by the conftest hook, then fails at once: no model needed
    except AttributeError:
        pass


@pytest.fixture(scope="module")
def trained():
    fit()


def test_trains_unmarked():
    fit()


def test_uses_a_fixture_that_trained_unmarked(trained):
    pass


@pytest.mark.train
def test_trains_marked():
    fit()


def test_does_not_train():
    pass
"""


def test_unmarked_training_tests_fail(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "conftest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_inner.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    out = result.stdout + result.stderr
    assert "2 failed, 2 passed" in out, out
    assert "test_trains_unmarked trains a model but is not marked" in out
    assert "test_uses_a_fixture_that_trained_unmarked trains a model but is not marked" in out
