"""The fixtures the tests share (their helpers live in tests/support): one throwaway embedded
PostgreSQL per test run, a template database migrated by Alembic once, and a fresh copy of it
for every test (so no test sees another's data); the settings, resources, `gql` and `client`
on it; real servers (`live_server`, two `instances` on one `redis_server`); `chromium`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

from rapport import embedded, migrations
from rapport.resources import Resources, open_resources
from rapport.settings import PROJECT_ROOT, Settings
from tests.support.browser import CHROMIUM
from tests.support.database import raw_dsn
from tests.support.gql import Gql
from tests.support.redis_server import RedisServer
from tests.support.servers import ServerProcess, running_server
from tests.support.settings import make_settings

TEMPLATE = "rapport_template"


def _sweep_dead_runs() -> None:
    """Remove clusters left by test runs that were killed before they could clean up."""
    for folder in Path("/tmp").glob("rapport-test-*"):
        pid = folder.name.removeprefix("rapport-test-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(Exception):
                embedded.stop(folder / "pgdata")
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One throwaway embedded PostgreSQL for the whole run, removed at the end."""
    _sweep_dead_runs()
    base = Path(f"/tmp/rapport-test-{os.getpid()}")  # short: the Unix socket lives in it
    base.mkdir(exist_ok=True)
    try:
        yield embedded.start(base / "pgdata", cleanup_mode=None)
    finally:
        embedded.stop(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_url: str) -> str:
    async def create() -> None:
        conn = await asyncpg.connect(raw_dsn(pg_url))
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()

    asyncio.run(create())
    migrations.upgrade(
        make_url(pg_url).set(database=TEMPLATE).render_as_string(hide_password=False)
    )
    return TEMPLATE


@pytest.fixture
async def database_url(pg_url: str, template_db: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(raw_dsn(pg_url))
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
def encoder_model() -> Any:
    """The real quantised encoder, built once into var/models (gitignored) and reused."""
    from matching.encoder import load_encoder

    return load_encoder(PROJECT_ROOT / "var" / "models")


@pytest.fixture
async def encoder(encoder_model: Any) -> AsyncIterator[Any]:
    from matching.batching import BatchingEncoder

    batching = BatchingEncoder(encoder_model)
    yield batching
    await batching.aclose()


@pytest.fixture
async def resources(settings: Settings, encoder: Any) -> AsyncIterator[Resources]:
    async with open_resources(settings, encoder) as r:
        yield r


@pytest.fixture
def gql(resources: Resources) -> Gql:
    return Gql(resources)


@pytest.fixture
async def client(settings: Settings, encoder: Any) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP against the real ASGI app (lifespan included), no network."""
    from app import create_app

    app = create_app(settings, encoder)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as http:
            yield http


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A real uvicorn process (see ServerProcess); yields its base URL."""
    with running_server(database_url, tmp_path / "server.log") as server:
        yield server.base_url


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium; a failure, not a skip, when missing (CI installs it)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium")
    return CHROMIUM


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for this test (never the system one on 6379)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def instances(
    database_url: str, redis_server: RedisServer, tmp_path: Path
) -> Iterator[list[ServerProcess]]:
    """Two app instances sharing the database, Redis and the secret key (so tokens work on both)."""
    key = secrets.token_urlsafe(48)
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                running_server(
                    database_url,
                    tmp_path / f"server-{n}.log",
                    REDIS_URL=redis_server.url,
                    RAPPORT_SECRET_KEY=key,
                )
            )
            for n in (1, 2)
        ]
        yield servers
