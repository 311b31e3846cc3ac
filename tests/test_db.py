"""Database plumbing: the operation session, start-up checks, models against migrations."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

import models
from rapport import db, migrations
from rapport.db import OperationSession


@pytest.mark.parametrize("session_class", [AsyncSession, OperationSession])
async def test_operation_session_allows_concurrent_sibling_calls(
    database_url, session_class
) -> None:
    """graphql-core runs sibling resolvers concurrently on the operation's one session: a plain
    AsyncSession refuses that, OperationSession queues the calls."""
    engine = create_async_engine(database_url)
    session = session_class(engine)
    try:
        results = await asyncio.gather(
            *(session.execute(text(f"SELECT pg_sleep(0.02), {i}")) for i in range(4)),
            session.commit(),
            return_exceptions=True,
        )
    finally:
        await session.close()
        await engine.dispose()
    failures = [r for r in results if isinstance(r, Exception)]
    if session_class is AsyncSession:
        assert failures, "plain AsyncSession unexpectedly tolerated concurrent use"
    else:
        assert failures == []


async def test_operation_session_convenience_methods_do_not_deadlock(database_url) -> None:
    """AsyncSession.scalars is built on execute: wrapping both in the (non-reentrant) lock
    made it wait on itself forever. The bound only turns a hang into a failure."""
    engine = create_async_engine(database_url)
    session = OperationSession(engine)
    try:
        async with asyncio.timeout(10):
            assert (await session.scalars(text("SELECT 1"))).all() == [1]
            assert await session.scalar(text("SELECT 2")) == 2
            assert (await session.execute(text("SELECT 3"))).scalar_one() == 3
    finally:
        await session.close()
        await engine.dispose()


async def test_models_and_migrations_agree(database_url) -> None:
    engine = create_async_engine(database_url)

    def diff(conn):
        return compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), models.metadata
        )

    try:
        async with engine.connect() as conn:
            changes = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert changes == [], f"models differ from migrations: {changes}"


async def test_migrations_go_down_and_up_again(database_url) -> None:
    await asyncio.to_thread(migrations.upgrade, database_url, "base")  # upgrade() to base = no-op
    from alembic import command

    cfg = migrations.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, cfg, "base")
    engine = create_async_engine(database_url)
    try:
        assert await migrations.current_revisions(engine) == set()
        await asyncio.to_thread(migrations.upgrade, database_url)
        assert await migrations.at_head(engine)
    finally:
        await engine.dispose()


async def test_unusable_database_is_refused_in_one_line(database_url, settings) -> None:
    """A missing database reads as one line, not a traceback (pgvector: see test_cli)."""
    engine = db.create_engine(
        settings, database_url.rsplit("/", 1)[0] + "/no_such_db?" + database_url.split("?", 1)[1]
    )
    try:
        with pytest.raises(db.DatabaseUnusable) as raised:
            await db.check_usable(engine)
    finally:
        await engine.dispose()
    assert "\n" not in str(raised.value) and "no_such_db" in str(raised.value)


SCHEMA_FACTS = """
SELECT 'constraint', conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'default', table_name || '.' || column_name, column_default
FROM information_schema.columns WHERE table_schema = 'public' AND column_default IS NOT NULL
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
"""


async def test_migrations_build_exactly_what_the_models_declare(database_url, pg_url) -> None:
    """compare_metadata ignores CHECK constraints and server defaults; compare the catalogues
    of a migrated database and one made by create_all directly."""
    import asyncpg

    from tests.support.database import raw_dsn

    admin = await asyncpg.connect(raw_dsn(pg_url))
    await admin.execute("CREATE DATABASE from_models")
    try:
        direct = create_async_engine(pg_url.replace("/postgres?", "/from_models?"))
        async with direct.begin() as conn:
            await conn.execute(text("CREATE EXTENSION vector"))
            await conn.run_sync(models.metadata.create_all)
        migrated = create_async_engine(database_url)
        facts = []
        for engine in (direct, migrated):
            async with engine.connect() as conn:
                rows = (await conn.execute(text(SCHEMA_FACTS))).all()
                facts.append(
                    {
                        (kind, name, definition)
                        for kind, name, definition in rows
                        if "alembic_version" not in name
                    }
                )
            await engine.dispose()
        assert facts[0] == facts[1], {
            "only_models": facts[0] - facts[1],
            "only_migrations": facts[1] - facts[0],
        }
    finally:
        await admin.execute("DROP DATABASE from_models WITH (FORCE)")
        await admin.close()


async def test_the_raw_pool_serves_waiters_in_turn(settings) -> None:
    """A connection given back goes to the task that has waited longest, not to a task that
    happens to ask at that moment (asyncpg's own pool lets such a newcomer take it, and the
    waiter waits on: the tail latencies of bench/peer.py)."""
    pool = await db.create_raw_pool(settings)
    size, order = pool.get_max_size(), []
    all_held, release = asyncio.Event(), asyncio.Event()

    async def holder(i: int) -> None:
        async with pool.acquire():
            order.append(f"held {i}")
            if len(order) == size:
                all_held.set()
            await release.wait()

    async def waiter(i: int) -> None:
        async with pool.acquire():
            order.append(f"waited {i}")

    async def newcomer(i: int) -> None:
        # ready at every turn of the loop, as new requests are, and asking for a connection
        # the moment one is back in the pool
        while not release.is_set() or pool.get_idle_size() == 0:  # noqa: ASYNC110 (on purpose)
            await asyncio.sleep(0)
        async with pool.acquire():
            order.append(f"newcomer {i}")

    try:
        holders = [asyncio.create_task(holder(i)) for i in range(size)]
        await all_held.wait()
        waiters = [asyncio.create_task(waiter(i)) for i in range(size)]
        for _ in range(10):  # each queued for a connection
            await asyncio.sleep(0)
        newcomers = [asyncio.create_task(newcomer(i)) for i in range(size)]
        release.set()
        await asyncio.gather(*holders, *waiters, *newcomers)
    finally:
        await pool.close()
    assert order[size : 2 * size] == [f"waited {i}" for i in range(size)], order
