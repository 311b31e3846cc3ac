"""A private redis-server for tests: a free loopback port, a temporary directory, nothing kept
on disk. It can be killed and started again on the same port (restart tests) and paused
(SIGSTOP: it accepts connections but answers nothing). Never touches the system Redis.

    with RedisServer() as server:      # started
        server.url                     # redis://127.0.0.1:PORT/0
        server.stop(); server.start()  # same port

Import it from tests (it is not a pytest plugin); the `redis_server` fixture (tests/conftest.py)
starts one for a test.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

REDIS_SERVER = "/usr/bin/redis-server"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if the test process dies, so does the server."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sweep_dead_runs() -> None:
    """Remove directories left by test processes that were killed before cleaning up (their
    servers died with them: see _die_with_parent)."""
    for folder in Path(tempfile.gettempdir()).glob("rapport-redis-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, binary: str = REDIS_SERVER) -> None:
        self.binary = binary
        _sweep_dead_runs()
        self.dir = Path(tempfile.mkdtemp(prefix=f"rapport-redis-{os.getpid()}-"))
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 15) -> None:
        """Start (again) on self.port; return once it answers PING. Call it from the main
        thread (not asyncio.to_thread): the server is killed when the thread that started it
        ends (PR_SET_PDEATHSIG), so that a killed test run leaves no server behind."""
        if self.running:
            raise RuntimeError("redis-server is already running")
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",  # nothing on disk
            "appendonly": "no",
            "dir": str(self.dir),
            "logfile": str(self.dir / "redis.log"),
            "daemonize": "no",
        }
        self._process = subprocess.Popen(
            [
                self.binary,
                *(arg for name, value in options.items() for arg in (f"--{name}", value)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # the tests start no threads that fork
        )
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{self.log}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Kill it (SIGKILL: no goodbye to clients, as in a crash) and wait for it to exit."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, but nothing is answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
