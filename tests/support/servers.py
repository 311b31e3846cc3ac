"""The app as a real uvicorn process on a free loopback port: running_server(...) yields a
ServerProcess once /readyz answers; free_port and wait_until_ready for other servers."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from rapport.settings import PROJECT_ROOT


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
