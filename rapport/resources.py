"""Shared resources, created once in the app's lifespan (never at import time)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from matching.batching import BatchingEncoder
from matching.cache import LocalRankingCache, RankingCache, RedisRankingCache
from matching.embeddings import AsyncEncoder
from matching.encoder import load_encoder
from rapport.db import check_usable, create_engine, create_raw_pool, create_sessionmaker
from rapport.settings import Settings
from resolvers.credentials import Credentials
from resolvers.matching import Matcher
from resolvers.viewer_cache import ViewerCache


@dataclass(frozen=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # A small asyncpg pool for the per-request hot path (authentication), which skips the
    # ORM and SQLAlchemy's greenlet-adapted pool: see resolvers/accounts.py.
    raw_pool: asyncpg.Pool
    credentials: Credentials
    viewer_cache: ViewerCache
    matcher: Matcher

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(days=self.settings.token_ttl_days)


@asynccontextmanager
async def open_resources(
    settings: Settings, encoder: AsyncEncoder | None = None
) -> AsyncIterator[Resources]:
    """Engine, pools, Redis, encoder. `encoder` lets tests share one across many apps."""
    engine = create_engine(settings)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        await check_usable(engine)
        raw_pool = await create_raw_pool(settings)
        stack.push_async_callback(raw_pool.close)
        if encoder is None:
            batching = BatchingEncoder(await asyncio.to_thread(load_encoder, settings.models_dir))
            stack.push_async_callback(batching.aclose)
            encoder = batching
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url, decode_responses=True)
            stack.push_async_callback(redis.aclose)
            cache: RankingCache = RedisRankingCache(redis)
        else:
            cache = LocalRankingCache()
        yield Resources(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            raw_pool=raw_pool,
            credentials=Credentials(settings),
            # One process only: without cross-process invalidation, off with REDIS_URL.
            viewer_cache=ViewerCache(
                ttl_s=0 if settings.redis_url else settings.viewer_cache_ttl_s
            ),
            matcher=Matcher(encoder=encoder, cache=cache),
        )
