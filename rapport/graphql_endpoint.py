"""/graphql: GraphQL over HTTP (GET and POST) answered by Rapport's own handler
(`GraphQLOverHTTP`), graphql-transport-ws by Strawberry's view (`GraphQLWebsockets`).

Strawberry's view served HTTP too until issue 14: per request it built a request adapter and
a sub-response, read the content type through `email.message`, and went through a dozen
overridable hooks around the operation. A bare Strawberry app cost 232 µs of CPU per
`{ __typename }` on the benchmark machine, a bare Starlette endpoint 58 µs. Here a request
takes these steps, each answer in the media type the client accepts
(rapport/graphql_http.py holds the rules):

1. GraphiQL's page for a browser opening /graphql (a 404 when GraphiQL is off); else the
   media type (406 when the client accepts no JSON at all);
2. the operation from the query parameters (GET) or the JSON body (POST), or a 400 or 405;
3. persisted queries and trusted documents (rapport/persisted.py): the text named by its
   hash, or a refusal as Apollo Server answers it;
4. the operation (schema/execution.py, through the schema's `execute`) on a Context with the
   request's bearer token; what it refuses to run (a mutation over GET, a subscription, an
   operation it cannot pick) answered as a transport error;
5. the GraphQL response, its status by media type, and Cache-Control on a GET
   (persisted.cache_control).

Other failures (the database, Redis) propagate: Starlette answers 500 and logs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLRequestData, process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType

from rapport.bodies import decode_body, error_response
from rapport.cors import websocket_origin_allowed
from rapport.graphiql import OfflineGraphiQL
from rapport.graphql_http import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    GraphQLAnswer,
    TransportError,
    graphql_response,
    is_json,
    negotiate,
    operation_refused,
    request_data,
    request_fields,
    wants_graphiql,
)
from rapport.origins import Origins
from rapport.persisted import PersistedQueryRefused, cache_control
from rapport.transport import LimitedTransportWSHandler, UninitialisedWebsockets
from schema import schema
from schema.context import Context, bearer_token, connection_token

# What each method may run (a subscription is refused by the schema's `execute` either way:
# served over graphql-transport-ws only).
ALLOWED_BY_METHOD = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}
NOT_ACCEPTABLE = f"The Accept header allows neither {GRAPHQL_RESPONSE_JSON} nor {JSON}."


class GraphQLOverHTTP:
    """Pure ASGI app for HTTP requests to /graphql (see the module's doc)."""

    def __init__(self, graphiql: OfflineGraphiQL | None) -> None:
        self._graphiql = graphiql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self.respond(Request(scope, receive))
        await answer(scope, receive, send)

    async def respond(self, request: Request) -> Response | GraphQLAnswer:
        method = request.scope["method"]
        accept, content_type, authorization = _headers(request.scope)
        # Query parameters are GET's alone: a POST's are not read (nor parsed).
        params: Mapping[str, str] = request.query_params if method == "GET" else {}
        if wants_graphiql(method, params, accept or ""):
            if self._graphiql is None:
                return TransportError(404, "Not Found").response(JSON)
            return HTMLResponse(self._graphiql.html)
        media_type = negotiate(accept)
        if media_type is None:
            return error_response(406, NOT_ACCEPTABLE)
        try:
            json_body = method == "POST" and is_json(content_type)
            body = await request.body() if json_body else None
            data = request_data(request_fields(method, params, body))
            return await self._run(request, method, data, media_type, authorization)
        except TransportError as error:
            return error.response(media_type)
        except PersistedQueryRefused as refused:
            return refused.response()

    async def _run(
        self,
        request: Request,
        method: str,
        data: GraphQLRequestData,
        media_type: str,
        authorization: str | None,
    ) -> GraphQLAnswer:
        state = request.scope.get("state") or {}
        context = Context(
            resources=request.scope["app"].state.resources,
            request=request,
            token=bearer_token(authorization),
            request_id=state.get("request_id") or uuid.uuid4().hex,
        )
        await context.resources.persisted.resolve(data)
        try:
            result = await schema.execute(
                data.query,
                data.variables,
                context,
                None,
                data.operation_name,
                ALLOWED_BY_METHOD[method],
                data.extensions,
            )
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError) as exc:
            raise operation_refused(exc, method) from exc
        answer = graphql_response(process_result(result), media_type)
        if method == "GET":
            max_age = context.resources.settings.get_max_age_s
            answer.headers += [
                (b"cache-control", cache_control(request, result, max_age).encode()),
                (b"vary", b"Authorization"),
            ]
        return answer


_READ = (b"accept", b"content-type", b"authorization")


def _headers(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """Accept, Content-Type and Authorization (the first of each, as Starlette's Headers
    reads them), in one pass over the request's headers."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _READ:
            found.setdefault(name, value.decode("latin-1"))
    return found.get(b"accept"), found.get(b"content-type"), found.get(b"authorization")


class GraphQLWebsockets(GraphQL[Context, None]):
    """Strawberry's view, for websockets only (routed a WebSocketRoute, never HTTP):
    graphql-transport-ws with Rapport's limits (rapport/transport.py), authenticated at
    connection_init, origins as RAPPORT_CORS_ORIGINS says."""

    graphql_transport_ws_handler_class = LimitedTransportWSHandler

    def __init__(self, origins: Origins, max_uninitialised_websockets: int, **kwargs: Any) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            # Only graphql-transport-ws: the legacy graphql-ws protocol had an auth bypass.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            **kwargs,
        )
        # Per client address (rapport/transport.py, README: "Slow and idle clients").
        self.uninitialised_websockets = UninitialisedWebsockets(max_uninitialised_websockets)
        self._origins = origins

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        """A page on another origin opening a socket: allowed as RAPPORT_CORS_ORIGINS says
        (same-origin pages and clients without Origin are let through before this)."""
        return websocket_origin_allowed(self._origins, origin, request.headers.get("host"))

    async def get_context(self, request: Request | WebSocket, response: Response | None) -> Context:  # type: ignore[override]
        return Context(
            resources=request.app.state.resources,
            request=request,
            response=response,
            request_id=request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex,
        )

    async def on_ws_connect(self, context: Context) -> None:
        """Websockets authenticate once, with the token in connection_init; a missing or
        invalid token closes the socket with 4403 (as a token revoked later does:
        rapport/transport.py)."""
        context.token = connection_token(context.connection_params)
        try:
            viewer = await context.viewer()
        finally:
            await context.close()  # hold no database connection while the socket idles
        if viewer is None:
            raise ConnectionRejectionError({"message": "A valid token is required."})
        context.connected_as = viewer

    def decode_json(self, data: str | bytes) -> object:
        return decode_body(data)
