"""The HTTP service through FastAPI's TestClient (lifespan included): predictions for both tasks
equal to the Predictor's, auth, limits, error shape, readiness, metrics, request ids, logs, CLI."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from types import SimpleNamespace

import pytest
import torch
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

import tunelab
from helpers import make_ner_sentences, make_texts, tiny_overrides, write_conll, write_csv
from tunelab.cli.app import app as cli
from tunelab.config import load_config
from tunelab.errors import ConfigError, TunelabError
from tunelab.serve.app import create_app, load_predictor, run
from tunelab.serve.logs import JsonFormatter
from tunelab.serve.settings import ServeSettings, check_bind_policy, hash_key
from tunelab.workflow.train import train

QUIET = Console(file=open("/dev/null", "w"))
KEY = "s3cret-key-1"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny models train as fast on one thread, and torch's 2-thread pool crawls on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clf(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-clf")
    data = {
        "train": write_csv(root / "train.csv", make_texts(120, seed=1)),
        "dev": write_csv(root / "dev.csv", make_texts(30, seed=2)),
    }
    result = train(load_config(None, tiny_overrides(tiny_model_dir, data)), output_dir=root / "model", console=QUIET)
    return result.output_dir, tunelab.load(result.output_dir)


@pytest.fixture(scope="module")
def ner(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-ner")
    data = {
        "train": write_conll(root / "train.conll", make_ner_sentences(100, seed=1)),
        "dev": write_conll(root / "dev.conll", make_ner_sentences(20, seed=2)),
    }
    overrides = tiny_overrides(
        tiny_model_dir, data, **{"task.name": "token_classification", "training.epochs": 10, "training.metric": "f1"}
    )
    result = train(load_config(None, overrides), output_dir=root / "model", console=QUIET)
    return result.output_dir, tunelab.load(result.output_dir)


@contextlib.contextmanager
def serving(artifact, predictor=None, *, loader=None, wait=True, **options):
    """A started app; by default it 'loads' the predictor already in memory (fast)."""
    app = create_app(ServeSettings(artifact=artifact, **options), loader=loader or (lambda settings: predictor))
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while wait and client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.01)
        yield client


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.train
def test_predict_classification_matches_predictor(clf):
    artifact, predictor = clf
    texts = ["refund my invoice please", "the courier lost my parcel", "reset my password", "help"]
    with serving(artifact, predictor, max_texts=10) as client:
        response = client.post("/v1/predict", json={"texts": texts, "top_k": 2})
        info = client.get("/v1/model").json()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "model", "task": "text_classification", "backend": "torch"}
    expected = predictor.predict_scores(texts, top_k=2)
    assert [p["label"] for p in body["predictions"]] == [e["label"] for e in expected]
    # the toy model's clearest cases (its third text flips between runs of other RNG streams)
    assert [p["label"] for p in body["predictions"][:2]] == ["billing", "shipping"]
    for got, want in zip(body["predictions"], expected):
        assert got["text"] == want["text"] and len(got["top"]) == 2
        assert got["top"][0]["score"] >= got["top"][1]["score"]
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
    assert info["labels"] == ["account", "billing", "shipping"] and info["backend"] == "torch"
    assert info["max_length"] == predictor.max_length and info["multi_label"] is False
    assert info["metrics"]["accuracy"] == pytest.approx(predictor.metrics["accuracy"])
    assert "confusion_matrix" not in info["metrics"] and "transformers" in info["versions"]
    assert info["limits"]["max_texts"] == 10


@pytest.mark.train
def test_predict_ner_entities_slice_the_text(ner):
    artifact, predictor = ner
    texts = ["i met john smith in paris today", "i called mary in tokyo"]
    with serving(artifact, predictor) as client:
        response = client.post("/v1/predict", json={"texts": texts})
        info = client.get("/v1/model").json()
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert predictions == json.loads(json.dumps(predictor.predict_scores(texts)))
    found = {(e["type"], e["text"]) for p in predictions for e in p["entities"]}
    assert ("LOC", "paris") in found and ("PER", "mary") in found
    for text, prediction in zip(texts, predictions):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in prediction["entities"])
    assert info["task"] == "token_classification" and info["entity_types"] == ["LOC", "PER"]


@pytest.mark.train
def test_default_loader_threads_and_bfloat16(clf, monkeypatch):
    artifact, reference = clf
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)  # keep this process's setting
    predictor = load_predictor(ServeSettings(artifact=artifact, dtype="bfloat16", threads=3, model_batch_size=4))
    assert calls == [3] and predictor.model.dtype == torch.bfloat16 and predictor.batch_size == 4
    texts = ["refund my invoice please", "the courier lost my parcel"]
    labels = [r["label"] for r in reference.predict_scores(texts)]
    assert [r["label"] for r in predictor.predict_scores(texts)] == labels
    assert ServeSettings(artifact=artifact, parallel_batches=3).concurrent_batches() == 3
    assert ServeSettings(artifact=artifact, threads=64).concurrent_batches() == 1


@pytest.mark.train
def test_api_keys(clf, tmp_path):
    artifact, predictor = clf
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# ops team\n\n  other-key  \n")
    body = {"texts": ["my invoice"]}
    with serving(artifact, predictor, api_keys=[KEY], api_key_file=key_file) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": KEY}):
            error = assert_error(client.post("/v1/predict", json=body, headers=headers), 401, "unauthorized")
            assert error["message"]
        missing = client.get("/v1/model")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics").status_code == 401
        assert client.post("/v1/predict", json=body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert client.post("/v1/predict", json=body, headers={"X-API-Key": "other-key"}).status_code == 200
        assert client.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
        assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200
        # unauthenticated requests are refused before their body is parsed
        assert client.post("/v1/predict", content=b"{not json", headers=JSON).status_code == 401


def test_keys_are_held_as_hashes_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_API_KEYS", f" {KEY} ,, second ")
    settings = ServeSettings(artifact=tmp_path)
    assert settings.api_keys == (hash_key(KEY), hash_key("second"))
    assert KEY not in repr(settings) and KEY not in json.dumps(settings.model_dump(mode="json"))
    # the environment a worker process gets rebuilds the same settings without the clear keys
    monkeypatch.delenv("TUNELAB_API_KEYS")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert ServeSettings().api_keys == settings.api_keys and KEY not in str(settings.to_env())


@pytest.mark.train
def test_limits(clf):
    artifact, predictor = clf
    with serving(artifact, predictor, max_texts=3, max_chars=20, max_body_bytes=300) as client:
        error = assert_error(client.post("/v1/predict", json={"texts": ["a"] * 4}), 422, "too_many_texts")
        assert error["detail"] == {"limit": "max_texts", "value": 3, "got": 4}
        error = assert_error(client.post("/v1/predict", json={"texts": ["ok", "x" * 21]}), 422, "text_too_long")
        assert error["detail"]["limit"] == "max_chars" and error["detail"]["value"] == 20
        assert error["detail"]["index"] == 1
        assert_error(client.post("/v1/predict", json={"texts": []}), 422, "empty_texts")
        error = assert_error(client.post("/v1/predict", json={"texts": ["y" * 400]}), 413, "body_too_large")
        assert error["detail"] == {"limit": "max_body_bytes", "value": 300}
        # no Content-Length (chunked): the bytes actually read are counted
        chunked = client.post("/v1/predict", content=iter([b'{"texts": ["', b"z" * 400, b'"]}']), headers=JSON)
        assert_error(chunked, 413, "body_too_large")
        assert client.post("/v1/predict", json={"texts": ["x" * 20] * 3}).status_code == 200


@pytest.mark.train
def test_malformed_requests_have_the_error_shape(clf):
    artifact, predictor = clf
    with serving(artifact, predictor) as client:
        error = assert_error(client.post("/v1/predict", content=b'{"texts": ["a",', headers=JSON), 422, "invalid_json")
        assert error["detail"][0]["type"] == "json_invalid"
        error = assert_error(client.post("/v1/predict", json={"texts": "one text"}), 422, "invalid_request")
        assert error["detail"][0]["loc"] == ["body", "texts"]
        assert_error(client.post("/v1/predict", json={"texts": ["a"], "top_k": 0}), 422, "invalid_request")
        assert_error(client.post("/v1/predict", json={"text": ["a"]}), 422, "invalid_request")
        assert_error(client.get("/v1/nothing"), 404, "not_found")
        assert_error(client.get("/v1/predict"), 405, "method_not_allowed")


@pytest.mark.train
def test_ready_is_503_until_the_model_is_loaded(clf):
    artifact, predictor = clf
    release = threading.Event()

    def slow_loader(settings):
        assert release.wait(20)
        return predictor

    with serving(artifact, loader=slow_loader, wait=False) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert_error(client.get("/ready"), 503, "not_ready")
        assert_error(client.post("/v1/predict", json={"texts": ["x"]}), 503, "not_ready")
        release.set()
        deadline = time.monotonic() + 20
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert client.get("/ready").json()["model"]["task"] == "text_classification"


@pytest.mark.train
def test_failed_load_and_failed_inference(clf):
    artifact, predictor = clf

    def broken(settings):
        raise OSError("no model here")

    with serving(artifact, loader=broken, wait=False) as client:
        deadline = time.monotonic() + 20
        while (response := client.get("/ready")).json()["error"]["code"] == "not_ready":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert assert_error(response, 503, "model_load_failed")["detail"] == {"error": "OSError: no model here"}
        assert client.get("/health").status_code == 200

    failing = SimpleNamespace(
        **{name: getattr(predictor, name) for name in ("task", "labels", "meta", "metrics", "backend", "max_length")}
    )
    failing.predict_scores = lambda texts, top_k=1: 1 / 0
    with serving(artifact, failing) as client:
        assert_error(client.post("/v1/predict", json={"texts": ["x"]}), 500, "inference_failed")
        assert client.post("/v1/predict", json={"texts": ["x"]}).headers["x-request-id"]


@pytest.mark.train
def test_run_stops_and_raises_when_the_model_cannot_load(clf, tmp_path, monkeypatch):
    artifact, _ = clf
    shutil.copy(artifact / "tunelab.json", tmp_path / "tunelab.json")  # metadata, but no model
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # run() installs its JSON handler
    monkeypatch.setattr(root, "level", root.level)
    with pytest.raises(TunelabError, match="the model failed to load"):
        run(ServeSettings(artifact=tmp_path, port=0, log_level="critical"))


@pytest.mark.train
def test_metrics_count_requests_texts_and_batches(clf):
    artifact, predictor = clf
    with serving(artifact, predictor) as client, serving(artifact, predictor) as other:
        for n in (1, 2, 3):
            assert client.post("/v1/predict", json={"texts": ["my bill"] * n}).status_code == 200
        client.post("/v1/predict", json={"texts": []})
        text = client.get("/metrics").text
        assert 'tunelab_http_requests_total{method="POST",route="/v1/predict",status="200"} 3.0' in text
        assert 'tunelab_http_requests_total{method="POST",route="/v1/predict",status="422"} 1.0' in text
        assert 'tunelab_http_request_duration_seconds_count{method="POST",route="/v1/predict",status="200"} 3.0' in text
        assert "tunelab_texts_predicted_total 6.0" in text
        assert "tunelab_batch_size_count 3.0" in text and "tunelab_batch_size_sum 6.0" in text
        assert "tunelab_inference_duration_seconds_count 3.0" in text and "tunelab_model_loaded 1.0" in text
        # each app has its own registry
        assert "tunelab_texts_predicted_total 0.0" in other.get("/metrics").text


@pytest.mark.train
def test_request_id_and_one_json_log_line_per_request(clf, caplog):
    artifact, predictor = clf
    caplog.set_level(logging.INFO, logger="tunelab.serve.access")
    with serving(artifact, predictor) as client:
        caplog.clear()
        given = client.post("/v1/predict", json={"texts": ["secret text", "more"]}, headers={"X-Request-ID": "abc-123"})
        generated = client.get("/health")
        unsafe = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) == 32 and unsafe.headers["x-request-id"] != "bad id\twith spaces"
    records = [r for r in caplog.records if r.name == "tunelab.serve.access"]
    assert len(records) == 3
    line = json.loads(JsonFormatter().format(records[0]))
    assert {k: line[k] for k in ("request_id", "method", "path", "status", "n_texts")} == {
        "request_id": "abc-123",
        "method": "POST",
        "path": "/v1/predict",
        "status": 200,
        "n_texts": 2,
    }
    assert line["duration_ms"] > 0 and line["level"] == "info"
    assert "secret text" not in caplog.text and "secret text" not in json.dumps(line)


@pytest.mark.train
def test_openapi_has_examples_and_security(clf):
    artifact, predictor = clf
    with serving(artifact, predictor) as client:
        schema = client.get("/openapi.json").json()
    content = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert {"classification", "top_k", "entities"} <= set(content["examples"])  # each task's own examples
    examples = content["schema"]["examples"]
    assert any(e.get("texts") for e in examples) and any(e.get("items") for e in examples)  # texts, or named items
    assert {"texts", "text_pairs", "items", "top_k"} <= set(content["schema"]["properties"])
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])
    assert "PredictResponse" in schema["components"]["schemas"]


@pytest.mark.train
def test_bind_policy_and_cli(clf, tmp_path, monkeypatch):
    artifact, _ = clf
    with pytest.raises(ConfigError, match="--allow-unauthenticated-remote"):
        check_bind_policy(ServeSettings(artifact=artifact, host="0.0.0.0"))
    check_bind_policy(ServeSettings(artifact=artifact, host="0.0.0.0", allow_unauthenticated_remote=True))
    check_bind_policy(ServeSettings(artifact=artifact, host="::1"))
    started = []
    monkeypatch.setattr("tunelab.serve.app.run", started.append)
    monkeypatch.delenv("TUNELAB_API_KEYS", raising=False)
    refused = CliRunner().invoke(cli, ["serve", str(artifact), "--host", "0.0.0.0"])
    assert refused.exit_code != 0 and "refusing to listen on 0.0.0.0" in str(refused.exception)
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    result = CliRunner().invoke(
        cli,
        [
            "serve",
            str(artifact),
            "--host",
            "0.0.0.0",
            "--api-key-file",
            str(keys),
            "--max-texts",
            "7",
            "--port",
            "9999",
        ],
    )
    assert result.exit_code == 0, result.output
    (settings,) = started
    assert settings.max_texts == 7 and settings.port == 9999 and settings.api_keys == (hash_key(KEY),)
    result = CliRunner().invoke(cli, ["serve", str(artifact)])
    assert result.exit_code == 0 and "authentication is off" in result.output
