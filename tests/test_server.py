"""The app as a real process: graceful shutdown on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
from urllib.parse import urlsplit

from tests.support.servers import running_server

QUERY = 'mutation { register(input: {email: "late@example.com", password: "long enough pw"}) { __typename } }'


def test_sigterm_lets_an_open_request_finish_then_exits_cleanly(database_url, tmp_path) -> None:
    with running_server(database_url, tmp_path / "server.log") as server:
        body = json.dumps({"query": QUERY}).encode()
        url = urlsplit(server.base_url)
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            head = (
                f"POST /graphql HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            sock.sendall(head + body[:10])  # the request is now in flight, its body unfinished
            time.sleep(0.3)
            server.proc.terminate()  # SIGTERM
            time.sleep(0.3)
            assert server.proc.poll() is None, "exited with a request still open"
            sock.sendall(body[10:])
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        code = server.proc.wait(timeout=15)
    # uvicorn re-raises SIGTERM once shut down, so the parent sees "ended by SIGTERM".
    assert code in (0, -signal.SIGTERM), server.log
    assert "Application shutdown complete" in server.log
    status, _, payload = response.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200"), response
    assert json.loads(payload) == {"data": {"register": {"__typename": "RegistrationStarted"}}}
    assert "Rapport stopped" in server.log
