"""`rapport serve` as a real process for tests (tests/test_serve.py, tests/test_slow_clients.py):
`serve(tmp_path, *args, **env)` runs it on a free port until /readyz answers;
`one_line_error(*args)` runs a `rapport` command that must fail in one line."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rapport.metrics import MULTIPROC_ENV
from rapport.settings import PROJECT_ROOT
from tests.support.servers import free_port, wait_until_ready

RAPPORT = [sys.executable, "-m", "rapport.cli"]
WAIT_S = 60  # the longest any one step may take before the test fails (never a timing target)


def environment(**extra: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        # Nor another test's metrics directory (tests/test_metrics.py names one in os.environ).
        if k not in ("DATABASE_URL", "REDIS_URL", MULTIPROC_ENV) and not k.startswith("RAPPORT_")
    }
    return {
        **base,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RAPPORT_ENV": "test",
        "RAPPORT_SECRET_KEY": secrets.token_urlsafe(48),
        "RAPPORT_GRAPHIQL": "false",
        **extra,
    }


@dataclass
class Serve:
    proc: subprocess.Popen[str]
    port: int
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve(tmp_path: Path, *args: str, **env: str) -> Iterator[Serve]:
    """`rapport serve --port P ARGS`, until /readyz answers; killed if still running after."""
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*RAPPORT, "serve", "--port", str(port), *args],
            cwd=PROJECT_ROOT,
            env=environment(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Serve(proc, port, log_path)
    try:
        wait_until_ready(proc, server.base_url, log_path, WAIT_S)
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def one_line_error(*args: str, **env: str) -> str:
    """Run `rapport ARGS`; it must fail with exactly one line on stderr: return it."""
    result = subprocess.run(
        [*RAPPORT, *args],
        cwd=PROJECT_ROOT,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
