"""GraphQL over HTTP as its spec says (https://graphql.github.io/graphql-over-http/draft/):
how a request is read, which media type a response is in, and which status a GraphQL response
gets in it. The rules only; rapport/graphql_endpoint.py applies them to each request.

- `negotiate`: the response media type from the request's Accept header.
  `application/graphql-response+json` when the client names it (at least as high as
  `application/json`); `application/json` when it names only that, accepts anything (`*/*`,
  `application/*`) or sends no Accept at all (older clients); None when it accepts neither
  (answered 406).
- `wants_graphiql`: a GET without `query` or `extensions` from something that accepts HTML
  (a browser) is asking for the GraphiQL page.
- `request_fields` and `request_data`: the operation a GET's query parameters or a POST's JSON
  body carry, or a `TransportError` (400: not JSON, not an object, a batch, fields of the wrong
  type, an unsupported content type; 405: another method).
- `operation_refused`: what schema/execution.py refuses before running (no query, an
  operation it cannot pick, a mutation over GET, a subscription over HTTP) as a
  `TransportError` with Apollo Server's code: a mutation over GET is 405 with `Allow: POST`,
  an unknown or unnamed operation among several OPERATION_RESOLUTION_FAILURE.
- `graphql_response`: a GraphQL response ready to send, with its status. In
  `application/graphql-response+json` a request error (the document did not parse or
  validate, the variables did not coerce, a limit refused it; no error has a `path` and there
  is no data) is a 4xx without `data` (`request_error_status`: 400, or the status its code
  names in STATUS_BY_CODE). In `application/json` every GraphQL response stays 200, as older
  clients expect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from rapport.bodies import BadBody, decode_body, error_response

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

# Request errors whose status is not 400 (a code missing here: 400). A masked failure before
# execution (an extension that crashed) is the server's fault. An unknown persisted-query hash
# is 200, as Apollo Server answers it: the client's next step, not a failure (rapport/persisted.py).
STATUS_BY_CODE: dict[str, int] = {
    "INTERNAL_SERVER_ERROR": 500,
    "PERSISTED_QUERY_NOT_FOUND": 200,
    "PERSISTED_QUERY_NOT_SUPPORTED": 200,
}

_EXACT, _SUBTYPE_WILDCARD, _ANY = 3, 2, 1
# json.dumps with any argument of its own builds an encoder per call; this one is built once.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _ranges(accept: str) -> list[tuple[str, float]]:
    """(media range, quality) of each entry of an Accept header; malformed qualities are 0."""
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """(quality, how specifically it was named) of `media_type`: the most specific range
    matching it decides, as RFC 9110 says."""
    kind = media_type.split("/")[0]
    best: tuple[int, float] = (0, 0.0)
    for media, quality in ranges:
        if media == media_type:
            specificity = _EXACT
        elif media == f"{kind}/*":
            specificity = _SUBTYPE_WILDCARD
        elif media == "*/*":
            specificity = _ANY
        else:
            continue
        if specificity > best[0]:
            best = (specificity, quality)
    return best[1], best[0]


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, or None when the client accepts neither JSON type."""
    if not accept or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    graphql, graphql_named = _quality(GRAPHQL_RESPONSE_JSON, ranges)
    json, _ = _quality(JSON, ranges)
    if graphql <= 0 and json <= 0:
        return None
    if graphql > json:
        return GRAPHQL_RESPONSE_JSON
    if json > graphql:
        return JSON
    # Equally wanted: the new type when named for itself, JSON when only a wildcard matched.
    return GRAPHQL_RESPONSE_JSON if graphql_named == _EXACT else JSON


def request_error_status(response: Mapping[str, object]) -> int | None:
    """The 4xx/5xx a GraphQL response gets in application/graphql-response+json when it is a
    request error (no data, and no error raised while executing); None when it executed."""
    errors = response.get("errors")
    if response.get("data") is not None or not isinstance(errors, list) or not errors:
        return None
    if any(isinstance(error, Mapping) and error.get("path") for error in errors):
        return None  # execution errors that nulled the whole data: 200, with "data": null
    statuses = [
        STATUS_BY_CODE.get(str((error.get("extensions") or {}).get("code")), 400)
        for error in errors
        if isinstance(error, Mapping)
    ]
    return max(statuses, default=400)


