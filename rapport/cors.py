"""Which other origins' pages may use the API: one rule (RAPPORT_CORS_ORIGINS) for HTTP,
through Starlette's CORSMiddleware (`Cors`), and for websocket handshakes, through Strawberry's
origin check (rapport/graphql_endpoint.py GraphQLWebsockets).

Rapport authenticates with bearer tokens only, never cookies, so credentials are off: a
page elsewhere can only act with a token it already holds. Same-origin pages (GraphiQL)
and clients that send no Origin (apps, servers, scripts) are never refused."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rapport.origins import ANY, Origins

# What a cross-origin page may send and read (GraphQL over HTTP: POST with JSON, GET for
# queries; Accept names application/graphql-response+json; the server reads X-Request-ID
# and a W3C traceparent when given).
ALLOW_METHODS = ("GET", "POST")
ALLOW_HEADERS = ("Authorization", "Content-Type", "Accept", "X-Request-ID", "traceparent")
EXPOSE_HEADERS = ("X-Request-ID",)
# How long a browser may reuse a preflight: Chromium caps it at 2 hours, Firefox at 24.
PREFLIGHT_MAX_AGE_S = 7200

log = logging.getLogger("rapport.cors")


class Cors(CORSMiddleware):
    """Starlette's CORSMiddleware deciding by `Origins`, with Rapport's headers."""

    def __init__(self, app: ASGIApp, origins: Origins) -> None:
        super().__init__(
            app,
            allow_origins=[ANY] if origins.any else (),
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            allow_credentials=False,
            expose_headers=EXPOSE_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_S,
        )
        self.origins = origins

    def is_allowed_origin(self, origin: str) -> bool:
        return self.origins.allows(origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Requests without Origin (apps, servers, scripts, same-origin GETs; most of the
        traffic) get only what Starlette gives them, `Vary: Origin`, without its header
        objects built per request and per message."""
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = vary_origin(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_varying)


def vary_origin(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with Origin added to Vary, as Starlette's CORSMiddleware does it: the values
    of every Vary joined in the first one's place, ", Origin" after them."""
    out: list[tuple[bytes, bytes]] = []
    varies: list[bytes] = []
    at = -1
    for name, value in headers:
        if name == b"vary":
            if at < 0:
                at = len(out)
                out.append((b"vary", b""))
            varies.append(value)
        else:
            out.append((name, value))
    varies.append(b"Origin")
    if at < 0:
        out.append((b"vary", b"Origin"))
    else:
        out[at] = (b"vary", b", ".join(varies))
    return out


def websocket_origin_allowed(origins: Origins, origin: str, host: str | None) -> bool:
    """Strawberry's hook, called for a cross-origin handshake only; a refusal is answered
    403 before the socket is accepted."""
    if origins.allows(origin):
        return True
    log.warning(
        "refused a websocket from origin %r to %r: not in RAPPORT_CORS_ORIGINS (allowed: %s)",
        origin,
        host,
        origins.describe(),
    )
    return False


class _StrawberryOriginWarning(logging.Filter):
    """Strawberry logs its own warning for a refused handshake, pointing at its
    `allowed_origins` argument; Rapport's (above) names the setting instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Rejected WebSocket connection from origin")


def quiet_strawberry_origin_warning() -> None:
    logger = logging.getLogger("strawberry.ws")
    if not any(isinstance(f, _StrawberryOriginWarning) for f in logger.filters):
        logger.addFilter(_StrawberryOriginWarning())
