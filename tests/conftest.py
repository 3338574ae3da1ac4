"""Shared fixtures: tiny randomly initialised BERT models built in code on a real vocabulary file.

No test downloads anything; the real packaged model is only used by tests marked slow.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from transformers.utils import logging as hf_logging  # noqa: E402

from helpers import build_tiny_bert, make_texts, materialise_legacy, write_csv  # noqa: E402

hf_logging.disable_progress_bar()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def legacy_artifacts(tmp_path_factory) -> Path:
    """The format-1 artifacts of tests/fixtures/legacy_v1 with their weights built in code."""
    return materialise_legacy(tmp_path_factory.mktemp("legacy_v1"))


@pytest.fixture
def toy_data(tmp_path) -> dict[str, Path]:
    """train/dev/test CSV files of a 3-label task a tiny model learns in a few epochs."""
    return {
        "train": write_csv(tmp_path / "data" / "train.csv", make_texts(120, seed=1)),
        "dev": write_csv(tmp_path / "data" / "dev.csv", make_texts(30, seed=2)),
        "test": write_csv(tmp_path / "data" / "test.csv", make_texts(30, seed=3)),
    }


# -- the `train` marker is checked, not trusted --------------------------------------------------
# Every test that trains a model (itself, or through a fixture that trained one) must be marked
# `train`, so `make test-fast` stays a unit tier. Training is detected by counting Trainer.fit calls.
_FIT_CALLS = [0]
_TRAINING_FIXTURES: set[tuple[str, str]] = set()


@pytest.fixture(scope="session", autouse=True)
def _count_training():
    from tunelab.training.loop import Trainer

    original = Trainer.fit

    def fit(self, *args, **kwargs):
        _FIT_CALLS[0] += 1
        return original(self, *args, **kwargs)

    Trainer.fit = fit
    yield
    Trainer.fit = original


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    before = _FIT_CALLS[0]
    result = yield
    if _FIT_CALLS[0] > before:  # keyed by where the fixture is defined: two modules may share a name
        _TRAINING_FIXTURES.add((fixturedef.baseid, fixturedef.argname))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    before = _FIT_CALLS[0]
    result = yield
    used = {(d.baseid, d.argname) for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs}
    trained = _FIT_CALLS[0] > before or bool(_TRAINING_FIXTURES & used)
    if trained and item.get_closest_marker("train") is None and item.get_closest_marker("slow") is None:
        pytest.fail(
            f"{item.nodeid} trains a model but is not marked: add @pytest.mark.train "
            "(make test-fast must stay a unit tier)",
            pytrace=False,
        )
    return result
