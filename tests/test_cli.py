"""The `rapport` command line, run as a user would: as a subprocess."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rapport.settings import PROJECT_ROOT

RAPPORT = [sys.executable, "-c", "from rapport.cli import main; main()"]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("RAPPORT_")
    }
    return subprocess.run(
        [*RAPPORT, *args],
        cwd=PROJECT_ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def system_postgres_reachable() -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


@pytest.mark.skipif(
    not system_postgres_reachable(), reason="needs the machine's PostgreSQL on 127.0.0.1:5432"
)
def test_postgres_without_pgvector_gets_one_line() -> None:
    """These machines run a PostgreSQL 15 without pgvector: exactly the case to refuse clearly."""
    result = run("migrate", env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no 'vector' extension" in lines[0] and "Traceback" not in result.stderr


def test_unreachable_postgres_gets_one_line() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("migrate", env={"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/x"})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot reach PostgreSQL" in result.stderr


def test_production_refuses_placeholder_secret() -> None:
    result = run("migrate", env={"RAPPORT_ENV": "production", "RAPPORT_SECRET_KEY": "changeme"})
    assert result.returncode == 1
    assert "RAPPORT_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_schema_check_passes_on_committed_schema(tmp_path: Path) -> None:
    assert run("schema", "--check").returncode == 0
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: Int }\n")
    result = run("schema", "--check", "--output", str(stale))
    assert result.returncode == 1 and "out of date" in result.stderr


def test_embedded_database_is_created_once_and_reused() -> None:
    """`rapport migrate` on a fresh data dir makes the cluster; a second run reuses it."""
    data_dir = Path(f"/tmp/rapport-cli-{secrets.token_hex(4)}")
    env = {"RAPPORT_DATA_DIR": str(data_dir)}
    try:
        first = run("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert (data_dir / "pgdata" / "PG_VERSION").exists()
        assert "latest migration" in first.stdout
        second = run("migrate", env=env)
        assert second.returncode == 0, second.stderr
        url = run("db", "url", env=env)
        assert url.returncode == 0 and url.stdout.startswith(
            "postgresql://postgres@/postgres?host="
        )
        stopped = run("db", "stop", env=env)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
    finally:
        run("db", "stop", env=env)
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)
