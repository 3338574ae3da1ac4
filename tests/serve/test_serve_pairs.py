"""The service with the default loader on real (tiny) artifacts: pair models take pairs, single-text
models single texts, and each refuses the other with 422 before any model call."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from tunelab.serve.app import create_app, load_predictor
from tunelab.serve.settings import ServeSettings


def ready_client(artifact: Path) -> TestClient:
    client = TestClient(create_app(ServeSettings(artifact=artifact)))
    client.__enter__()
    deadline = time.monotonic() + 60
    while (response := client.get("/ready")).status_code != 200:
        assert response.json()["error"]["code"] == "not_ready", response.json()  # a load failure shows here
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return client


def test_default_loader_warms_up_a_pair_model(legacy_artifacts):
    predictor = load_predictor(ServeSettings(artifact=legacy_artifacts / "pair_classification"))
    assert predictor.task.pairs


def test_pair_model_takes_pairs_and_refuses_single_texts(legacy_artifacts):
    client = ready_client(legacy_artifacts / "pair_classification")
    try:
        info = client.get("/v1/model").json()
        assert info["pairs"] is True and info["input_fields"] == ["text", "text_pair"]
        items = client.post("/v1/predict", json={"items": [{"text": "my invoice", "text_pair": "invoice"}]})
        assert items.status_code == 200 and items.json()["predictions"][0]["text_pair"] == "invoice"
        ok = client.post(
            "/v1/predict",
            json={"texts": ["my invoice", "where is my parcel"], "text_pairs": ["invoice", "parcel"], "top_k": 2},
        )
        assert ok.status_code == 200
        assert [p["text_pair"] for p in ok.json()["predictions"]] == ["invoice", "parcel"]
        single = client.post("/v1/predict", json={"texts": ["my invoice"]})
        assert single.status_code == 422 and single.json()["error"]["code"] == "pairs_required"
        short = client.post("/v1/predict", json={"texts": ["a", "b"], "text_pairs": ["a"]})
        assert short.status_code == 422 and short.json()["error"]["code"] == "pairs_mismatch"
    finally:
        client.__exit__(None, None, None)


def test_single_text_model_refuses_pairs(legacy_artifacts):
    client = ready_client(legacy_artifacts / "classification")
    try:
        refused = client.post("/v1/predict", json={"texts": ["my invoice"], "text_pairs": ["invoice"]})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "pairs_not_accepted"
        assert client.post("/v1/predict", json={"texts": ["my invoice"]}).status_code == 200
    finally:
        client.__exit__(None, None, None)
