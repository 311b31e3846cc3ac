"""Memory a cached ranked list takes per viewer: in process (tracemalloc of the lists and the
reverse index) and in Redis (MEMORY USAGE of the viewer's keys plus their share of the
per-candidate reverse-index sets), for real rankings of seeded people, against the memory of
the same entries as bare JSON (the baseline: what the payload weighs without any structure).

Usage (from the repository root; needs a seeded database and a Redis server):

    DATABASE_URL=postgresql+asyncpg://... .venv/bin/python bench/ranking_cache.py \\
        [--viewers 50] [--redis-url redis://127.0.0.1:6379/15]

The Redis database given is written under the prefix `rapport:bench-rank` and cleaned up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.cache import LocalRankingCache, RedisRankingCache, _encode
from matching.ranking import RANKING_SIZE, rank
from matching.scoring import Scored
from rapport.db import create_engine, create_sessionmaker
from rapport.settings import Settings

PREFIX = "rapport:bench-rank"


async def rankings(url: str, viewers: int) -> list[tuple[object, list[Scored]]]:
    settings = Settings(_env_file=None, env="test", secret_key="x" * 64, database_url=url)
    engine = create_engine(settings)
    today = datetime.now(UTC).date()
    out = []
    try:
        async with create_sessionmaker(engine)() as session:
            ids = (
                await session.execute(
                    text(
                        "SELECT user_id FROM match_index WHERE active "
                        "ORDER BY md5(user_id::text) LIMIT :n"
                    ),
                    {"n": viewers},
                )
            ).scalars()
            for user_id in list(ids):
                ranking = await rank(session, user_id, today)
                if ranking:
                    out.append((user_id, ranking))
                await session.rollback()
    finally:
        await engine.dispose()
    return out


async def local_bytes(lists: list[tuple[object, list[Scored]]]) -> float:
    cache = LocalRankingCache()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for viewer, ranking in lists:
        await cache.put(viewer, ranking)  # type: ignore[arg-type]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(lists)


async def redis_bytes(lists: list[tuple[object, list[Scored]]], url: str) -> float:
    redis = Redis.from_url(url, decode_responses=True)
    cache = RedisRankingCache(redis, prefix=PREFIX)
    try:
        for viewer, ranking in lists:
            await cache.put(viewer, ranking)  # type: ignore[arg-type]
        total = 0
        async for key in redis.scan_iter(match=f"{PREFIX}:*", count=1000):
            total += int(await redis.memory_usage(key, samples=0) or 0)
        return total / len(lists)
    finally:
        async for key in redis.scan_iter(match=f"{PREFIX}:*", count=1000):
            await redis.delete(key)
        await redis.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--viewers", type=int, default=50)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = p.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("set DATABASE_URL to a seeded database (e.g. bench/recommendations.py --keep-db)")
    lists = asyncio.run(rankings(url, args.viewers))
    if not lists:
        sys.exit("no viewer has any recommendation: seed people first")
    sizes = [len(r) for _, r in lists]
    payload = statistics.mean(sum(len(_encode(s)) + 36 for s in r) for _, r in lists)
    local = asyncio.run(local_bytes(lists))
    remote = asyncio.run(redis_bytes(lists, args.redis_url))
    print(
        f"{len(lists)} viewers, ranked lists of {statistics.mean(sizes):.0f} entries on average "
        f"(at most {RANKING_SIZE})"
    )
    print(f"{'where':<36} {'bytes/viewer':>13} {'x payload':>10}")
    for name, value in (
        ("payload as JSON (baseline)", payload),
        ("in process (LocalRankingCache)", local),
        ("Redis (RedisRankingCache)", remote),
    ):
        print(f"{name:<36} {value:>13,.0f} {value / payload:>10.1f}")
    print(json.dumps({"payload": payload, "local": local, "redis": remote}))


if __name__ == "__main__":
    main()
