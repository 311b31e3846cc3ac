"""Database engine, sessions, and the start-up checks that turn common mistakes into one line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Self

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from rapport.settings import Settings


class DatabaseUnusable(RuntimeError):
    """The configured PostgreSQL cannot serve Rapport; the message is one line for the user."""


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    url = url or settings.database_url
    if url is None:
        raise DatabaseUnusable("no database URL: start the embedded server or set DATABASE_URL")
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=False,
        # asyncpg caches prepared statements per connection; keep that on.
        connect_args={"server_settings": {"application_name": "rapport"}},
    )


# What runs the effects a transaction registered, once it committed (resolvers/effects.py).
EffectRunner = Callable[[Sequence[Hashable]], Awaitable[None]]


class OperationSession(AsyncSession):
    """The one session of a GraphQL operation. graphql-core resolves sibling fields
    concurrently and AsyncSession forbids concurrent use, so each database call here holds a
    lock: calls from sibling resolvers queue up on the operation's connection instead of
    failing. (Mutations run their root fields serially anyway.) Only methods that reach the
    connection directly are wrapped: the lock is not reentrant, and e.g. `scalars` is built on
    `execute`.

    It is also the one route for work after a commit: `after_commit(effect)` registers an
    effect during the transaction; a successful `commit()` hands the registered effects, in
    order and each once, to the runner before returning; a rollback or close drops them.
    `after_each_commit` registers one for every commit of the session's life (the acting
    viewer's cache eviction in a mutation)."""

    def __init__(self, *args: Any, effects: EffectRunner | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()
        self._run_effects = effects
        self._pending: dict[Hashable, None] = {}  # ordered, each effect once
        self._standing: dict[Hashable, None] = {}

    async def __aenter__(self) -> Self:
        return self

    def after_commit(self, *effects: Hashable) -> None:
        self._pending.update(dict.fromkeys(effects))

    def after_each_commit(self, *effects: Hashable) -> None:
        self._standing.update(dict.fromkeys(effects))

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await super().scalar(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await super().get(*args, **kwargs)

    async def get_one(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await super().get_one(*args, **kwargs)

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        async with self._lock:
            await super().flush(*args, **kwargs)

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        async with self._lock:
            await super().refresh(*args, **kwargs)

    async def commit(self) -> None:
        async with self._lock:
            await super().commit()
            effects = list({**self._pending, **self._standing})  # in order, each once
            self._pending = {}
        if effects:
            if self._run_effects is None:
                raise RuntimeError(f"effects registered on a session without a runner: {effects}")
            await self._run_effects(effects)

    async def rollback(self) -> None:
        async with self._lock:
            self._pending = {}
            await super().rollback()

    async def close(self) -> None:
        async with self._lock:
            self._pending = {}  # never committed: never run
            await super().close()


def create_sessionmaker(
    engine: AsyncEngine, effects: EffectRunner | None = None
) -> async_sessionmaker[OperationSession]:
    """Sessions for `engine`; `effects` runs what their transactions registered to do once
    committed (without it, registering an effect and committing is a bug, and raises)."""
    return async_sessionmaker(
        engine,
        class_=OperationSession,
        expire_on_commit=False,
        autoflush=False,
        effects=effects,
    )


async def _json_codecs(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """What the raw pool runs on a connection given back (after asyncpg's own roll-back of a
    transaction left open): nothing. Its users set no session state (no SET, LISTEN, session
    advisory lock or cursor outside a transaction), so asyncpg's default reset (`RESET ALL`,
    `UNLISTEN *`, ... : a round trip on every release, twice per request with authentication)
    would find nothing to undo."""


class FairPool(asyncpg.Pool):
    """asyncpg's pool, its connections handed out in the order they were asked for. asyncpg
    queues free connections in an asyncio.Queue, which gives a released connection to
    whichever task asks next, ahead of the tasks already waiting (a woken waiter that finds the
    queue empty again goes to the back): with more requests in flight than connections, some
    wait many turns. Measured with bench/peer.py (16 connections, 5 in the pool): p99 4 to 9
    times p50. A FIFO semaphore of the pool's size in front of it (asyncio's is fair) serves
    them in turn."""

    __slots__ = ("_turns",)

    def __init__(self, dsn: str, *, max_size: int, **options: Any) -> None:
        super().__init__(dsn, max_size=max_size, **options)
        self._turns = asyncio.Semaphore(max_size)

    def acquire(self, *, timeout: float | None = None) -> Any:
        """As asyncpg's, in turn; only `async with pool.acquire() as conn` (what `fetch` and
        the others use), not `await pool.acquire()`."""
        return _InTurn(self._turns, super().acquire(timeout=timeout))


class _InTurn:
    __slots__ = ("_inner", "_turns")

    def __init__(self, turns: asyncio.Semaphore, inner: Any) -> None:
        self._turns, self._inner = turns, inner

    async def __aenter__(self) -> asyncpg.Connection:
        await self._turns.acquire()
        try:
            return await self._inner.__aenter__()
        except BaseException:
            self._turns.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._inner.__aexit__(*exc)
        finally:
            self._turns.release()


async def create_raw_pool(settings: Settings) -> asyncpg.Pool:
    """A small plain-asyncpg pool, for the hot queries that bypass SQLAlchemy (authentication,
    people's and matches' reads, the chat's reads and sends)."""
    assert settings.database_url is not None
    url = make_url(settings.database_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    pool = FairPool(
        dsn,
        min_size=1,
        max_size=max(2, settings.db_pool_size // 2),
        init=_json_codecs,
        reset=_no_session_state,
        server_settings={"application_name": "rapport-hot"},
        # asyncpg.create_pool's defaults, which its Pool does not have
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        loop=None,
    )
    return await pool


def describe(url: str) -> str:
    """Where a URL points, without its password, for messages."""
    parsed = make_url(url)
    host = parsed.query.get("host") or parsed.host or "localhost"
    return f"{host}:{parsed.port or 5432}/{parsed.database}"


async def check_usable(engine: AsyncEngine) -> None:
    """Fail with one readable line when the server is unreachable, too old or lacks pgvector."""
    where = describe(engine.url.render_as_string(hide_password=True))
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
            has_vector = (
                await conn.execute(
                    text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
                )
            ).first()
    except (OSError, ConnectionError) as exc:
        raise DatabaseUnusable(f"cannot reach PostgreSQL at {where}: {exc}") from None
    except Exception as exc:
        # asyncpg raises its own exception types for authentication and missing databases.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatabaseUnusable(f"cannot use PostgreSQL at {where}: {message}") from None
    if int(version) < 140000:
        raise DatabaseUnusable(
            f"PostgreSQL at {where} is version {version}; Rapport needs 14 or newer"
        )
    if has_vector is None:
        raise DatabaseUnusable(
            f"PostgreSQL at {where} has no 'vector' extension (pgvector); install pgvector "
            "there, or unset DATABASE_URL to use Rapport's embedded PostgreSQL"
        )
