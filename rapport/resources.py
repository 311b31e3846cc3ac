"""Shared resources, created once in the app's lifespan (never at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rapport.db import check_usable, create_engine, create_sessionmaker
from rapport.settings import Settings
from resolvers.credentials import Credentials


@dataclass(frozen=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    credentials: Credentials

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(days=self.settings.token_ttl_days)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    engine = create_engine(settings)
    try:
        await check_usable(engine)
        yield Resources(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            credentials=Credentials(settings),
        )
    finally:
        await engine.dispose()
