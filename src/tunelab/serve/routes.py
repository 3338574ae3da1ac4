"""Endpoints and their dependencies: /health, /ready, /metrics and /v1 (predict, model)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from tunelab.errors import InputError
from tunelab.serve.auth import ApiKeyDep, KeySlotDep, KeyVerifier
from tunelab.serve.batching import BatcherClosed, MicroBatcher, QueueFull
from tunelab.serve.logs import CONTEXT_KEY, RequestContext
from tunelab.serve.metrics import ServeMetrics
from tunelab.serve.schemas import (
    ERROR_RESPONSES,
    PREDICT_EXAMPLES,
    ApiError,
    ErrorResponse,
    HealthResponse,
    Limits,
    ModelInfo,
    PredictRequest,
    PredictResponse,
    ReadyResponse,
    limit_error,
)
from tunelab.serve.settings import ServeSettings
from tunelab.tasks.hooks import input_fields

log = logging.getLogger("tunelab.serve")


def summary_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics /v1/model shows: numbers and tables of numbers (per label, per type). Lists
    (confusion matrices, error examples that quote dev-set texts, plot points) stay in report.json."""

    def small(value: Any) -> bool:
        if isinstance(value, (int, float, str)) or value is None:
            return True
        return isinstance(value, dict) and all(small(v) for v in value.values())

    return {k: v for k, v in metrics.items() if small(v)}


@dataclass
class ServiceState:
    """What the endpoints need; the lifespan fills in predictor and batcher once the model is loaded."""

    settings: ServeSettings
    metrics: ServeMetrics
    keys: KeyVerifier
    predictor: Any = None
    batcher: MicroBatcher | None = None
    ready: bool = False
    load_error: str | None = None
    on_load_error: Callable[[], None] | None = None  # e.g. stop the server

    def summary(self) -> dict[str, str]:
        return {"name": self.settings.name, "task": self.predictor.task.name, "backend": self.predictor.backend.name}

    def model_info(self) -> dict[str, Any]:
        p, s = self.predictor, self.settings
        meta = p.meta
        return {
            **p.task.describe(),  # the task's own facts: entity types, multi-label, pairs, ...
            **self.summary(),
            "labels": p.labels,
            "pairs": bool(getattr(p.task, "pairs", False)),
            "input_fields": list(input_fields(p.task)),
            "max_length": p.max_length,
            "base_model": meta.model_config_section.get("name") or meta.model.base,
            "metrics": summary_metrics(p.metrics),
            "versions": {k: str(v) for k, v in meta.versions.items()},
            "limits": Limits(
                max_texts=s.max_texts,
                max_chars=s.max_chars,
                max_body_bytes=s.max_body_bytes,
                max_batch_size=s.max_batch_size,
                max_wait_ms=s.max_wait_ms,
            ),
        }


# -- dependencies ------------------------------------------------------------------------------
async def get_service(request: Request) -> ServiceState:
    return request.app.state.service


ServiceDep = Annotated[ServiceState, Depends(get_service)]


async def get_ready_service(service: ServiceDep) -> ServiceState:
    if service.load_error is not None:
        raise ApiError(
            503,
            "model_load_failed",
            "the model failed to load; see the server log",
            detail={"error": service.load_error},
        )
    if not service.ready:
        raise ApiError(503, "not_ready", "the model is still loading", headers={"Retry-After": "1"})
    return service


ReadyServiceDep = Annotated[ServiceState, Depends(get_ready_service)]


async def get_context(request: Request) -> RequestContext:
    return request.scope.setdefault(CONTEXT_KEY, RequestContext(request_id="-"))


ContextDep = Annotated[RequestContext, Depends(get_context)]


