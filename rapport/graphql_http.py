"""GraphQL over HTTP as its spec says (https://graphql.github.io/graphql-over-http/draft/):
which media type a response is in, and which status a GraphQL response gets in it.

- `negotiate`: the response media type from the request's Accept header.
  `application/graphql-response+json` when the client names it (at least as high as
  `application/json`); `application/json` when it names only that, accepts anything (`*/*`,
  `application/*`) or sends no Accept at all (older clients); None when it accepts neither
  (the view answers 406).
- `request_error_status`: in `application/graphql-response+json`, a request error (the
  document did not parse or validate, the variables did not coerce, a limit refused it; no
  error has a `path` and there is no data) is a 4xx without `data`: 400, or the status its code
  names in STATUS_BY_CODE. In `application/json` every GraphQL response stays 200, as older
  clients expect.
- `transport_error`: Strawberry's transport errors as GraphQL responses with a code.
"""

from __future__ import annotations

from collections.abc import Mapping

from cross_web import HTTPException
from starlette.responses import Response
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from rapport.bodies import error_response

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


def transport_error(exc: HTTPException, media_type: str) -> Response:
    """One of Strawberry's HTTPExceptions (a body that is no GraphQL request, a wrong method,
    a batch, an operation it cannot pick or may not run) as a GraphQL response with a code,
    named as Apollo Server names them: a mutation over GET is 405 with `Allow: POST`, an
    unknown or unnamed operation among several OPERATION_RESOLUTION_FAILURE."""
    cause = exc.__cause__
    status, code, headers = exc.status_code, None, None
    if isinstance(cause, CannotGetOperationTypeError):
        code = "OPERATION_RESOLUTION_FAILURE"
    elif isinstance(cause, InvalidOperationTypeError) and (
        cause.operation_type is OperationType.MUTATION
    ):
        status, headers = 405, {"Allow": "POST"}
    elif status == 405:
        headers = {"Allow": "GET, POST"}
    return error_response(status, exc.reason, code=code, media_type=media_type, headers=headers)
