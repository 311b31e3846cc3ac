"""The Starlette application: routes, lifespan (shared resources), GraphQL over HTTP and
graphql-transport-ws at /graphql, offline GraphiQL, health and readiness.

Run it with `rapport serve` (which also starts the embedded PostgreSQL and migrates), or
`uvicorn app:create_app --factory` with DATABASE_URL set.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cross_web import HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from matching.embeddings import AsyncEncoder
from rapport import dev_outbox, metrics, migrations
from rapport.bodies import BadBody, BodyLimit, decode_body, error_response
from rapport.cors import Cors, quiet_strawberry_origin_warning, websocket_origin_allowed
from rapport.graphiql import AssetsMissing, OfflineGraphiQL
from rapport.graphql_http import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    negotiate,
    request_error_status,
    transport_error,
)
from rapport.listening import log_ready_once_listening
from rapport.logging import RequestLog, configure_logging
from rapport.origins import Origins
from rapport.persisted import PersistedQueriesGraphQL
from rapport.resources import Resources, open_resources
from rapport.settings import Environment, Settings
from rapport.transport import LimitedTransportWSHandler, UninitialisedWebsockets
from resolvers import accounts
from schema import schema
from schema.context import Context, bearer_token, connection_token
from schema.limits import introspection_allowed

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("rapport.app")
# Allocations between young collections (CPython's default: 700). bench/chat.py, 500 subscribers,
# after gc.freeze: at 150 msg/s, 700 gave p99 618 ms and 10,000 gave 25 ms; at 200 msg/s,
# 10,000 gave 50 ms and 50,000 gave 206 ms.
GC_YOUNG_THRESHOLD = 10_000


class RapportGraphQL(PersistedQueriesGraphQL):
    """Strawberry's ASGI view with our typed context, rate-limited websockets, the offline
    GraphiQL page and persisted queries (rapport/persisted.py)."""

    graphql_transport_ws_handler_class = LimitedTransportWSHandler

    def __init__(
        self,
        graphiql: OfflineGraphiQL | None,
        origins: Origins,
        max_uninitialised_websockets: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            # Only graphql-transport-ws: the legacy graphql-ws protocol had an auth bypass.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            **kwargs,
        )
        self._graphiql = graphiql
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
            token=bearer_token(request) if isinstance(request, Request) else None,
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

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return decode_body(data)
        except BadBody as exc:
            raise HTTPException(400, str(exc)) from None

    async def run(self, request: Request | WebSocket, *args: Any, **kwargs: Any) -> Any:
        """GraphQL over HTTP in the media type the client accepts (rapport/graphql_http.py;
        406 when it accepts no JSON at all), and transport errors (bad body, wrong method,
        batching) as GraphQL responses with a code in that type, not text."""
        if isinstance(request, WebSocket):
            return await super().run(request, *args, **kwargs)
        media_type = self._media_type(request)
        if media_type is None:
            return error_response(
                406,
                f"The Accept header allows neither {GRAPHQL_RESPONSE_JSON} nor {JSON}.",
            )
        request.state.graphql_media_type = media_type
        try:
            return await super().run(request, *args, **kwargs)
        except HTTPException as exc:
            return transport_error(exc, media_type)

    def _media_type(self, request: Request) -> str | None:
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            return JSON  # the page itself, or a 404 when GraphiQL is off
        return negotiate(request.headers.get("accept"))

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = request.state.graphql_media_type
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """In application/graphql-response+json, a request error (nothing executed) is a 4xx
        without `data`; in application/json it stays a 200 with `"data": null`."""
        media_type = sub_response.media_type or JSON
        status = None
        if media_type == GRAPHQL_RESPONSE_JSON and isinstance(response_data, dict):
            status = request_error_status(response_data)
            if status is not None:
                response_data = {k: v for k, v in response_data.items() if k != "data"}  # type: ignore[assignment]
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = media_type
        if status is not None and not sub_response.status_code:
            response.status_code = status
        return response

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        assert self._graphiql is not None
        return HTMLResponse(self._graphiql.html)


def _load_graphiql(settings: Settings) -> OfflineGraphiQL | None:
    if not settings.graphiql:
        return None
    if not introspection_allowed(settings):
        log.warning(
            "GraphiQL is off: it needs introspection, which is off (RAPPORT_INTROSPECTION=true "
            "turns it on; RAPPORT_GRAPHIQL=false silences this)"
        )
        return None
    try:
        return OfflineGraphiQL.load()
    except AssetsMissing as exc:
        log.warning("%s; GraphiQL is off", exc)
        return None


def settle_garbage_collector() -> None:
    """Once everything long-lived exists (schema, models, pools, encoder): move it out of the
    collector's sight (gc.freeze) and collect the young generation less often. A busy server
    otherwise rescans those ~200,000 objects in every full collection: bench/chat.py measured
    full collections of 0.3 s every few seconds, a tenth of the CPU and the worst latencies."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


