"""The Starlette application: routes, lifespan (shared resources), GraphQL over HTTP and
graphql-transport-ws at /graphql, offline GraphiQL, health and readiness.

Run it with `rapport serve` (which also starts the embedded PostgreSQL and migrates), or
`uvicorn app:create_app --factory` with DATABASE_URL set.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from matching.embeddings import AsyncEncoder
from rapport import dev_outbox, metrics, migrations
from rapport.bodies import BodyLimit
from rapport.cors import Cors, quiet_strawberry_origin_warning
from rapport.graphiql import AssetsMissing, OfflineGraphiQL
from rapport.graphql_endpoint import GraphQLOverHTTP, GraphQLWebsockets
from rapport.listening import log_ready_once_listening
from rapport.logging import RequestLog, configure_logging
from rapport.resources import Resources, open_resources
from rapport.settings import Environment, Settings
from resolvers import accounts
from schema.limits import introspection_allowed

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("rapport.app")
# Allocations between young collections (CPython's default: 700). bench/chat.py, 500 subscribers,
# after gc.freeze: at 150 msg/s, 700 gave p99 618 ms and 10,000 gave 25 ms; at 200 msg/s,
# 10,000 gave 50 ms and 50,000 gave 206 ms.
GC_YOUNG_THRESHOLD = 10_000


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
    graphql_http = GraphQLOverHTTP(graphiql)
    graphql_websockets = GraphQLWebsockets(
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
        Route("/graphql", graphql_http),  # every method: others are answered 405, as JSON
        WebSocketRoute("/graphql", graphql_websockets),
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
