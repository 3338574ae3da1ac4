"""The ASGI layer between a request and the app: media type, body size, body timeout, deadline,
and client disconnects.

In order, for every HTTP request:

1. ``POST``/``PUT``/``PATCH`` need a JSON body: ``Content-Type: application/json`` (parameters such as
   ``charset`` allowed) or ``application/<x>+json``; anything else, a missing type included, gets 415.
   A cross-site HTML form can only send ``text/plain``, ``application/x-www-form-urlencoded`` or
   ``multipart/form-data`` without a CORS preflight, so no such request reaches the model.
2. A body over ``max_body_bytes`` gets 413: from Content-Length before reading anything, else
   counting the bytes actually received.
3. The whole body must arrive within ``body_timeout`` seconds, else 408 and the connection is closed.
   The body is read here, before the app runs, and handed on unchanged.
4. The app then has ``request_timeout`` seconds (the deadline) to answer, else it is cancelled (a
   queued request leaves the queue) and the client gets 504. Meanwhile the connection is watched: a
   client that goes away cancels its request too, and is recorded as a disconnect (status 499 in the
   metrics and the access log, nginx's convention), not as a server error.

The header read timeout is in the HTTP protocol (``tunelab.serve.protocol``): an ASGI app only
runs once the headers are complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunelab.serve.schemas import error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON_TYPE = re.compile(r"^application/(?:[a-z0-9!#$&^_.-]+\+)?json$")
DISCONNECTED_KEY = "tunelab.disconnected"
"""Scope key set to True when the client went away before its answer was sent."""


def header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope.get("headers", ()) if k == name), None)


def is_json_media_type(value: bytes | str | None) -> bool:
    """``application/json`` or ``application/<x>+json``, with any parameters (``; charset=utf-8``)."""
    if value is None:
        return False
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return bool(_JSON_TYPE.match(text.split(";", 1)[0].strip().lower()))


class RequestGuardMiddleware:
    """See the module docstring. ``on_timeout(phase)`` ("body" or "deadline") counts timeouts."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_timeout: float = 30.0,
        request_timeout: float = 20.0,
        on_timeout: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.request_timeout = request_timeout
        self.on_timeout = on_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = await self._read_body(scope, receive, send)
        if body is not None:
            await self._run(scope, body, receive, send)

    # -- 1, 2: from the headers ------------------------------------------------------------------
    def _refusal(self, scope: Scope) -> Any:
        if scope["method"] in BODY_METHODS:
            given = header(scope, b"content-type")
            if not is_json_media_type(given):
                shown = given.decode("latin-1") if given is not None else None
                return error_response(
                    415,
                    "unsupported_media_type",
                    "the request body must be JSON: send 'Content-Type: application/json'"
                    + (f" (got '{shown}')" if shown else " (no Content-Type was sent)"),
                    detail={"content_type": shown, "accepted": ["application/json", "application/*+json"]},
                )
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return error_response(400, "bad_request", "invalid Content-Length header")
            if int(declared) > self.max_body_bytes:
                return self._too_large()
        return None

    def _too_large(self) -> Any:
        return error_response(
            413,
            "body_too_large",
            f"the request body is larger than {self.max_body_bytes} bytes",
            detail={"limit": "max_body_bytes", "value": self.max_body_bytes},
        )

    # -- 2, 3: the body --------------------------------------------------------------------------
    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None when an answer was sent (413, 408) or the client went away."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                if self.on_timeout is not None:
                    self.on_timeout("body")
                response = error_response(
                    408,
                    "request_timeout",
                    f"the request body did not arrive within {self.body_timeout:g} s",
                    detail={"limit": "body_timeout_s", "value": self.body_timeout, "received_bytes": size},
                    headers={"Connection": "close"},  # the rest of the body must not be read as a request
                )
                await response(scope, receive, send)
                return None
            if message["type"] == "http.disconnect":
                scope[DISCONNECTED_KEY] = True
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large()(scope, receive, send)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    # -- 4: the app, with a deadline, watching the connection ------------------------------------
    async def _run(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        started = finished = False
        done = asyncio.Event()  # the answer is complete, or the client went away
        replayed = False

        async def app_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # nothing more comes from a client but its disconnect
            return {"type": "http.disconnect"}

        async def app_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True  # before sending: the server may report the end as a disconnect at once
                await send(message)
                done.set()  # after: a response that listens for the disconnect must not cut its last chunk
                return
            await send(message)

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        app_task = asyncio.ensure_future(self.app(scope, app_receive, app_send))
        watcher = asyncio.ensure_future(watch())
        try:
            ready, _ = await asyncio.wait(
                {app_task, watcher}, timeout=self.request_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if app_task in ready:
                app_task.result()  # re-raises what the app raised
                return
            if watcher in ready:
                if finished:  # the server reports the end of an answered request as a disconnect
                    await app_task
                    return
                scope[DISCONNECTED_KEY] = True  # the client went away: stop working for it
                done.set()
                return
            if self.on_timeout is not None:
                self.on_timeout("deadline")
            app_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await app_task
            if not started:
                response = error_response(
                    504,
                    "deadline_exceeded",
                    f"the request was not answered within {self.request_timeout:g} s; retry later, or send fewer texts",
                    detail={"limit": "request_timeout_s", "value": self.request_timeout},
                )
                await response(scope, app_receive, send)
        finally:
            for task in (app_task, watcher):
                if not task.done():
                    task.cancel()
            await asyncio.gather(app_task, watcher, return_exceptions=True)
