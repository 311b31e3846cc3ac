"""The visibility rules are views (migration 0012) that the ORM queries and the raw SQL paths
both read: one definition each. PostgreSQL inlines them, so each lookup is an index scan of
`blocks` or `users` itself."""

from __future__ import annotations

import uuid

import asyncpg

from tests.support.database import raw_dsn


async def _plan(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    rows = await conn.fetch(f"EXPLAIN (COSTS OFF) {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def test_the_rules_are_index_lookups(database_url: str) -> None:
    conn = await asyncpg.connect(raw_dsn(database_url))
    try:
        await conn.execute("SET enable_seqscan = off")  # empty tables: plans as when full
        a, b = uuid.uuid4(), uuid.uuid4()
        between = await _plan(
            conn,
            "SELECT EXISTS (SELECT 1 FROM block_pairs WHERE person = $1 AND other = $2)",
            a,
            b,
        )
        around = await _plan(conn, "SELECT other FROM block_pairs WHERE person = $1", a)
        active = await _plan(conn, "SELECT email FROM active_users WHERE id = $1", a)
    finally:
        await conn.close()
    for plan in (between, around):
        assert "Seq Scan" not in plan, plan
        # both directions, each through an index of blocks
        assert plan.count("Index Cond") == 2, plan
    assert "Index Scan" in active and "users" in active and "Seq Scan" not in active, active


async def test_the_rules_say_what_they_mean(database_url: str) -> None:
    conn = await asyncpg.connect(raw_dsn(database_url))
    try:
        ids = [uuid.uuid4() for _ in range(4)]
        for n, user_id in enumerate(ids):
            await conn.execute(
                "INSERT INTO users (id, email, password_hash, status, role, created_at, "
                "last_active_at) VALUES ($1, $2, 'x', $3, 'member', now(), now())",
                user_id,
                f"rule-{n}@example.com",
                "suspended" if n == 3 else "active",
            )
        a, b, c, _suspended = ids
        await conn.execute("INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)", a, b)
        between = "SELECT EXISTS (SELECT 1 FROM block_pairs WHERE person = $1 AND other = $2)"
        assert await conn.fetchval(between, a, b) and await conn.fetchval(between, b, a)
        assert not await conn.fetchval(between, a, c)
        around = "SELECT other FROM block_pairs WHERE person = $1"
        assert [r[0] for r in await conn.fetch(around, b)] == [a]
        assert [r[0] for r in await conn.fetch(around, a)] == [b]
        active = {r[0] for r in await conn.fetch("SELECT id FROM active_users")}
        assert active == {a, b, c}
    finally:
        await conn.close()
