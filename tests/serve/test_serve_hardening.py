"""The service's hardening, through FastAPI's TestClient with a fake predictor (no model): invalid
texts, JSON-only bodies, deadline and overload, per-key cap, CORS, offline /docs, texts in logs,
and the guard middleware's body timeout."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time

import pytest

from tunelab.serve.guard import RequestGuardMiddleware, is_json_media_type
from tunelab.serve.logs import JsonFormatter
from tunelab.serve.settings import ServeSettings

KEY, OTHER = "key-one", "key-two"


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def requests_metric(client, route: str, status: int, method: str = "POST") -> float:
    pattern = rf'tunelab_http_requests_total{{method="{method}",route="{re.escape(route)}",status="{status}"}} (\S+)'
    found = re.search(pattern, client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


# -- 1. texts a model cannot take --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reason", "words"),
    [("", "empty", "is empty"), ("  \t\n ", "whitespace", "only whitespace"), ("ab\x00c", "nul", "NUL")],
)
def test_empty_blank_and_nul_texts_are_422_naming_the_item(started, fake_predictor, text, reason, words):
    with started(fake_predictor) as client:
        error = error_of(client.post("/v1/predict", json={"texts": ["fine", "also fine", text]}), 422, "invalid_text")
        assert error["detail"] == {"field": "texts[2]", "index": 2, "reason": reason}
        assert "texts[2]" in error["message"] and words in error["message"]
        error = error_of(
            client.post("/v1/predict", json={"texts": ["a", "b"], "text_pairs": ["c", text]}), 422, "invalid_text"
        )
        assert error["detail"]["field"] == "text_pairs[1]"
        assert client.post("/v1/predict", json={"texts": [" padded text "]}).status_code == 200
    assert fake_predictor.calls == [[" padded text "]]  # the refused texts never reached the model


# -- 2. JSON bodies only ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json"],
)
def test_non_json_bodies_are_415(started, fake_predictor, content_type):
    body = b'{"texts": ["a cross-site form"]}'
    headers = {} if content_type is None else {"Content-Type": content_type}
    with started(fake_predictor, api_keys=[KEY]) as client:
        # refused before authentication and before the body is read
        error = error_of(client.post("/v1/predict", content=body, headers=headers), 415, "unsupported_media_type")
        assert error["detail"]["content_type"] == content_type
        assert error["detail"]["accepted"] == ["application/json", "application/*+json"]
        assert requests_metric_with_key(client, "/v1/predict", 415) == 1
    assert fake_predictor.calls == []


def requests_metric_with_key(client, route, status):
    text = client.get("/metrics", headers={"X-API-Key": KEY}).text
    found = re.search(rf'tunelab_http_requests_total{{method="POST",route="{route}",status="{status}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/vnd.api+json",
        "application/merge-patch+json",
    ],
)
def test_json_media_types_are_accepted(started, fake_predictor, content_type):
    with started(fake_predictor) as client:
        response = client.post("/v1/predict", content=b'{"texts": ["hi"]}', headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


def test_is_json_media_type():
    assert is_json_media_type(b"application/json") and is_json_media_type("application/problem+json; q=1")
    for value in (None, "", "json", "application/jsonx", "text/plain; application/json", "application/+json"):
        assert not is_json_media_type(value), value


# -- 3. deadline and overload -------------------------------------------------------------------
def test_a_request_past_its_deadline_gets_504_and_leaves_the_queue(started, fake_predictor):
    with started(fake_predictor, request_timeout_s=0.4, parallel_batches=1, max_wait_ms=0) as client:
        results = {}
        slow = threading.Thread(
            target=lambda: results.setdefault("slow", client.post("/v1/predict", json={"texts": ["sleep:1.2"]}))
        )
        slow.start()
        wait_for(lambda: ["sleep:1.2"] in fake_predictor.calls)  # it holds the only model slot
        started_at = time.monotonic()
        queued = client.post("/v1/predict", json={"texts": ["waits behind it"]})
        waited = time.monotonic() - started_at
        slow.join(10)
        error = error_of(queued, 504, "deadline_exceeded")
        assert error["detail"] == {"limit": "request_timeout_s", "value": 0.4}
        assert 0.3 <= waited < 1.0
        error_of(results["slow"], 504, "deadline_exceeded")
        time.sleep(1.3)  # the running call ends; the cancelled one was dropped from the queue
        assert ["waits behind it"] not in fake_predictor.calls
        assert requests_metric(client, "/v1/predict", 504) == 2
        assert 'tunelab_http_timeouts_total{phase="deadline"} 2.0' in client.get("/metrics").text
        assert client.post("/v1/predict", json={"texts": ["fast"]}).status_code == 200


def test_overload_that_cannot_be_queued_is_503_with_retry_after(started, fake_predictor):
    with started(fake_predictor, parallel_batches=1, max_wait_ms=0, max_queue_texts=2) as client:
        slow = threading.Thread(target=lambda: client.post("/v1/predict", json={"texts": ["sleep:0.8"]}))
        slow.start()
        wait_for(lambda: ["sleep:0.8"] in fake_predictor.calls)  # running: the queue is empty again
        queued = threading.Thread(target=lambda: client.post("/v1/predict", json={"texts": ["x", "y"]}))
        queued.start()
        wait_for(lambda: client.app.state.service.batcher.queued == 2)  # two texts wait: the queue is full
        response = client.post("/v1/predict", json={"texts": ["one more"]})
        slow.join(10)
        queued.join(10)
    error = error_of(response, 503, "overloaded")
    assert response.headers["retry-after"] == "1" and error["detail"]["limit"] == "max_queue_texts"


# -- 4. body timeout, in the ASGI layer --------------------------------------------------------
def test_guard_answers_a_slow_body_with_408_and_counts_it():
    timeouts, sent = [], []

    async def app(scope, receive, send):  # pragma: no cover - never reached
        raise AssertionError("the app must not run")

    async def main():
        guard = RequestGuardMiddleware(app, max_body_bytes=1000, body_timeout=0.2, on_timeout=timeouts.append)
        messages = [{"type": "http.request", "body": b'{"te', "more_body": True}]

        async def receive():
            if messages:
                return messages.pop(0)
            await asyncio.sleep(5)  # the rest never comes
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/predict",
            "headers": [(b"content-type", b"application/json")],
        }
        started = time.monotonic()
        await guard(scope, receive, send)
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    assert 0.15 <= elapsed < 1.0 and timeouts == ["body"]
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["detail"]["received_bytes"] == 4


# -- 5. /docs works offline ---------------------------------------------------------------------
def test_docs_pages_load_every_asset_from_the_service(started, fake_predictor):
    with started(fake_predictor, api_keys=[KEY]) as client:
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 200 and "text/html" in response.headers["content-type"]
            html = response.text
            assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html), html
            assert not re.search(r"https?://[^\s\"'<>]*\.(?:js|css)\b", html), html
            assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
            urls = re.findall(r"""url:\s*['"]([^'"]+)['"]""", html) + re.findall(r"""spec-url=['"]([^'"]+)""", html)
            assert any(a.endswith(".js") for a in assets), assets
            for asset in assets + urls:
                fetched = client.get(asset)
                assert fetched.status_code == 200, asset
                assert fetched.content, asset
        assert client.get("/openapi.json").json()["info"]["title"] == "tunelab"