# -- helpers -----------------------------------------------------------------------------------
async def read_predict_request(request: Request) -> PredictRequest:
    """Parse and validate the body in one pass (after authentication, unlike a FastAPI body parameter)."""
    try:
        return PredictRequest.model_validate_json(await request.body())
    except ValidationError as err:
        errors = err.errors(include_url=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def check_pairs(body: PredictRequest, predictor: Any) -> None:
    """A pair model needs ``text_pairs``, a single-text model must not get them: 422 before any work."""
    check = getattr(getattr(predictor, "task", None), "check_pairs", None)
    if check is None:
        return
    try:
        check(body.texts, body.text_pairs)
    except InputError as err:
        code = "pairs_required" if body.text_pairs is None else "pairs_not_accepted"
        if (
            body.text_pairs is not None
            and len(body.text_pairs) != len(body.texts)
            and getattr(predictor.task, "pairs", False)
        ):
            code = "pairs_mismatch"
        raise ApiError(
            422,
            code,
            str(err),
            detail={"texts": len(body.texts), "text_pairs": None if body.text_pairs is None else len(body.text_pairs)},
        ) from None


def check_inputs(body: PredictRequest, predictor: Any) -> None:
    """Texts the task cannot read (relation extraction's text without its two marked entities): 422
    before any work, so one bad text never fails a model call shared with other requests."""
    make = getattr(getattr(predictor, "task", None), "make_examples", None)
    if make is None:
        return
    try:
        make(body.texts, text_pairs=body.text_pairs)
    except InputError as err:
        raise ApiError(422, "invalid_input", str(err)) from None


def text_problem(text: str) -> str | None:
    """Why a text cannot be predicted (training refuses such texts too), or None."""
    if not text:
        return "empty"
    if not text.strip():
        return "whitespace"
    if "\x00" in text:
        return "nul"
    return None


TEXT_PROBLEMS = {
    "empty": "is empty",
    "whitespace": "holds only whitespace",
    "nul": "contains a NUL character (\\u0000)",
}


def check_texts(body: PredictRequest) -> None:
    """422 ``invalid_text`` naming the first text that is empty, only whitespace, or holds a NUL."""
    for field, texts in (("texts", body.texts), ("text_pairs", body.text_pairs or ())):
        for i, text in enumerate(texts):
            problem = text_problem(text)
            if problem is not None:
                raise ApiError(
                    422,
                    "invalid_text",
                    f"{field}[{i}] {TEXT_PROBLEMS[problem]}; every text needs visible content",
                    detail={"field": f"{field}[{i}]", "index": i, "reason": problem},
                )


def check_limits(body: PredictRequest, settings: ServeSettings) -> None:
    n = len(body.texts)
    if n == 0:
        raise limit_error(422, "empty_texts", "'texts' must hold at least one text", "min_texts", 1, got=0)
    if n > settings.max_texts:
        raise limit_error(
            422,
            "too_many_texts",
            f"at most {settings.max_texts} texts per request, got {n}",
            "max_texts",
            settings.max_texts,
            got=n,
        )
    for i, text in enumerate(body.texts):
        if len(text) > settings.max_chars:
            raise limit_error(
                422,
                "text_too_long",
                f"texts[{i}] has {len(text)} characters; at most {settings.max_chars} are allowed",
                "max_chars",
                settings.max_chars,
                index=i,
                got=len(text),
            )
    for i, text in enumerate(body.text_pairs or ()):
        if len(text) > settings.max_chars:
            raise limit_error(
                422,
                "text_too_long",
                f"text_pairs[{i}] has {len(text)} characters; at most {settings.max_chars} are allowed",
                "max_chars",
                settings.max_chars,
                index=i,
                got=len(text),
            )


def check_items(body: PredictRequest, service: ServiceState) -> None:
    """422 for items that break a limit, hold an empty/whitespace/NUL field, or do not fit the
    model's named inputs (the task builds its examples from them here, before any model work)."""
    from tunelab.tasks.hooks import examples_from_items

    items, settings = body.items or [], service.settings
    if body.texts or body.text_pairs is not None:
        raise ApiError(422, "texts_and_items", "give texts (and text_pairs) or items, not both")
    if not items:
        raise limit_error(422, "empty_texts", "'items' must hold at least one item", "min_texts", 1, got=0)
    if len(items) > settings.max_texts:
        raise limit_error(
            422,
            "too_many_texts",
            f"at most {settings.max_texts} items per request, got {len(items)}",
            "max_texts",
            settings.max_texts,
            got=len(items),
        )
    for i, item in enumerate(items):
        for name, text in item.items():
            if len(text) > settings.max_chars:
                raise limit_error(
                    422,
                    "text_too_long",
                    f"items[{i}].{name} has {len(text)} characters; at most {settings.max_chars} are allowed",
                    "max_chars",
                    settings.max_chars,
                    index=i,
                    got=len(text),
                )
            problem = text_problem(text) if name != "id" else None
            if problem is not None:
                raise ApiError(
                    422,
                    "invalid_text",
                    f"items[{i}].{name} {TEXT_PROBLEMS[problem]}; every text needs visible content",
                    detail={"field": f"items[{i}].{name}", "index": i, "reason": problem},
                )
    try:
        examples_from_items(service.predictor.task, items)
    except InputError as err:
        raise ApiError(422, "invalid_items", str(err)) from None


def masked_texts(body: PredictRequest) -> list[str]:
    """The request's texts (and second texts) for the log, with personal data masked."""
    from tunelab.data.pii import mask_text

    texts = [mask_text(text) for text in body.texts]
    texts += [mask_text(text) for item in body.items or () for text in item.values()]
    if body.text_pairs is not None:
        texts += [mask_text(text) for text in body.text_pairs]
    return texts


# -- routes ------------------------------------------------------------------------------------
probes = APIRouter(tags=["probes"])
api = APIRouter(prefix="/v1", tags=["model"], dependencies=[KeySlotDep], responses=ERROR_RESPONSES)
monitoring = APIRouter(tags=["monitoring"], dependencies=[ApiKeyDep])


@probes.get("/health", response_model=HealthResponse, summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@probes.get(
    "/ready",
    response_model=ReadyResponse,
    summary="Readiness: the model is loaded",
    responses={503: {"model": ErrorResponse, "description": "Model not loaded (yet)"}},
)
async def ready(service: ReadyServiceDep) -> dict[str, Any]:
    return {"status": "ready", "model": service.summary()}


@monitoring.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 401: ERROR_RESPONSES[401]},
)
async def metrics(service: ServiceDep) -> Response:
    if service.batcher is not None:
        service.metrics.queued.set(service.batcher.queued)
    return Response(service.metrics.render(), media_type=service.metrics.content_type)


