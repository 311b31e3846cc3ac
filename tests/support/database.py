"""The test databases: an asyncpg DSN for one (raw SQL beside the ORM)."""

from __future__ import annotations

from sqlalchemy.engine import make_url


def raw_dsn(url: str, database: str | None = None) -> str:
    """An asyncpg DSN (no +asyncpg) for a SQLAlchemy URL."""
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)
