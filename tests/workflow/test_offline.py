"""Training and prediction never open a network connection."""

import socket

import pytest
from rich.console import Console

import tunelab
from helpers import tiny_overrides
from tunelab.config import load_config
from tunelab.workflow.train import train


@pytest.mark.train
def test_no_network_during_train_and_predict(monkeypatch, tiny_model_dir, toy_data, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network disabled in this test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    cfg = load_config(None, tiny_overrides(tiny_model_dir, toy_data, **{"training.epochs": 1}))
    result = train(cfg, output_dir=tmp_path / "out", console=Console(file=open("/dev/null", "w")))
    tunelab.load(result.output_dir).predict(["a text"])
    assert attempts == []
