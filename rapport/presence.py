"""Who is online, and who is watching which conversation, across app instances.

A person is online while they hold at least one live subscription, and watching a
conversation while they hold its `messageAdded` subscription. Each holder is an entry with an
expiry: in Redis (with REDIS_URL) a sorted set per key whose members are holders and whose
scores are expiry times, refreshed by the instance that holds them every TTL_S / 3; so when an
instance dies, its entries lapse within TTL_S and nobody stays online forever. Without Redis,
counters in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("rapport.presence")

TTL_S = 60.0
REFRESH_CHUNK = 50  # holders renewed per Redis pipeline (RedisPresence._touch)


def online_key(user_id: uuid.UUID) -> str:
    return f"online:{user_id}"


def watching_key(user_id: uuid.UUID, conversation_id: int) -> str:
    return f"watching:{conversation_id}:{user_id}"


class Presence(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]: ...
    async def held(self, key: str) -> bool: ...
    async def aclose(self) -> None: ...


class LocalPresence:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        self._counts[key] += 1
        try:
            yield
        finally:
            self._counts[key] -= 1
            if self._counts[key] <= 0:
                del self._counts[key]

    async def held(self, key: str) -> bool:
        return self._counts[key] > 0

    async def aclose(self) -> None:
        self._counts.clear()


class RedisPresence:
    def __init__(self, redis: Redis, prefix: str = "rapport:presence", ttl_s: float = TTL_S):
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_s
        self._held: dict[str, str] = {}  # holder -> key, for this instance's refreshes
        self._refresher: asyncio.Task[None] | None = None

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def _touch(self, holders: dict[str, str]) -> None:
        """Renew these holders' entries, REFRESH_CHUNK holders per pipeline: building and
        reading one pipeline for every holder of a busy process kept the event loop for
        35-50 ms per 1,000 holders (measured against a local Redis), a stall every refresh
        that bench/chat.py saw as spikes in every request's latency; between chunks, the
        loop serves everything else."""
        now = time.time()
        items = list(holders.items())
        for start in range(0, len(items), REFRESH_CHUNK):
            async with self._redis.pipeline(transaction=False) as pipe:
                for holder, key in items[start : start + REFRESH_CHUNK]:
                    # Entries of crashed instances lapse by score; drop them so that a key kept
                    # alive by other holders does not collect them for ever.
                    pipe.zremrangebyscore(self._key(key), "-inf", now)
                    pipe.zadd(self._key(key), {holder: now + self._ttl})
                    pipe.expire(self._key(key), int(self._ttl) + 1)
                await pipe.execute()

    async def _refresh(self) -> None:
        while self._held:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._touch(dict(self._held))
            except RedisError as exc:  # Redis away: entries may lapse; they come back next time
                log.warning("presence refresh failed: %s", exc)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        holder = uuid.uuid4().hex
        self._held[holder] = key
        try:
            await self._touch({holder: key})
        except RedisError as exc:
            log.warning("presence not recorded: %s", exc)
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh())
        try:
            yield
        finally:
            del self._held[holder]
            # Shielded (the holder is usually being cancelled); if it cannot finish or Redis
            # is away, the entry lapses on its own within TTL_S.
            with contextlib.suppress(RedisError, asyncio.CancelledError):
                await asyncio.shield(self._redis.zrem(self._key(key), holder))

    async def held(self, key: str) -> bool:
        try:
            return bool(await self._redis.zcount(self._key(key), time.time(), "+inf"))
        except RedisError as exc:
            log.warning("presence unknown: %s", exc)
            return False

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
