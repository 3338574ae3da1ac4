"""Service fixtures that need no trained model: a fake predictor (the service only needs
``predict_scores``, ``task.name`` and ``backend.name``), a started TestClient app and a real uvicorn
server on a free port, configured exactly as `tunelab serve` configures it."""

from __future__ import annotations

import contextlib
import threading
import time
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from tunelab.serve.app import create_app, uvicorn_options
from tunelab.serve.settings import ServeSettings


class FakePredictor:
    """Labels every text 'ok'; a text 'sleep:S' makes its model call take S seconds."""

    def __init__(self) -> None:
        self.task = SimpleNamespace(name="text_classification")
        self.backend = SimpleNamespace(name="fake")
        self.calls: list[list[str]] = []

    def predict_scores(self, texts, text_pairs=None, top_k=1):
        self.calls.append(list(texts))
        for text in texts:
            if text.startswith("sleep:"):
                time.sleep(float(text.split(":", 1)[1]))
        return [{"text": text, "label": "ok", "score": 1.0} for text in texts]


@pytest.fixture
def fake_predictor() -> FakePredictor:
    return FakePredictor()


@pytest.fixture
def started(tmp_path):
    """``started(predictor, **settings)``: a started app behind FastAPI's TestClient, once ready."""

    @contextlib.contextmanager
    def start(predictor, **options):
        app = create_app(ServeSettings(artifact=tmp_path, **options), loader=lambda settings: predictor)
        with TestClient(app) as client:
            deadline = time.monotonic() + 20
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, "the app never became ready"
                time.sleep(0.01)
            yield client

    return start


@contextlib.contextmanager
def _live_server(settings: ServeSettings, predictor):
    """A real uvicorn server in a thread, with `tunelab serve`'s options (header timeout protocol
    included) on a free port; yields its base URL once /ready answers 200."""
    app = create_app(settings, loader=lambda s: predictor)
    options = {**uvicorn_options(settings), "port": 0, "host": "127.0.0.1"}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        while httpx.get(f"{url}/ready").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.02)
        yield url
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def live_server():
    """``live_server(settings, predictor)``: see :func:`_live_server`."""
    return _live_server
