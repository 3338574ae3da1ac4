"""uvicorn's HTTP/1.1 protocol (h11) with a header read timeout, against slow senders (slowloris).

uvicorn's own timeouts do not cover a client that opens a connection and sends its request line
and headers slowly, or not at all: ``timeout_keep_alive`` only runs between two requests, and a
connection that never completes its headers holds its slot without end (uvicorn issue #1358).
:class:`HeaderTimeoutH11Protocol` starts a timer when a connection opens and when the first byte of
a following request arrives on a kept-alive connection; the timer stops as soon as h11 has parsed
the complete headers. When it fires first, the connection is closed: with a ``408`` JSON answer
when part of a request had come, silently when nothing had. The body has its own timeout, in the
ASGI app (``tunelab.serve.guard``), where the route is known.

uvicorn takes the class as ``http=``; ``functools.partial(HeaderTimeoutH11Protocol,
header_timeout=...)`` carries the setting, and pickles, so it also reaches ``--workers N`` processes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

log = logging.getLogger("tunelab.serve")
TIMEOUT_CALLBACK = "tunelab.on_timeout"
"""Key of the lifespan state holding ``callback(phase)``, called when a header timeout closes a
connection (the app counts it in its metrics)."""


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps(
        {
            "error": {
                "code": "request_timeout",
                "message": f"the request headers did not arrive within {seconds:g} s",
                "detail": {"limit": "header_timeout_s", "value": seconds},
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HeaderTimeoutH11Protocol(H11Protocol):
    """``H11Protocol`` that closes a connection whose request headers take longer than ``header_timeout`` s."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float = 10.0,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()  # a connection that never sends a byte is closed too

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_request_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # the next request on this connection: keep-alive times an idle wait; a partial request that
        # is already buffered (pipelining) gets the header timer
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    # -- the timer -------------------------------------------------------------------------------
    def _follow_request_state(self) -> None:
        if self.transport.is_closing():
            self._stop_header_timer()
        elif self.conn.their_state is h11.IDLE:  # still waiting for (the rest of) a request's headers
            self._start_header_timer()
        else:  # headers complete: the body and the answer are the app's business
            self._stop_header_timer()

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        partial = bool(self.conn.trailing_data[0])
        self._unset_keepalive_if_required()
        if partial:
            self.transport.write(_timeout_response(self.header_timeout))
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        log.warning(
            "closed a connection whose request headers did not arrive in time",
            extra={"client": client, "timeout_s": self.header_timeout, "partial": partial},
        )
        callback: Callable[[str], None] | None = (self.app_state or {}).get(TIMEOUT_CALLBACK)
        if callback is not None:
            callback("header")
        self.transport.close()


def protocol_factory(header_timeout: float) -> Callable[..., asyncio.Protocol]:
    """What uvicorn's ``Config(http=...)`` takes: the protocol with this header timeout (picklable)."""
    return functools.partial(HeaderTimeoutH11Protocol, header_timeout=header_timeout)
