"""Alembic, driven from code: the CLI, the app's readiness check and the tests share this."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from rapport.settings import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    # env.py takes the URL from here when the caller gives one, else from Settings.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (blocking: call from a thread when an event loop is running)."""
    command.upgrade(alembic_config(database_url), revision)


def head_revisions(database_url: str = "") -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def _current(conn: Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def at_head(engine: AsyncEngine) -> bool:
    return await current_revisions(engine) == head_revisions()