class TransportError(Exception):
    """A request that is no GraphQL request this server runs, answered as a GraphQL response
    without data, with a code (by default the status's: rapport/bodies.py CODES)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers

    def response(self, media_type: str) -> Response:
        return error_response(
            self.status, self.message, code=self.code, media_type=media_type, headers=self.headers
        )


def wrong_method() -> TransportError:
    return TransportError(
        405, "GraphQL only supports GET and POST requests.", headers={"Allow": "GET, POST"}
    )


def wants_graphiql(method: str, params: Mapping[str, str], accept: str) -> bool:
    """A browser opening /graphql: GET, no operation (neither `query` nor a persisted query's
    `extensions`), HTML or anything accepted."""
    return (
        method == "GET"
        and params.get("query") is None
        and "extensions" not in params
        and ("text/html" in accept or "*/*" in accept)
    )


def is_json(content_type: str | None) -> bool:
    """A POST body we read: a media type (parameters aside) containing application/json."""
    return "application/json" in (content_type or "").split(";", 1)[0]


def _json(text: str | bytes) -> Any:
    try:
        return decode_body(text)
    except BadBody as exc:
        raise TransportError(400, str(exc)) from None


def request_fields(method: str, params: Mapping[str, str], body: bytes | None) -> Any:
    """The request's fields: a GET's query parameters (`variables` and `extensions` decoded
    from JSON), or a POST's JSON body (`body`: None when its content type is not JSON)."""
    if method == "GET":
        fields: dict[str, Any] = dict(params)
        for name in ("variables", "extensions"):
            if fields.get(name):
                fields[name] = _json(fields[name])
        return fields
    if method != "POST":
        raise wrong_method()
    if body is None:
        raise TransportError(400, "Unsupported content type")
    return _json(body)


def request_data(fields: Any) -> GraphQLRequestData:
    """One operation's query, variables, operation name and extensions, each of its type."""
    if isinstance(fields, list):
        raise TransportError(400, "Batching is not enabled")  # schema/limits.py BATCHING
    query = fields.get("query")
    if not isinstance(query, str | None):
        raise TransportError(
            400, "The GraphQL operation's `query` must be a string or null, if provided."
        )
    variables = fields.get("variables")
    if not isinstance(variables, dict | None):
        raise TransportError(
            400, "The GraphQL operation's `variables` must be an object or null, if provided."
        )
    extensions = fields.get("extensions")
    if not isinstance(extensions, dict | None):
        raise TransportError(
            400, "The GraphQL operation's `extensions` must be an object or null, if provided."
        )
    return GraphQLRequestData(query, variables, fields.get("operationName"), extensions)


def operation_refused(exc: Exception, method: str) -> TransportError:
    """schema/execution.py's refusal of an operation it will not run, for the client."""
    if isinstance(exc, CannotGetOperationTypeError):
        return TransportError(400, exc.as_http_error_reason(), "OPERATION_RESOLUTION_FAILURE")
    if isinstance(exc, InvalidOperationTypeError):
        reason = exc.as_http_error_reason(method)
        if exc.operation_type is OperationType.MUTATION:
            return TransportError(405, reason, headers={"Allow": "POST"})
        return TransportError(400, reason)
    assert isinstance(exc, MissingQueryError)
    return TransportError(400, "No GraphQL query found in the request")


class GraphQLAnswer:
    """A GraphQL response as the two ASGI messages that send it (a Starlette Response would
    build, copy and check its headers on the way: measurable at thousands a second)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, media_type: str) -> None:
        self.status, self.body = status, body
        self.headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", media_type.encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def graphql_response(response: Mapping[str, object], media_type: str) -> GraphQLAnswer:
    """A GraphQL response (`data`, `errors`, `extensions`) in `media_type`, with its status.
    JSON as Strawberry wrote it: compact, ASCII."""
    status = 200
    if media_type == GRAPHQL_RESPONSE_JSON:
        error_status = request_error_status(response)
        if error_status is not None:
            status = error_status
            response = {k: v for k, v in response.items() if k != "data"}
    return GraphQLAnswer(status, _ENCODER.encode(response).encode(), media_type)
