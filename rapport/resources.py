"""Shared resources, created once in the app's lifespan (never at import time)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import configure_mappers

from matching.batching import BatchingEncoder
from matching.cache import LocalRankingCache, RankingCache, RedisRankingCache
from matching.embeddings import AsyncEncoder
from matching.encoder import load_encoder
from rapport.db import (
    OperationSession,
    check_usable,
    create_engine,
    create_raw_pool,
    create_sessionmaker,
)
from rapport.mail import Outbox
from rapport.presence import LocalPresence, Presence, RedisPresence
from rapport.pubsub import Hub, create_hub
from rapport.rate_limits import RateLimits
from rapport.revocations import LiveSockets, Revocations
from rapport.settings import Settings
from rapport.tracing import Tracing, create_tracing
from rapport.viewer_evictions import shared_evictions
from resolvers import accounts
from resolvers.chat import ConversationPairs
from resolvers.credentials import Credentials
from resolvers.effects import Effects
from resolvers.matching import Matcher
from resolvers.viewer_cache import ViewerCache

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from rapport.persisted import DocumentStore, PersistedDocuments


@dataclass(frozen=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[OperationSession]
    # A small asyncpg pool for the per-request hot path (authentication), which skips the
    # ORM and SQLAlchemy's greenlet-adapted pool: see resolvers/accounts.py.
    raw_pool: asyncpg.Pool
    credentials: Credentials
    viewer_cache: ViewerCache
    # Revoked tokens: the cache forgets them and the websockets they opened close, in every
    # process (rapport/revocations.py).
    revocations: Revocations
    matcher: Matcher
    # Pub/sub: Redis with REDIS_URL (every instance hears every event), else in-process.
    hub: Hub
    presence: Presence
    # Conversations' two people, kept per process (a send asks presence before it writes).
    conversation_pairs: ConversationPairs
    rate_limits: RateLimits
    outbox: Outbox
    # Runs what a committed transaction registered (events, notifications, cache evictions,
    # the outbox wake-up): resolvers/effects.py. Sessions of `sessionmaker` use it.
    effects: Effects
    # Persisted queries and trusted documents (rapport/persisted.py).
    persisted: PersistedDocuments
    # OpenTelemetry (RAPPORT_OTEL): a span per GraphQL operation; None when off.
    tracing: Tracing | None = None
    # Work that must finish even if the request or subscription that started it is cancelled
    # (e.g. recording when someone was last seen as their socket closes). Awaited at shutdown.
    deferred: set[asyncio.Task[None]] = field(default_factory=set)

    def defer(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.deferred.add(task)
        task.add_done_callback(self.deferred.discard)

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(days=self.settings.token_ttl_days)


def redis_client(url: str, *, max_connections: int = 100, timeout: float = 5.0) -> Redis:
    """The app's Redis client. A burst beyond `max_connections` waits up to `timeout` seconds
    for a free connection instead of failing at once (redis-py's default pool raises "Too
    many connections"): a failing Redis call must not be how a rate limit gets skipped."""
    pool = BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=max_connections, timeout=timeout
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections


@asynccontextmanager
async def open_resources(
    settings: Settings,
    encoder: AsyncEncoder | None = None,
    span_exporter: SpanExporter | None = None,
) -> AsyncIterator[Resources]:
    """Engine, pools, Redis, encoder, tracing. `encoder` lets tests share one across many
    apps; `span_exporter` replaces the one the OTEL_* variables choose (tests)."""
    # rapport.persisted needs the schema, whose context needs this module: imported here.
    from rapport.documents import RegisteredDocuments
    from rapport.persisted import LocalDocumentStore, PersistedDocuments, RedisDocumentStore

    # The ORM's mappers, set up now: the first request may build rows on the raw pool
    # (authentication's fast path) before any ORM query would have set them up.
    configure_mappers()
    engine = create_engine(settings)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        await check_usable(engine)
        raw_pool = await create_raw_pool(settings)
        stack.push_async_callback(raw_pool.close)
        if encoder is None:
            batching = BatchingEncoder(
                await asyncio.to_thread(load_encoder, settings.models_dir, variant=settings.encoder)
            )
            stack.push_async_callback(batching.aclose)
            encoder = batching
        presence: Presence
        documents: DocumentStore
        redis: Redis | None = None
        if settings.redis_url:
            redis = redis_client(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            cache: RankingCache = RedisRankingCache(redis)
            presence = RedisPresence(redis)
            documents = RedisDocumentStore(redis, settings.persisted_query_ttl_s)
        else:
            cache = LocalRankingCache()
            presence = LocalPresence()
            documents = LocalDocumentStore(settings.persisted_query_cache_size)
        stack.push_async_callback(presence.aclose)
        hub = await stack.enter_async_context(
            create_hub(settings.redis_url, queue_size=settings.subscription_queue_size)
        )
        viewer_cache = ViewerCache(ttl_s=settings.viewer_cache_ttl_s)
        revocations = Revocations(
            viewer_cache, LiveSockets(), lambda ids: accounts.valid_tokens(raw_pool, ids)
        )
        if settings.redis_url:
            # Several processes: each one's evictions and revocations reach the others.
            await stack.enter_async_context(shared_evictions(revocations, hub))
        tracing = create_tracing(settings, span_exporter)
        if tracing is not None:
            stack.callback(tracing.shutdown)
        matcher = Matcher(encoder=encoder, cache=cache)
        effects = Effects(hub, cache, viewer_cache, revocations)
        sessionmaker = create_sessionmaker(engine, effects.run)
        outbox = effects.outbox = Outbox(settings, sessionmaker)
        outbox.start()
        stack.push_async_callback(outbox.aclose)
        credentials = Credentials(settings)
        stack.callback(credentials.hashing.close)
        resources = Resources(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            raw_pool=raw_pool,
            credentials=credentials,
            viewer_cache=viewer_cache,
            revocations=revocations,
            matcher=matcher,
            hub=hub,
            presence=presence,
            conversation_pairs=ConversationPairs(raw_pool),
            rate_limits=RateLimits(settings.rate_limits, redis),
            outbox=outbox,
            effects=effects,
            persisted=PersistedDocuments(settings, documents, RegisteredDocuments(raw_pool)),
            tracing=tracing,
        )
        stack.push_async_callback(_finish_deferred, resources)
        yield resources


async def _finish_deferred(resources: Resources, timeout_s: float = 5.0) -> None:
    if resources.deferred:
        await asyncio.wait(set(resources.deferred), timeout=timeout_s)