async def purge_tokens_hourly(resources: Resources) -> None:
    """Expired tokens are useless (authentication ignores them) but would pile up: drop them
    at start-up and every hour after."""
    while True:
        try:
            async with resources.sessionmaker() as session:
                purged = await accounts.purge_expired(session)
            if purged:
                log.info("purged %d expired tokens", purged)
        except Exception:
            log.exception("purging expired tokens failed; will try again")
        await asyncio.sleep(3600)


# How often each process checks its websockets' tokens (rapport/revocations.py recheck).
SOCKET_RECHECK_INTERVAL_S = 60.0


async def recheck_sockets_every_minute(resources: Resources) -> None:
    """Tokens that stopped being valid without an announcement reaching this process (one
    Redis lost, rows deleted by hand, a token that expired): their websockets close within a
    minute, for one query per minute."""
    while True:
        await asyncio.sleep(SOCKET_RECHECK_INTERVAL_S)
        try:
            await resources.revocations.recheck()
        except Exception:
            log.exception("re-checking websockets' tokens failed; will try again")


def pool_readers(resources: Resources) -> list[tuple[str, Callable[[], tuple[int, int]]]]:
    """(pool name, () -> (connections in use, open)) for the database pool gauges."""
    orm, auth = resources.engine.sync_engine.pool, resources.raw_pool

    def read_orm() -> tuple[int, int]:
        in_use = orm.checkedout()  # type: ignore[attr-defined]
        return in_use, in_use + orm.checkedin()  # type: ignore[attr-defined]

    def read_auth() -> tuple[int, int]:
        opened = auth.get_size()
        return opened - auth.get_idle_size(), opened

    return [("orm", read_orm), ("auth", read_auth)]


async def sample_pools_every_second(resources: Resources) -> None:
    """The database pool gauges (rapport/metrics.py): sampled here rather than counted at
    each checkout, which keeps them off the per-request path; with several workers, each
    writes its own (a scrape reads them all)."""
    readers = pool_readers(resources)
    while True:
        metrics.sample_pools(readers)
        await asyncio.sleep(metrics.POOL_SAMPLE_INTERVAL_S)


def create_app(
    settings: Settings | None = None,
    encoder: AsyncEncoder | None = None,
    span_exporter: SpanExporter | None = None,
) -> Starlette:
    """`encoder`: tests share one across apps; by default the lifespan loads it.
    `span_exporter`: where spans go when RAPPORT_OTEL is on (tests); by default OTEL_*."""
    settings = settings or Settings()
    configure_logging(settings)
    quiet_strawberry_origin_warning()
    graphiql = _load_graphiql(settings)
    graphql = RapportGraphQL(
        graphiql,
        settings.cors,
        max_uninitialised_websockets=settings.max_uninitialised_websockets_per_address,
        # Operations in flight per socket; one more is answered with an error message.
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout_s),
    )
    heads = migrations.head_revisions()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_resources(settings, encoder, span_exporter) as resources:
            app.state.resources = resources
            background = [
                asyncio.create_task(purge_tokens_hourly(resources)),
                asyncio.create_task(recheck_sockets_every_minute(resources)),
            ]
            if settings.metrics:
                background.append(asyncio.create_task(sample_pools_every_second(resources)))
            settle_garbage_collector()
            ready = asyncio.create_task(log_ready_once_listening())
            try:
                yield
            finally:
                for task in (ready, *background):
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
        metrics.forget_process()  # this worker's gauges (several workers: see rapport/metrics.py)
        log.info("Rapport stopped")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        resources: Resources = request.app.state.resources
        try:
            async with resources.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            current = await migrations.current_revisions(resources.engine)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "database": str(exc).splitlines()[0]}, 503
            )
        if current != heads:
            return JSONResponse(
                {"status": "migrations pending", "current": sorted(current), "head": sorted(heads)},
                503,
            )
        return JSONResponse({"status": "ready", "revision": sorted(current)})

    routes = [
        Route("/graphql", graphql),  # other methods: the view's 405, as JSON
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        *(graphiql.routes() if graphiql else []),
    ]
    if settings.metrics:
        routes.append(Route("/metrics", metrics.metrics_endpoint, methods=["GET"]))
    if settings.env is Environment.DEVELOPMENT:  # sign-up codes for examples/web; never else
        routes.extend(dev_outbox.routes())
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    # Outside the body limit, so that a 413 reaches a cross-origin page readable.
    app.add_middleware(Cors, origins=settings.cors)
    app.add_middleware(RequestLog, enabled=settings.log_requests)
    return app
