"""The FastAPI application: ``create_app(settings)`` builds it; the model loads in the lifespan.

The lifespan starts loading in a background thread and returns at once, so ``/health`` answers
while a large model loads and ``/ready`` says 503 until it is loaded and warmed up. For
``uvicorn --factory`` and ``--workers N``: ``tunelab.serve.app:create_app_from_env``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunelab import __version__
from tunelab.errors import ConfigError, TunelabError
from tunelab.serve.auth import KeySlots, KeyVerifier
from tunelab.serve.batching import MicroBatcher
from tunelab.serve.guard import RequestGuardMiddleware
from tunelab.serve.logs import RequestContextMiddleware, configure_logging
from tunelab.serve.metrics import ServeMetrics
from tunelab.serve.protocol import TIMEOUT_CALLBACK, protocol_factory
from tunelab.serve.routes import ServiceState, api, monitoring, probes
from tunelab.serve.schemas import ApiError, error_response
from tunelab.serve.settings import ServeSettings

log = logging.getLogger("tunelab.serve")
Loader = Callable[[ServeSettings], Any]
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
DOCS_ASSETS = "/docs-assets"  # Swagger UI and ReDoc files served from the fastapi-offline package


def load_predictor(settings: ServeSettings):
    """The default loader: ``tunelab.load`` with the configured backend, one warm-up call."""
    import torch
    from transformers.utils import logging as hf_logging

    from tunelab.inference.predictor import load

    hf_logging.disable_progress_bar()
    torch.set_num_threads(settings.threads)  # the onnx backend follows torch's setting
    predictor = load(settings.artifact, backend=settings.backend, batch_size=settings.model_batch_size)
    if settings.dtype != "float32":
        if predictor.model is None:
            raise ConfigError(f"dtype {settings.dtype} applies to the torch backend, not {predictor.backend.name}")
        predictor.model.to(getattr(torch, settings.dtype))  # the backend hands back float32 logits
    # first-call costs (allocations, kernels) before /ready says 200; a pair model warms up on a pair,
    # a task whose input has a form of its own (relation extraction's marked entities) on its own text
    text = getattr(predictor.task, "warmup_text", "warm up")
    predictor.predict_scores([text], [text] if getattr(predictor.task, "pairs", False) else None)
    return predictor


class PredictorRunner:
    """``predictor.predict_scores`` for the batcher's threads, tokenizing under a lock: a Hugging Face
    fast tokenizer must not be used by two threads at once; the model calls do run in parallel."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor
        self.lock = threading.Lock()
        self.split = all(hasattr(predictor, name) for name in ("encode", "items_for"))

    def __call__(self, items: list[Any], key: int | tuple[int, str]) -> list[dict[str, Any]]:
        """``items`` are (text, second text or None), or dicts of the model's named input fields; a
        batch holds one kind (the task checks pairs first)."""
        p = self.predictor
        top_k = key[0] if isinstance(key, tuple) else key  # (top_k, "items") for named-field inputs
        if items and isinstance(items[0], Mapping):
            from tunelab.tasks.hooks import examples_from_items

            examples = examples_from_items(p.task, items)  # type: ignore[arg-type]
            with self.lock:
                encoded = p.encode(examples)
            return p.task.prediction_records(encoded, p.items_for(encoded), top_k=top_k)
        texts = [text for text, _ in items]
        pairs = [pair for _, pair in items] if any(pair is not None for _, pair in items) else None
        if not self.split:
            return (
                p.predict_scores(texts, top_k=top_k) if pairs is None else p.predict_scores(texts, pairs, top_k=top_k)
            )
        examples = p.task.make_examples(texts, text_pairs=pairs)
        with self.lock:
            encoded = p.encode(examples)
        return p.task.prediction_records(encoded, p.items_for(encoded), top_k=top_k)


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` in a daemon thread: a shutdown during a slow load does not wait for it."""
    future: concurrent.futures.Future = concurrent.futures.Future()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(exc)
            return
        with contextlib.suppress(concurrent.futures.InvalidStateError):  # the app stopped meanwhile
            future.set_result(result)

    threading.Thread(target=target, name="tunelab-model-load", daemon=True).start()
    return await asyncio.wrap_future(future)


async def load_model(state: ServiceState, loader: Loader) -> None:
    settings = state.settings
    started = time.perf_counter()
    log.info("loading model", extra={"artifact": str(settings.artifact), "backend": settings.backend or "auto"})
    try:
        predictor = await _in_thread(loader, settings)
    except Exception as exc:
        state.load_error = str(exc) if isinstance(exc, TunelabError) else f"{type(exc).__name__}: {exc}"
        # an error the user can fix is one line; anything else keeps its traceback for a bug report
        log.error("model failed to load: %s", state.load_error, exc_info=None if isinstance(exc, TunelabError) else exc)
        if state.on_load_error is not None:
            state.on_load_error()
        return

    state.batcher = MicroBatcher(
        PredictorRunner(predictor),
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_concurrent=settings.concurrent_batches(),
        max_queue=settings.max_queue_texts,
        on_batch=state.metrics.observe_batch,
    )
    state.batcher.start()
    state.predictor, state.ready = predictor, True
    state.metrics.model_loaded.set(1)
    log.info("model ready", extra={"model": state.summary(), "seconds": round(time.perf_counter() - started, 2)})


def install_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc.status_code, exc.code, exc.message, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg", "ctx")} for e in exc.errors()]
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(422, "invalid_json", "the request body is not valid JSON", jsonable_encoder(errors))
        return error_response(
            422, "invalid_request", "the request body does not match the schema", jsonable_encoder(errors)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_response(
            exc.status_code,
            HTTP_CODES.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )


def create_app(settings: ServeSettings, *, loader: Loader | None = None) -> FastAPI:
    """A new app for ``settings``, with its own metrics registry; ``loader(settings)`` returns the
    predictor (default ``load_predictor``) and runs in a thread when the app starts."""
    state = ServiceState(settings=settings, metrics=ServeMetrics(), keys=KeyVerifier(settings.api_keys))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not state.keys.enabled:
            log.warning("authentication is off: no API keys configured")
        loading = asyncio.create_task(load_model(state, loader or load_predictor), name="tunelab-load")
        try:
            # the lifespan state reaches uvicorn's protocol objects: header timeouts are counted here
            yield {TIMEOUT_CALLBACK: state.metrics.observe_timeout}
        finally:
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            if state.batcher is not None:
                await state.batcher.close()
            state.ready = False
            state.metrics.model_loaded.set(0)

    app = FastAPIOffline(  # /docs and /redoc load their JS and CSS from this server: they work offline
        static_url=DOCS_ASSETS,
        title="tunelab",
        version=__version__,
        summary="Predictions from a fine-tuned tunelab model.",
        description="Predictions of the model's task (see GET /v1/model): labels with scores, numbers, or entities "
        "with character offsets. "
        "When API keys are configured, /v1 and /metrics need `Authorization: Bearer KEY` or `X-API-Key: KEY`.",
        lifespan=lifespan,
    )
    app.state.service = state
    app.state.api_keys = state.keys
    app.state.key_slots = KeySlots(settings.max_concurrent_per_key)
    app.include_router(probes)
    app.include_router(api)
    app.include_router(monitoring)
    install_exception_handlers(app)
    app.add_middleware(
        RequestGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout_s,
        request_timeout=settings.request_timeout_s,
        on_timeout=state.metrics.observe_timeout,
    )
    if settings.cors_origins:  # none by default: no CORS headers at all
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    # added last: outermost; it labels requests the router never saw by matching the routes itself
    # (FastAPI keeps included routers as lazy wrappers without a path: match their own routes)
    routes = [r for r in app.router.routes if getattr(r, "path", None)] + [*probes.routes, *api.routes]
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics, routes=[*routes, *monitoring.routes])
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory tunelab.serve.app:create_app_from_env``: settings from TUNELAB_*."""
    settings = ServeSettings()
    configure_logging(settings.log_level)
    return create_app(settings)


def uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    """uvicorn's options for these settings (``uvicorn.Config(app, **options)`` or ``uvicorn.run``)."""
    return dict(
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
        # uvicorn's h11 protocol plus a header read timeout (slow senders); a functools.partial,
        # so it pickles into --workers processes
        http=protocol_factory(settings.header_timeout_s),
    )


def run(settings: ServeSettings) -> None:
    """Serve with uvicorn (blocking); ``settings.workers > 1`` starts worker processes. A single
    process stops when the model cannot be loaded, and this raises; workers keep answering
    ``/ready`` with 503 (uvicorn would restart workers that exit, without end)."""
    import uvicorn

    configure_logging(settings.log_level)
    options = uvicorn_options(settings)
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        uvicorn.run("tunelab.serve.app:create_app_from_env", factory=True, workers=settings.workers, **options)
        return
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    app.state.service.on_load_error = lambda: setattr(server, "should_exit", True)  # graceful stop
    server.run()
    if app.state.service.load_error:
        raise TunelabError(f"the model failed to load: {app.state.service.load_error}")
