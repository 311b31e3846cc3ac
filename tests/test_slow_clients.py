"""Slow and idle clients against a real `rapport serve` (README: "Slow and idle clients"):
header and body read timeouts, websockets without connection_init, the per-process
connection cap, and the bounded password-hashing queue. Every wait is for the server to act, bounded by
WAIT_S; no test measures a duration."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from rapport.protocol import HeadHeld
from tests.support.serving import WAIT_S, Serve, serve

TRANSPORT_WS = [Subprotocol("graphql-transport-ws")]
LOGIN = """mutation ($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    __typename ... on RateLimited { limit retryAfter }
  }
}"""
NO_RATE_LIMITS = json.dumps(
    {"login_per_address": "1000/minute", "websocket_connections_per_address": "1000/minute"}
)


def raw(server: Serve, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), WAIT_S, (source, 0))
    sock.settimeout(WAIT_S)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def trickle_until_closed(sock: socket.socket, data: bytes) -> bytes:
    """Send `data` a byte at a time, slowly, until the server closes the connection; then
    what it answered. Fails if the server is still reading once `data` is all sent."""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.1)
        sock.setblocking(False)
        try:
            answered = sock.recv(65536)
        except BlockingIOError:
            continue
        finally:
            sock.setblocking(True)
        return answered + read_until_closed(sock)
    else:
        pytest.fail("the server kept reading a trickled request to its end")
    return read_until_closed(sock)


def status_and_body(response: bytes) -> tuple[int, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), response
    return int(head.split()[1]), json.loads(body)


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "the server did not act in time"
        time.sleep(0.05)


def metric(server: Serve, name: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=WAIT_S).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def websocket(server: Serve, source: str = "127.0.0.1") -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{server.port}/graphql",
        subprotocols=TRANSPORT_WS,
        open_timeout=WAIT_S,
        source_address=(source, 0),
    )


def close_code(ws: ClientConnection) -> int | None:
    """The code the server closes `ws` with (waiting for it)."""
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=WAIT_S)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


@pytest.fixture
def server_with(
    database_url: str, encoder_model: Any, tmp_path: Path
) -> Iterator[Callable[..., Serve]]:
    """`server_with(RAPPORT_X="...")`: `rapport serve` on the test's database with those
    settings, stopped after the test."""
    with ExitStack() as running:
        yield lambda **env: running.enter_context(serve(tmp_path, DATABASE_URL=database_url, **env))


@pytest.fixture
def quick_timeouts(server_with: Callable[..., Serve]) -> Serve:
    return server_with(
        RAPPORT_HEADER_TIMEOUT_S="1",
        RAPPORT_BODY_TIMEOUT_S="1",
        RAPPORT_CONNECTION_INIT_TIMEOUT_S="1",
    )


def test_slowloris_headers_are_cut_off_with_408(quick_timeouts: Serve) -> None:
    with closing(raw(quick_timeouts)) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: rapport\r\n")
        answer = trickle_until_closed(sock, b"X-Slow: " + b"a" * 600 + b"\r\n\r\n")
    status, body = status_and_body(answer)
    assert status == 408
    assert body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert "headers did not arrive within 1 s" in body["errors"][0]["message"]


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    quick_timeouts: Serve,
) -> None:
    with closing(raw(quick_timeouts)) as sock:
        assert read_until_closed(sock) == b""


def test_a_trickled_body_is_answered_408_and_closed(quick_timeouts: Serve) -> None:
    body = json.dumps({"query": "{ __typename }" + " " * 400}).encode()
    head = (
        "POST /graphql HTTP/1.1\r\nHost: rapport\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with closing(raw(quick_timeouts)) as sock:
        sock.sendall(head.encode())
        answer = trickle_until_closed(sock, body)
    status, document = status_and_body(answer)
    assert status == 408
    assert document["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert "body did not arrive within 1 s" in document["errors"][0]["message"]


def test_prompt_clients_and_kept_alive_connections_are_served(quick_timeouts: Serve) -> None:
    with httpx.Client(base_url=quick_timeouts.base_url, timeout=WAIT_S) as http:
        for _ in range(3):  # one kept-alive connection, several requests
            response = http.post("/graphql", json={"query": "{ __typename }"})
            assert response.json() == {"data": {"__typename": "Query"}}
    counted = metric(quick_timeouts, "rapport_slow_clients_total")
    assert counted == 0  # nothing above was slow


def test_a_websocket_without_connection_init_is_closed_4408(quick_timeouts: Serve) -> None:
    with websocket(quick_timeouts) as ws:
        assert close_code(ws) == 4408


@pytest.fixture
def small_caps(server_with: Callable[..., Serve]) -> Serve:
    return server_with(
        RAPPORT_MAX_UNINITIALISED_WEBSOCKETS_PER_ADDRESS="2",
        RAPPORT_MAX_CONNECTIONS="5",
        # Long enough that nothing the test holds open is closed under it.
        RAPPORT_CONNECTION_INIT_TIMEOUT_S="300",
        RAPPORT_HEADER_TIMEOUT_S="300",
        RAPPORT_RATE_LIMITS=NO_RATE_LIMITS,
    )


def test_websockets_without_connection_init_are_limited_per_address(small_caps: Serve) -> None:
    with ExitStack() as held:
        first = held.enter_context(websocket(small_caps))
        held.enter_context(websocket(small_caps))
        with websocket(small_caps) as third:
            assert close_code(third) == 4429
        # Another address has its own count.
        other = held.enter_context(websocket(small_caps, source="127.0.0.2"))
        other.send(json.dumps({"type": "ping"}))
        assert json.loads(other.recv(timeout=WAIT_S)) == {"type": "pong"}
        # connection_init (here without a token: refused, 4403) frees its place.
        first.send(json.dumps({"type": "connection_init"}))
        assert close_code(first) == 4403
        with websocket(small_caps) as again:
            again.send(json.dumps({"type": "ping"}))
            assert json.loads(again.recv(timeout=WAIT_S)) == {"type": "pong"}


def healthz_status(server: Serve) -> int:
    with httpx.Client(base_url=server.base_url, timeout=WAIT_S) as http:
        return http.get("/healthz").status_code


def test_connections_past_the_cap_are_answered_503_websockets_included(
    small_caps: Serve,
) -> None:
    with ExitStack() as held:
        ws = held.enter_context(websocket(small_caps, source="127.0.0.3"))
        idle = [held.enter_context(closing(raw(small_caps))) for _ in range(4)]
        eventually(lambda: healthz_status(small_caps) == 503)
        with pytest.raises(InvalidStatus) as refused:
            websocket(small_caps, source="127.0.0.4")
        assert refused.value.response.status_code == 503
        ws.close()
        idle[0].close()
        eventually(lambda: healthz_status(small_caps) == 200)


@pytest.fixture
def slow_hashing(server_with: Callable[..., Serve]) -> Serve:
    """One hashing thread and one place in its queue; each hash takes seconds (argon2's
    time cost), so whatever the test admits is still hashing when it asks again."""
    return server_with(
        RAPPORT_PASSWORD_HASH_THREADS="1",
        RAPPORT_PASSWORD_HASH_QUEUE="1",
        RAPPORT_ARGON2_TIME_COST="300",
        RAPPORT_RATE_LIMITS=NO_RATE_LIMITS,
    )


def login(server: Serve, email: str) -> dict[str, Any]:
    body = {"query": LOGIN, "variables": {"email": email, "password": "wrong password"}}
    response = httpx.post(f"{server.base_url}/graphql", json=body, timeout=WAIT_S * 2)
    return dict(response.json()["data"]["login"])


def test_a_full_hashing_queue_answers_rate_limited_at_once(slow_hashing: Serve) -> None:
    with ThreadPoolExecutor(2) as pool:
        admitted = [pool.submit(login, slow_hashing, f"a{i}@example.com") for i in range(2)]
        # One hashing, one waiting: the queue is full.
        eventually(lambda: metric(slow_hashing, "rapport_password_hashes") == 2)
        refused = login(slow_hashing, "late@example.com")
        assert refused["__typename"] == "RateLimited"
        assert refused["limit"] == "password_hashing"
        assert refused["retryAfter"] >= 1
        assert [f.result()["__typename"] for f in admitted] == ["InvalidCredentials"] * 2
    assert metric(slow_hashing, "rapport_password_hashes") == 0
    assert login(slow_hashing, "later@example.com")["__typename"] == "InvalidCredentials"


class Cycle:
    response_started = False


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True


def test_a_response_is_written_in_one_send() -> None:
    transport, cycle = Transport(), Cycle()
    held = HeadHeld(transport, cycle)  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response: at once
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started = True
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert len(transport.writes) == 1  # the head waits for the body
    held.write(b"body")
    held.write(b"more")
    assert transport.writes[1:] == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]
    started, cut_short = Transport(), Cycle()
    cut_short.response_started = True
    one = HeadHeld(started, cut_short)  # type: ignore[arg-type]
    one.write(b"HTTP/1.1 200 OK\r\n\r\n")
    one.close()  # e.g. the app failed after starting its answer: what was held goes first
    assert started.writes == [b"HTTP/1.1 200 OK\r\n\r\n"] and started.closed


def test_continue_head_and_kept_alive_answers_are_whole(quick_timeouts: Serve) -> None:
    body = json.dumps({"query": "{ __typename }"}).encode()
    post = (
        "POST /graphql HTTP/1.1\r\nHost: rapport\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with closing(raw(quick_timeouts)) as sock:
        sock.sendall(post)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body is sent
        sock.sendall(body)
        answer = b""
        while not answer.endswith(b'{"data":{"__typename":"Query"}}'):
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: rapport\r\nConnection: close\r\n\r\n")
        head = read_until_closed(sock)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
