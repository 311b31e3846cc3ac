"""Request bodies a client cannot use against us: a size limit enforced before anything is
parsed, strict JSON decoding that turns every malformed body into a 4xx, and 4xx answers as
GraphQL-shaped JSON with a code instead of Strawberry's plain text.

- `BodyLimit` (pure ASGI middleware): a POST whose Content-Length, or whose streamed bytes,
  pass `limit` is answered 413 at once, having buffered at most `limit` bytes. Websocket
  frames are bounded by uvicorn's `ws_max_size` (set to the same limit by `rapport serve`).
- `decode_body`: UTF-8 strictly, then JSON; invalid UTF-8, nesting too deep for the decoder,
  integers of more digits than Python converts, and bodies that are not an object (a JSON
  string, a number, null) each raise `BadBody` with a message that says which.
- `error_response`: `{"errors": [{"message", "extensions": {"code"}}]}` for a status, in the
  media type negotiated for the request (rapport/graphql_http.py); `error_document`, the same
  as a dict, for answers written below ASGI (`rapport/protocol.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class BadBody(ValueError):
    """A body that is not a GraphQL request; the message is safe to show."""


def error_document(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """The error as a GraphQL response without data; `code` defaults to the status's."""
    code = code or CODES.get(status, "BAD_REQUEST")
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    media_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_document(status, message, code),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )


def decode_body(data: str | bytes) -> Any:
    """The request's JSON: an object (one operation) or a list (a batch, refused later)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadBody(f"The body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        value = json.loads(data)
    except RecursionError:
        raise BadBody("The body's JSON is nested too deeply.") from None
    except json.JSONDecodeError as exc:
        raise BadBody(f"The body is not JSON: {exc.msg} at character {exc.pos}.") from None
    except ValueError:  # e.g. an integer beyond Python's 4,300-digit conversion limit
        raise BadBody("The body holds a number too large to read.") from None
    if not isinstance(value, dict | list):
        raise BadBody(
            'The body must be a JSON object: {"query": ..., "variables": ..., '
            '"operationName": ...}.'
        )
    return value


class BodyLimit:
    """413 for HTTP bodies over `limit` bytes, before any parsing."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, declared in scope["headers"]:
            if name == b"content-length":
                if declared.isdigit() and int(declared) > self.limit:
                    await self._too_large(scope, receive, send)
                    return
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body is larger than the limit of {self.limit} bytes."
        await error_response(413, message)(scope, receive, send)