@api.get("/model", response_model=ModelInfo, summary="The loaded model: task, labels, metrics, versions")
async def model_info(service: ReadyServiceDep) -> dict[str, Any]:
    return service.model_info()


PREDICT_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema(), "examples": PREDICT_EXAMPLES}},
    }
}


@api.post(
    "/predict",
    response_model=PredictResponse,
    openapi_extra=PREDICT_OPENAPI,
    summary="The model's prediction for each text (or text pair): labels with scores, a number, or entities",
)
async def predict(request: Request, service: ReadyServiceDep, context: ContextDep) -> Response:
    body = await read_predict_request(request)
    if body.items is not None:  # the model's named inputs ({question, context} for extractive QA)
        check_items(body, service)
        inputs: list[Any] = list(body.items)
    else:
        check_limits(body, service.settings)
        check_texts(body)
        check_pairs(body, service.predictor)
        check_inputs(body, service.predictor)
        pairs = body.text_pairs if body.text_pairs is not None else [None] * len(body.texts)
        inputs = list(zip(body.texts, pairs))
    context.n_texts = len(inputs)
    if service.settings.log_texts:
        context.texts = masked_texts(body)
    assert service.batcher is not None  # the ready dependency guarantees it
    try:
        # requests share a model call when they ask for the same top_k (and give the same kind of input)
        records = await service.batcher.submit(
            inputs, key=(body.top_k, "items") if body.items is not None else body.top_k
        )
    except QueueFull as err:
        raise ApiError(
            503,
            "overloaded",
            "too many texts are waiting for the model; retry shortly",
            detail={"limit": "max_queue_texts", "value": service.settings.max_queue_texts},
            headers={"Retry-After": "1"},
        ) from err
    except BatcherClosed as err:
        raise ApiError(503, "shutting_down", "the service is shutting down") from err
    except Exception as err:
        log.error("inference failed: %s", type(err).__name__, extra={"request_id": context.request_id})
        raise ApiError(500, "inference_failed", "the model failed on this request") from err
    service.metrics.texts.inc(len(records))
    return JSONResponse({"model": service.summary(), "predictions": records})
