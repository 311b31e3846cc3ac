"""Shared resources, created once in the app's lifespan (never at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rapport.db import check_usable, create_engine, create_raw_pool, create_sessionmaker
from rapport.settings import Settings
from resolvers.credentials import Credentials
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

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(days=self.settings.token_ttl_days)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    engine = create_engine(settings)
    try:
        await check_usable(engine)
        raw_pool = await create_raw_pool(settings)
        try:
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
            )
        finally:
            await raw_pool.close()
    finally:
        await engine.dispose()