# -- 6. CORS ------------------------------------------------------------------------------------
def test_no_cors_headers_by_default(started, fake_predictor):
    with started(fake_predictor) as client:
        preflight = client.options(
            "/v1/predict",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        response = client.post("/v1/predict", json={"texts": ["x"]}, headers={"Origin": "https://evil.example"})
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert preflight.status_code == 405


def test_cors_allow_list(started, fake_predictor):
    allowed = "https://app.example.com"
    with started(fake_predictor, cors_origins=f"{allowed}, https://other.example.org/") as client:
        preflight = client.options(
            "/v1/predict",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]
        response = client.post("/v1/predict", json={"texts": ["x"]}, headers={"Origin": allowed})
        assert response.headers["access-control-allow-origin"] == allowed
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
        refused = client.options(
            "/v1/predict", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        other = client.post("/v1/predict", json={"texts": ["x"]}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_cors_setting_is_checked_and_travels_to_workers(tmp_path, monkeypatch):
    settings = ServeSettings(artifact=tmp_path, cors_origins=["https://a.example", "http://localhost:3000"])
    assert settings.cors_origins == ("https://a.example", "http://localhost:3000")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    rebuilt = ServeSettings()
    assert rebuilt.cors_origins == settings.cors_origins
    assert rebuilt.header_timeout_s == 10.0 and rebuilt.body_timeout_s == 30.0 and rebuilt.request_timeout_s == 20.0
    monkeypatch.setenv("TUNELAB_MAX_CONCURRENT_PER_KEY", "none")
    assert ServeSettings().max_concurrent_per_key is None
    with pytest.raises(ValueError, match="not an origin"):
        ServeSettings(artifact=tmp_path, cors_origins="app.example.com")


# -- 7. per-key cap -----------------------------------------------------------------------------
def test_concurrent_requests_per_key_are_capped(started, fake_predictor):
    with started(fake_predictor, api_keys=[KEY, OTHER], max_concurrent_per_key=1, parallel_batches=2) as client:
        slow = threading.Thread(
            target=lambda: client.post("/v1/predict", json={"texts": ["sleep:0.8"]}, headers={"X-API-Key": KEY})
        )
        slow.start()
        wait_for(lambda: ["sleep:0.8"] in fake_predictor.calls)
        refused = client.post("/v1/predict", json={"texts": ["x"]}, headers={"Authorization": f"Bearer {KEY}"})
        other_key = client.post("/v1/predict", json={"texts": ["x"]}, headers={"X-API-Key": OTHER})
        slow.join(10)
        after = client.post("/v1/predict", json={"texts": ["x"]}, headers={"X-API-Key": KEY})
        metrics = client.get("/metrics", headers={"X-API-Key": KEY})  # /metrics is not capped
    error = error_of(refused, 429, "too_many_requests")
    assert refused.headers["retry-after"] == "1"
    assert error["detail"] == {"limit": "max_concurrent_per_key", "value": 1}
    assert other_key.status_code == 200 and after.status_code == 200 and metrics.status_code == 200


def test_the_slot_is_released_when_a_request_fails(started, fake_predictor):
    with started(fake_predictor, api_keys=[KEY], max_concurrent_per_key=1) as client:
        for _ in range(3):
            error_of(client.post("/v1/predict", json={"texts": [""]}, headers={"X-API-Key": KEY}), 422, "invalid_text")
        assert client.post("/v1/predict", json={"texts": ["x"]}, headers={"X-API-Key": KEY}).status_code == 200


# -- 8. texts in logs ---------------------------------------------------------------------------
SECRET = "call me on +1 415-555-0132 or at jane.doe@example.com"


def access_lines(caplog) -> list[dict]:
    return [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "tunelab.serve.access"]


def test_texts_stay_out_of_the_logs_by_default(started, fake_predictor, caplog):
    caplog.set_level(logging.DEBUG)
    with started(fake_predictor) as client:
        caplog.clear()
        assert client.post("/v1/predict", json={"texts": [SECRET]}).status_code == 200
        client.post("/v1/predict", json={"texts": [SECRET, ""]})
    (first, second) = access_lines(caplog)
    assert first["n_texts"] == 1 and "texts" not in first and second["status"] == 422
    assert "jane.doe" not in caplog.text and "555-0132" not in caplog.text


def test_log_texts_logs_them_masked(started, fake_predictor, caplog):
    caplog.set_level(logging.INFO, logger="tunelab.serve.access")
    with started(fake_predictor, log_texts=True) as client:
        caplog.clear()
        assert client.post("/v1/predict", json={"texts": [SECRET, "我的手机号是13812345678"]}).status_code == 200
    (line,) = access_lines(caplog)
    assert line["texts"] == ["call me on <PHONE> or at <EMAIL>", "我的手机号是<PHONE>"]
    assert "jane.doe" not in caplog.text and "13812345678" not in caplog.text


# -- the route of what never reached the router --------------------------------------------------
def test_refusals_are_counted_under_their_route(started, fake_predictor):
    with started(fake_predictor, max_body_bytes=50) as client:
        client.post("/v1/predict", content=b"x", headers={"Content-Type": "text/plain"})
        client.post("/v1/predict", json={"texts": ["y" * 100]})
        client.post("/nowhere", json={"texts": ["y"]})
        assert requests_metric(client, "/v1/predict", 415) == 1
        assert requests_metric(client, "/v1/predict", 413) == 1
        assert requests_metric(client, "unmatched", 404) == 1
