"""A real uvicorn server (as `tunelab serve` configures it) against raw-socket clients: half-sent
requests are closed within the configured timeouts while other clients are served meanwhile, and
client disconnects are recorded as 499 under their route, never as 5xx."""

from __future__ import annotations

import json
import os
import pickle
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tunelab.serve.protocol import HeaderTimeoutH11Protocol, protocol_factory
from tunelab.serve.settings import ServeSettings

BODY = json.dumps({"texts": ["hello there", "second text"]}).encode()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.settimeout(10)
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (monotonic)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def server_errors(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if line.startswith("tunelab_http_requests_total") and 'status="5' in line
    ]


def serve_meanwhile(url: str, until: float) -> list[float]:
    """Predictions from a well-behaved client while the slow ones hang; their latencies."""
    latencies = []
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.monotonic() < until or not latencies:
            started = time.monotonic()
            response = client.post("/v1/predict", json={"texts": ["a normal request"]})
            assert response.status_code == 200, response.text
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
    return latencies


def test_half_sent_requests_are_closed_within_the_timeouts(tmp_path, fake_predictor, live_server):
    settings = ServeSettings(artifact=tmp_path, header_timeout_s=1.0, body_timeout_s=1.5, request_timeout_s=5)
    with live_server(settings, fake_predictor) as url:
        # 1. partial headers: request line and one header, never the blank line
        slow_headers = connect(url)
        slow_headers.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl")
        headers_sent = time.monotonic()
        # 2. full headers announcing 2x the body, then half of it
        slow_body = connect(url)
        head = (
            "POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2 * len(BODY)}\r\n\r\n"
        ).encode()
        slow_body.sendall(head + BODY)
        body_sent = time.monotonic()
        # 3. a connection that sends nothing at all
        silent = connect(url)
        silent_opened = time.monotonic()

        results: dict[str, tuple[bytes, float]] = {}
        readers = [
            threading.Thread(target=lambda k=k, s=s: results.__setitem__(k, read_until_closed(s)))
            for k, s in (("headers", slow_headers), ("body", slow_body), ("silent", silent))
        ]
        for reader in readers:
            reader.start()
        latencies = serve_meanwhile(url, until=time.monotonic() + 2.5)  # other clients are served meanwhile
        for reader in readers:
            reader.join(10)
            assert not reader.is_alive(), "the server kept a half-sent request open"

        answer, closed = results["headers"]
        assert 0.9 <= closed - headers_sent < 3.0, closed - headers_sent
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"

        answer, closed = results["body"]
        assert 1.4 <= closed - body_sent < 3.5, closed - body_sent
        status_line, rest = answer.split(b"\r\n", 1)
        assert status_line.startswith(b"HTTP/1.1 408 ") and b"connection: close" in rest.lower()
        error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
        assert error["code"] == "request_timeout"
        assert error["detail"] == {"limit": "body_timeout_s", "value": 1.5, "received_bytes": len(BODY)}

        answer, closed = results["silent"]
        assert answer == b"" and 0.9 <= closed - silent_opened < 3.0

        assert len(latencies) >= 5 and max(latencies) < 2.0  # served while the slow clients hung
        text = httpx.get(f"{url}/metrics").text
    for sock in (slow_headers, slow_body, silent):
        sock.close()
    assert server_errors(text) == [], server_errors(text)
    assert metric(text, "tunelab_http_timeouts_total", phase="header") == 2
    assert metric(text, "tunelab_http_timeouts_total", phase="body") == 1
    assert metric(text, "tunelab_http_requests_total", route="/v1/predict", method="POST", status="408") == 1
    assert metric(text, "tunelab_http_requests_total", route="/v1/predict", method="POST", status="200") >= 5
    assert 'route="unmatched"' not in text


def test_slow_header_trickle_does_not_reset_the_timer(tmp_path, fake_predictor, live_server):
    """A client sending one header line every 0.4 s (slowloris) is still cut at the header timeout."""
    settings = ServeSettings(artifact=tmp_path, header_timeout_s=1.0)
    with live_server(settings, fake_predictor) as url:
        sock = connect(url)
        opened = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        closed_at = None
        for i in range(10):
            time.sleep(0.4)
            try:
                sock.sendall(f"X-Slow-{i}: x\r\n".encode())
                sock.settimeout(0.01)
                sock.recv(65536)  # the 408, or the end of the connection
            except TimeoutError:
                continue  # still open
            except OSError:
                pass  # reset by the server
            closed_at = time.monotonic()
            break
        sock.close()
        assert closed_at is not None and closed_at - opened < 2.5
        # a complete request on a fresh connection is untouched by the timer
        assert httpx.get(f"{url}/health").status_code == 200


def test_header_timer_on_a_kept_alive_connection(tmp_path, fake_predictor, live_server):
    """After a complete request and its answer, a second, half-sent request on the same connection
    is cut at the header timeout as well."""
    settings = ServeSettings(artifact=tmp_path, header_timeout_s=1.0)
    with live_server(settings, fake_predictor) as url:
        sock = connect(url)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        sent = time.monotonic()
        answer, closed = read_until_closed(sock)
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ") and 0.9 <= closed - sent < 3.0


def test_client_that_disconnects_is_499_under_its_route(tmp_path, fake_predictor, live_server):
    settings = ServeSettings(artifact=tmp_path, request_timeout_s=10)
    with live_server(settings, fake_predictor) as url:
        # goes away while its texts are with the model
        sock = connect(url)
        body = json.dumps({"texts": ["sleep:0.6"]}).encode()
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        time.sleep(0.2)
        sock.close()
        # goes away in the middle of its body
        sock = connect(url)
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
        )
        time.sleep(0.2)
        sock.close()
        time.sleep(1.0)  # let the server notice and finish its model call
        text = httpx.get(f"{url}/metrics").text
    assert server_errors(text) == [], server_errors(text)
    assert metric(text, "tunelab_http_requests_total", route="/v1/predict", method="POST", status="499") == 2
    assert 'route="unmatched"' not in text


@pytest.mark.slow
def test_workers_get_the_header_timeout(legacy_artifacts, tmp_path):
    """``--workers 2``: uvicorn pickles its config into spawned processes; the protocol with its
    timeout goes along, so a half-sent request is closed by a worker too."""
    factory = pickle.loads(pickle.dumps(protocol_factory(2.5)))
    assert factory.func is HeaderTimeoutH11Protocol and factory.keywords == {"header_timeout": 2.5}

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    artifact = legacy_artifacts / "classification"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNELAB_THREADS": "1"}
    command = [sys.executable, "-m", "tunelab.cli.app", "serve", str(artifact), "--port", str(port)]
    command += ["--workers", "2", "--header-timeout", "1", "--log-level", "warning"]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the workers never became ready"
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        sock = connect(url)
        sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n")
        sent = time.monotonic()
        answer, closed = read_until_closed(sock)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408 ") and 0.9 <= closed - sent < 3.0
        ok = httpx.post(f"{url}/v1/predict", json={"texts": ["my invoice"]}, timeout=10)
        assert ok.status_code == 200, ok.text
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
