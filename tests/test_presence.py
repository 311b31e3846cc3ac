"""Presence in Redis (rapport/presence.py RedisPresence), on a real redis-server: a refresh
renews every holder, in pipelines of REFRESH_CHUNK holders (one pipeline for every holder of
a busy process held the event loop for tens of milliseconds)."""

from __future__ import annotations

import math
import time
from typing import Any

from redis.asyncio import Redis

from rapport.presence import REFRESH_CHUNK, RedisPresence
from tests.support.redis_server import RedisServer


async def test_a_refresh_renews_every_holder_in_chunks(redis_server: RedisServer) -> None:
    redis = Redis.from_url(redis_server.url, decode_responses=True)
    presence = RedisPresence(redis, prefix="test:presence", ttl_s=60)
    count = REFRESH_CHUNK * 3 + 7
    holders = {f"holder-{i}": f"watching:{i % 40}" for i in range(count)}
    pipelines = 0
    real_pipeline = redis.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        return real_pipeline(*args, **kwargs)

    redis.pipeline = counted  # type: ignore[method-assign]
    try:
        before = time.time()
        await presence._touch(holders)
        assert pipelines == math.ceil(count / REFRESH_CHUNK)
        for i in range(40):
            entries: list[Any] = await redis.zrange(
                f"test:presence:watching:{i}", 0, -1, withscores=True
            )
            names = {entry[0] for entry in entries}
            assert names == {h for h, k in holders.items() if k == f"watching:{i}"}
            assert all(float(entry[1]) >= before + 60 for entry in entries)
        assert await presence.held("watching:0")
        assert not await presence.held("watching:99")
    finally:
        await redis.flushdb()
        await redis.aclose()
