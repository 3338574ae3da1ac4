"""Structured JSON logs and the per-request context: request id, one access-log line, HTTP metrics.

The access line holds method, path, route, status, duration_ms and n_texts. It holds the texts only
when ``log_texts`` is on, and then masked (``tunelab.data.pii.mask_text``: e-mail addresses, phone,
card and account numbers, ID numbers, IP addresses become ``<EMAIL>``, ``<PHONE>``, ...).

A request whose client went away before its answer is recorded with status 499 (nginx's "client
closed request") under its route, so a disconnect is never counted as a server error."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunelab.serve.guard import DISCONNECTED_KEY
from tunelab.serve.metrics import ServeMetrics
from tunelab.serve.schemas import error_response

access_log = logging.getLogger("tunelab.serve.access")
log = logging.getLogger("tunelab.serve")

CONTEXT_KEY = "tunelab.context"
CLIENT_CLOSED = 499  # nginx's status for a client that closed the connection before the answer
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn adds an ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message and every ``extra=`` field."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_")})
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for tunelab and uvicorn (idempotent: replaces its own handler only)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tunelab", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._tunelab = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # tunelab.serve.access writes one line per request


@dataclass
class RequestContext:
    request_id: str
    n_texts: int | None = None
    texts: list[str] | None = None  # only with log_texts, and masked


def route_of(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The route template of a request (``/v1/predict``), also for one the router never saw
    (refused, timed out or abandoned before routing); ``unmatched`` when no route fits."""
    route = scope.get("route")
    if getattr(route, "path", None):
        return route.path  # type: ignore[union-attr]
    partial = None
    for candidate in routes:
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return getattr(candidate, "path", None) or "unmatched"
        if match is Match.PARTIAL and partial is None:  # the path fits, the method does not
            partial = getattr(candidate, "path", None)
    return partial or "unmatched"


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Outermost layer: request id in and out, the access-log line, request metrics, and a JSON 500
    for anything that escaped the exception handlers."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context = RequestContext(request_id_from(scope))
        scope[CONTEXT_KEY] = context
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append((b"x-request-id", context.request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error("unhandled error", exc_info=exc, extra={"request_id": context.request_id})
            if response_started:
                raise
            status = 500
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            if not response_started and scope.get(DISCONNECTED_KEY):
                status = CLIENT_CLOSED
            route = route_of(scope, self.routes)
            self.metrics.observe_request(route, scope["method"], status, seconds)
            extra: dict[str, Any] = {
                "request_id": context.request_id,
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "n_texts": context.n_texts,
            }
            if context.texts is not None:
                extra["texts"] = context.texts
            access_log.info("request", extra=extra)
