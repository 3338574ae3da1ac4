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

from helpers import build_tiny_bert, make_texts, write_csv  # noqa: E402


hf_logging.disable_progress_bar()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def toy_data(tmp_path) -> dict[str, Path]:
    """train/dev/test CSV files of a 3-label task a tiny model learns in a few epochs."""
    return {
        "train": write_csv(tmp_path / "data" / "train.csv", make_texts(120, seed=1)),
        "dev": write_csv(tmp_path / "data" / "dev.csv", make_texts(30, seed=2)),
        "test": write_csv(tmp_path / "data" / "test.csv", make_texts(30, seed=3)),
    }


