"""uvicorn's httptools protocol with read timeouts and a connection cap that websockets obey
(README: "Slow and idle clients"). `rapport serve` runs it (`http=` in rapport/cli.py).

uvicorn has no timeout on receiving a request: `timeout_keep_alive` applies only between
requests, and any byte received cancels it, so a client sending its headers one byte at a
time (slowloris), or a connection that never sends anything, is held for ever. And
`limit_concurrency` answers 503 to HTTP requests past the cap but lets websocket upgrades
through. This protocol adds, per connection:

- a header deadline: the request line and headers must be complete within
  `RAPPORT_HEADER_TIMEOUT_S` of the connection opening, or of the request's first byte on a
  kept-alive connection; else the connection is closed (with a 408 if the client had started
  a request; an idle connection is just closed, as browsers' pre-opened sockets expect);
- a body deadline: the body must be complete within `RAPPORT_BODY_TIMEOUT_S` of the end of the
  headers; else 408 if nothing was answered yet, and the connection is closed. Below ASGI, so
  it covers bodies the app never reads (a GET's) as well as those `BodyLimit` reads;
- the connection cap for websockets: an upgrade while the process already serves
  `RAPPORT_MAX_CONNECTIONS` connections is answered 503, as uvicorn answers HTTP requests.

And each response goes out in one send, head and body together (`HeadHeld`).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from rapport import metrics
from rapport.bodies import error_document
from rapport.settings import Settings


def http_response(status: int, reason: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def request_timeout(message: str) -> bytes:
    body = json.dumps(error_document(408, message)).encode()
    return http_response(408, "Request Timeout", "application/json", body)


# What uvicorn answers an HTTP request past limit_concurrency (flow_control.service_unavailable).
SERVICE_UNAVAILABLE = http_response(
    503, "Service Unavailable", "text/plain; charset=utf-8", b"Service Unavailable"
)


@cache
def _timeouts() -> tuple[float, float]:
    """(header, body) timeouts in seconds, from the settings (the environment, read once per
    process, as the app reads them)."""
    settings = Settings()
    return settings.header_timeout_s, settings.body_timeout_s


class HeadHeld:
    """The transport a response is written to, holding its status line and headers until
    its body's first bytes and writing the two together. uvicorn writes each ASGI message as
    it comes, so every answer took two sends: on loopback, under bench/peer.py's trivial
    query, a third of the server's samples were in them. What is written before the
    response starts (a 100 Continue) goes out at once; closing writes what is held first."""

    __slots__ = ("_cycle", "_head", "_transport", "_waiting")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        # The cycle holds this as its transport: a strong reference back would make each
        # request a reference cycle, freed only by the cyclic collector (tests/test_garbage.py).
        self._transport, self._cycle = transport, weakref.ref(cycle)
        self._head: bytes | None = None
        self._waiting = True  # for the head

    def write(self, data: bytes) -> None:
        cycle = self._cycle()
        if self._waiting and cycle is not None and cycle.response_started:
            self._waiting = False
            self._head = data
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class RapportHTTPProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s, self._body_timeout_s = _timeouts()
        self._deadline: asyncio.TimerHandle | None = None
        self._request_begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._header_timeout_s, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        if self._deadline is None:  # a kept-alive connection's next request
            self._arm(self._header_timeout_s, self._headers_late)

    def on_headers_complete(self) -> None:
        self._disarm()
        upgrade = self.parser.should_upgrade() and self._should_upgrade()
        if not upgrade:
            self._arm(self._body_timeout_s, self._body_late)
        super().on_headers_complete()
        # A HEAD answer has no body to wait for; an upgrade is the websocket protocol's.
        if not upgrade and self.cycle is not None and self.cycle.scope["method"] != "HEAD":
            self.cycle.transport = HeadHeld(self.transport, self.cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._disarm()
        self._request_begun = False
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        # The count includes this connection, as uvicorn's own check for HTTP requests does.
        if self.limit_concurrency is not None and len(self.connections) >= self.limit_concurrency:
            self.logger.warning("Exceeded concurrency limit: websocket refused.")
            self.transport.write(SERVICE_UNAVAILABLE)
            self.transport.close()
            return
        super().handle_websocket_upgrade()

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        metrics.SLOW_CLIENTS.labels("header_timeout").inc()
        if self._request_begun:
            self.transport.write(
                request_timeout(
                    f"The request's headers did not arrive within {self._header_timeout_s:g} s."
                )
            )
        self.transport.close()

    def _body_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        metrics.SLOW_CLIENTS.labels("body_timeout").inc()
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(
                request_timeout(
                    f"The request's body did not arrive within {self._body_timeout_s:g} s."
                )
            )
        self.transport.close()
