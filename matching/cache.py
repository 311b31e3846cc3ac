"""The ranked-candidate cache: per viewer, their scored list in rank order.

In one process it is a bounded dict; with REDIS_URL it is a Redis sorted set per viewer
(member: candidate id, score: rank) plus a hash of each entry's details, shared by every app
instance. Each list also registers the viewer under every candidate it holds, so a candidate's
change, block or departure drops exactly the lists that contain them.

Size: a list holds at most RANKING_SIZE (100) entries of about 120 bytes of payload each.
Measured with bench/ranking_cache.py on real rankings at 100,000 people (89 entries a list
on average): 23 KB per cached viewer in process, 43 KB in Redis, reverse index included.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis

from matching.scoring import Scored

TTL_S = 900  # a list is rebuilt at least every 15 minutes: people who became eligible appear


class RankingCache(Protocol):
    async def get(self, viewer: uuid.UUID) -> list[Scored] | None: ...
    async def put(self, viewer: uuid.UUID, ranking: list[Scored]) -> None: ...
    async def drop(self, viewer: uuid.UUID) -> None: ...
    async def drop_containing(self, candidate: uuid.UUID) -> None: ...
    async def remove(self, viewer: uuid.UUID, candidate: uuid.UUID) -> None: ...


class LocalRankingCache:
    def __init__(self, max_viewers: int = 10_000) -> None:
        self._lists: OrderedDict[uuid.UUID, list[Scored]] = OrderedDict()
        self._holders: dict[uuid.UUID, set[uuid.UUID]] = {}
        self._max = max_viewers

    async def get(self, viewer: uuid.UUID) -> list[Scored] | None:
        ranking = self._lists.get(viewer)
        if ranking is not None:
            self._lists.move_to_end(viewer)
        return ranking

    async def put(self, viewer: uuid.UUID, ranking: list[Scored]) -> None:
        await self.drop(viewer)
        self._lists[viewer] = list(ranking)
        for s in ranking:
            self._holders.setdefault(s.user_id, set()).add(viewer)
        while len(self._lists) > self._max:
            await self.drop(next(iter(self._lists)))

    async def drop(self, viewer: uuid.UUID) -> None:
        for s in self._lists.pop(viewer, []):
            holders = self._holders.get(s.user_id)
            if holders is not None:
                holders.discard(viewer)
                if not holders:
                    del self._holders[s.user_id]

    async def drop_containing(self, candidate: uuid.UUID) -> None:
        for viewer in list(self._holders.get(candidate, ())):
            await self.drop(viewer)

    async def remove(self, viewer: uuid.UUID, candidate: uuid.UUID) -> None:
        ranking = self._lists.get(viewer)
        if ranking is not None:
            self._lists[viewer] = [s for s in ranking if s.user_id != candidate]
            self._holders.get(candidate, set()).discard(viewer)


def _encode(s: Scored) -> str:
    return json.dumps(
        [s.score, s.for_viewer, s.for_candidate, s.shared_interests, s.goals_similarity]
    )


def _decode(user_id: str, raw: str) -> Scored:
    score, a, b, shared, goals = json.loads(raw)
    return Scored(uuid.UUID(user_id), score, a, b, tuple(shared), goals)


class RedisRankingCache:
    def __init__(self, redis: Redis, prefix: str = "rapport:rank") -> None:
        self._redis = redis
        self._prefix = prefix

    def _order(self, viewer: uuid.UUID) -> str:
        return f"{self._prefix}:{viewer}:order"

    def _details(self, viewer: uuid.UUID) -> str:
        return f"{self._prefix}:{viewer}:details"

    def _holders(self, candidate: uuid.UUID | str) -> str:
        return f"{self._prefix}:in:{candidate}"

    async def get(self, viewer: uuid.UUID) -> list[Scored] | None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrange(self._order(viewer), 0, -1)
            pipe.hgetall(self._details(viewer))
            pipe.exists(self._order(viewer), self._details(viewer))
            order, details, exists = await pipe.execute()
        if exists < 2:
            return None
        return [_decode(m, details[m]) for m in order if m != "-" and m in details]

    async def put(self, viewer: uuid.UUID, ranking: list[Scored]) -> None:
        await self.drop(viewer)
        async with self._redis.pipeline(transaction=True) as pipe:
            # An empty list is cached too: a sentinel keeps both keys present.
            pipe.zadd(
                self._order(viewer), {"-": -1, **{str(s.user_id): i for i, s in enumerate(ranking)}}
            )
            pipe.hset(
                self._details(viewer),
                mapping={"-": "[]", **{str(s.user_id): _encode(s) for s in ranking}},
            )
            pipe.expire(self._order(viewer), TTL_S)
            pipe.expire(self._details(viewer), TTL_S)
            for s in ranking:
                pipe.sadd(self._holders(s.user_id), str(viewer))
                pipe.expire(self._holders(s.user_id), TTL_S)
            await pipe.execute()

    async def drop(self, viewer: uuid.UUID) -> None:
        members = await self._redis.zrange(self._order(viewer), 0, -1)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._order(viewer), self._details(viewer))
            for m in members:
                if m != "-":
                    pipe.srem(self._holders(str(m)), str(viewer))
            await pipe.execute()

    async def drop_containing(self, candidate: uuid.UUID) -> None:
        for viewer in await self._redis.smembers(self._holders(candidate)):
            await self.drop(uuid.UUID(str(viewer)))

    async def remove(self, viewer: uuid.UUID, candidate: uuid.UUID) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._order(viewer), str(candidate))
            pipe.hdel(self._details(viewer), str(candidate))
            pipe.srem(self._holders(candidate), str(viewer))
            await pipe.execute()
