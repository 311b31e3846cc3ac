"""The test databases: an asyncpg DSN for one (raw SQL beside the ORM), and a digest of every
table's rows (snapshot: to show that nothing was written)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from rapport.resources import Resources


def raw_dsn(url: str, database: str | None = None) -> str:
    """An asyncpg DSN (no +asyncpg) for a SQLAlchemy URL."""
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def snapshot(resources: Resources) -> dict[str, str]:
    """A digest of every table's rows (users without last_active_at, which reading touches)."""
    async with resources.sessionmaker() as session:
        tables = (
            await session.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version' ORDER BY tablename"
                )
            )
        ).scalars()
        parts = [
            f"SELECT '{t}', md5(coalesce(string_agg(j, ',' ORDER BY j), ''))"
            f" FROM (SELECT (to_jsonb(x) - 'last_active_at')::text AS j FROM {t} x) rows"
            for t in tables
        ]
        rows = await session.execute(text(" UNION ALL ".join(parts)))
        return {str(name): str(digest) for name, digest in rows}


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block."""
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@contextmanager
def count_raw_statements() -> Iterator[list[str]]:
    """The SQL statements run on plain asyncpg connections (the raw pool's hot paths: chat
    reads, sending, authentication) inside the block, but the pool's reset on release; the
    ORM's are `count_statements`'."""
    statements: list[str] = []

    def recording(name: str) -> Any:
        real = getattr(asyncpg.Connection, name)

        async def method(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
            if query != self.get_reset_query():  # the pool's own, on each release
                statements.append(query)
            return await real(self, query, *args, **kwargs)

        return method

    with pytest.MonkeyPatch.context() as patch:
        for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
            patch.setattr(asyncpg.Connection, name, recording(name))
        yield statements
