"""Fixtures: one throwaway embedded PostgreSQL per test run, a template database migrated by
Alembic once, and a fresh copy of it for every test (so no test sees another's data)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
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
from resolvers.accounts import Viewer
from schema import schema
from schema.context import Context

TEMPLATE = "rapport_template"
PASSWORD = "correct horse battery staple"


def raw_dsn(url: str, database: str | None = None) -> str:
    """An asyncpg DSN (no +asyncpg) for a SQLAlchemy URL."""
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


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


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "secret_key": secrets.token_urlsafe(48),
        "database_url": database_url,
        "log_requests": False,
        **overrides,
    }
    return Settings(_env_file=None, **values)


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


@dataclass
class Gql:
    """Schema-level execution: `await gql(query, variables, token=...)` returns data, and
    fails the test on any GraphQL error (expected failures are data, not errors)."""

    resources: Resources

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        context = Context(resources=self.resources, token=token)
        return await schema.execute(query, variable_values=variables, context_value=context)

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        result = await self.raw(query, variables, token)
        assert result.errors is None, result.errors
        return result.data

    async def register(self, email: str | None = None, password: str = PASSWORD) -> str:
        """Sign up as a client does (register, the emailed code, confirmRegistration); the
        new account's token."""
        from tests.support.mailbox import CONFIRM, REGISTER, sign_up_code

        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        started = await self(REGISTER, {"i": {"email": email, "password": password}})
        assert started["register"]["__typename"] == "RegistrationStarted", started
        code = await sign_up_code(self.resources.raw_pool, email)
        data = await self(CONFIRM, {"i": {"email": email, "code": code, "password": password}})
        assert data["confirmRegistration"]["__typename"] == "AuthPayload", data
        return data["confirmRegistration"]["token"]


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A real uvicorn process serving the app on a free loopback port."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    database_url: str

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM, as a process manager would
        return self.proc.wait(timeout=timeout)


def wait_until_ready(proc: subprocess.Popen[Any], base_url: str, log: Path, within: float) -> None:
    """Until the server at `base_url` answers /readyz; AssertionError with its log if it exits
    or takes longer than `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("server did not become ready:\n" + log.read_text())
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


@contextlib.contextmanager
def running_server(database_url: str, log_path: Path, **env: str) -> Iterator[ServerProcess]:
    port = free_port()
    environ = {
        **os.environ,
        "RAPPORT_ENV": "test",
        "RAPPORT_SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "RAPPORT_PORT": str(port),
        "RAPPORT_SHUTDOWN_TIMEOUT_S": "10",
        **env,
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app:create_app",
                "--factory",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "10",
            ],
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path, database_url)
    try:
        wait_until_ready(proc, server.base_url, log_path, 30)
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A real uvicorn process (see ServerProcess); yields its base URL."""
    with running_server(database_url, tmp_path / "server.log") as server:
        yield server.base_url


async def make_viewer(resources: Resources, user_id: uuid.UUID) -> Viewer:
    """A Viewer for resolver-level tests (as authentication would build it)."""
    from models import Profile, User

    async with resources.sessionmaker() as session:
        user = await session.get_one(User, user_id)
        profile = await session.get(Profile, user_id)
    return Viewer(user=user, token_id=uuid.uuid4(), profile=profile)
