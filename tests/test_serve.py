"""`rapport serve` as a real process: it stops the embedded PostgreSQL it started on SIGTERM and
SIGINT, refuses bad set-ups in one line, and runs several workers that share evictions."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rapport.settings import PROJECT_ROOT
from tests.support.mailbox import PASSWORD, sign_up_sync
from tests.support.redis_server import RedisServer
from tests.support.servers import free_port
from tests.support.serving import RAPPORT, WAIT_S, environment, one_line_error, serve

ME = "{ me { __typename ... on Me { id } } }"


@pytest.fixture
def data_dir(encoder_model: Any) -> Iterator[Path]:
    """A fresh data directory (short: the socket lives in it) sharing the built encoder."""
    path = Path(f"/tmp/rapport-serve-{secrets.token_hex(4)}")
    path.mkdir()
    (path / "models").symlink_to(PROJECT_ROOT / "var" / "models")
    try:
        yield path
    finally:
        subprocess.run([*RAPPORT, "db", "stop"], env=environment(RAPPORT_DATA_DIR=str(path)))
        subprocess.run(["rm", "-rf", str(path)], check=False)


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet has stopped: its parent is not ours to wait for)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_sigterm_and_sigint_stop_the_embedded_postgres(data_dir: Path, tmp_path: Path) -> None:
    pgdata = data_dir / "pgdata"
    env = {"RAPPORT_DATA_DIR": str(data_dir)}
    with serve(tmp_path, **env) as server:
        pid = postmaster_pid(pgdata)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(WAIT_S) == 0, server.log
    assert not (pgdata / "postmaster.pid").exists() and not alive(pid), server.log
    assert "Embedded PostgreSQL stopped." in server.log
    # Again on the same data, after a process that held it was killed without cleaning up
    # (its pid stays listed as a user of the server): Ctrl-C still stops PostgreSQL.
    (pgdata / ".handle_pids.json").write_text(json.dumps([dead_pid()]))
    with serve(tmp_path, **env) as server:
        pid = postmaster_pid(pgdata)
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(WAIT_S) == 0, server.log
    assert not (pgdata / "postmaster.pid").exists() and not alive(pid), server.log
    assert "Rapport stopped" in server.log and "Traceback" not in server.log


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_unreachable_redis_is_one_line_naming_it_before_anything_starts(tmp_path: Path) -> None:
    url = f"redis://:hunter2-long@127.0.0.1:{free_port()}/0"  # nobody listens there
    line = one_line_error("serve", REDIS_URL=url, RAPPORT_DATA_DIR=str(tmp_path / "data"))
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in line
    assert "hunter2" not in line
    assert not (tmp_path / "data" / "pgdata").exists()  # no PostgreSQL was started for nothing


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        ('{"login_per_address": "30/minute;oops"}', "login_per_address: 'oops' is not a rate"),
        ('{"likes_per_day": "30 per fortnight"}', "unknown period 'fortnight'"),
        ('{"messages_per_minute": "30/minute",}', "RAPPORT_RATE_LIMITS: not valid JSON"),
        ('{"login_per_adress": "3/minute"}', "unknown rate limit(s) login_per_adress"),
        ('{"reports_per_day": 5}', "RAPPORT_RATE_LIMITS: reports_per_day: Input should be"),
    ],
)
def test_malformed_rate_limits_name_what_is_wrong(rates: str, expected: str) -> None:
    line = one_line_error("serve", RAPPORT_RATE_LIMITS=rates)
    assert expected in line, line


def test_several_workers_need_redis() -> None:
    line = one_line_error("serve", "--workers", "2")
    assert "--workers 2 needs REDIS_URL" in line


def test_bad_proxy_address_is_named() -> None:
    line = one_line_error("serve", RAPPORT_FORWARDED_ALLOW_IPS="10.0.0.1, proxy.internal")
    assert "RAPPORT_FORWARDED_ALLOW_IPS: 'proxy.internal' is not an IP address" in line


def access_clients(log: str) -> list[str]:
    """The client address of every JSON access line."""
    clients = []
    for line in log.splitlines():
        try:
            record = json.loads(line) if line.startswith("{") else {}
        except ValueError:
            continue
        if record.get("logger") == "rapport.access":
            clients.append(record["client"])
    return clients


def test_a_trusted_proxy_names_the_client(database_url: str, tmp_path: Path) -> None:
    """RAPPORT_FORWARDED_ALLOW_IPS lists the proxies whose X-Forwarded-For is believed (rate
    limits count per client address); nobody is believed by default (see the workers test)."""
    with serve(
        tmp_path,
        DATABASE_URL=database_url,
        RAPPORT_FORWARDED_ALLOW_IPS="127.0.0.1",
        RAPPORT_LOG_FORMAT="json",
    ) as server:
        response = httpx.get(
            f"{server.base_url}/healthz", headers={"X-Forwarded-For": "203.0.113.7"}
        )
        assert response.status_code == 200
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(WAIT_S) == 0, server.log
    assert access_clients(server.log)[-1] == "203.0.113.7", server.log


def me_on_new_connections(base_url: str, token: str, count: int) -> list[tuple[str, str]]:
    """`me` on `count` fresh connections (so the workers' shared socket spreads them): each
    answer's typename and request id."""
    answers = []
    for _ in range(count):
        with httpx.Client(base_url=base_url, timeout=WAIT_S) as client:
            response = client.post(
                "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"}
            )
        body = response.json()
        assert "errors" not in body, body
        answers.append((body["data"]["me"]["__typename"], response.headers["x-request-id"]))
    return answers


def workers_of(log: str, request_ids: set[str]) -> set[int]:
    """The pids that logged these requests (JSON access lines)."""
    pids = set()
    for line in log.splitlines():
        try:
            record = json.loads(line) if line.startswith("{") else {}
        except ValueError:  # a line cut by the other worker's
            continue
        if record.get("request_id") in request_ids:
            pids.add(record["pid"])
    return pids


def test_two_workers_share_one_port_and_evictions(database_url: str, tmp_path: Path) -> None:
    with (
        RedisServer() as redis_server,
        serve(
            tmp_path,
            "--workers",
            "2",
            DATABASE_URL=database_url,
            REDIS_URL=redis_server.url,
            RAPPORT_LOG_FORMAT="json",
        ) as server,
    ):
        ready = [line for line in server.log.splitlines() if "Rapport ready" in line]
        deadline = time.monotonic() + WAIT_S
        while len(ready) < 2 and time.monotonic() < deadline:  # the second may be a bit later
            time.sleep(0.1)
            ready = [line for line in server.log.splitlines() if "Rapport ready" in line]
        assert len(ready) == 2, server.log
        assert all(f"http://127.0.0.1:{server.port}/graphql" in line for line in ready), ready

        def post(body: dict[str, Any]) -> dict[str, Any]:
            return dict(httpx.post(f"{server.base_url}/graphql", json=body, timeout=WAIT_S).json())

        email = f"w-{secrets.token_hex(5)}@example.com"
        token = sign_up_sync(post, database_url, email, PASSWORD)["token"]
        # No proxy is trusted by default: the header is the client's word, and ignored.
        httpx.get(f"{server.base_url}/healthz", headers={"X-Forwarded-For": "203.0.113.7"})
        # Until both workers have answered (and cached the viewer); a bound, not a target.
        before: list[tuple[str, str]] = []
        while len(workers_of(server.log, {rid for _, rid in before})) < 2:
            assert len(before) < 400, "the second worker never answered"
            before += me_on_new_connections(server.base_url, token, 10)
        assert {kind for kind, _ in before} == {"Me"}

        with httpx.Client(base_url=server.base_url, timeout=WAIT_S) as client:
            answer = client.post(
                "/graphql",
                json={"query": "mutation { logoutEverywhere { __typename } }"},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
        assert answer["data"]["logoutEverywhere"]["__typename"] == "LogoutPayload", answer
        # From the next request on, no worker accepts the token, whichever ran the logout.
        after: list[tuple[str, str]] = []
        while len(workers_of(server.log, {rid for _, rid in after})) < 2:
            assert len(after) < 400, "the second worker never answered"
            after += me_on_new_connections(server.base_url, token, 10)
        assert {kind for kind, _ in after} == {"AuthenticationRequired"}, after

        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(WAIT_S) == 0, server.log
    assert server.log.count("Rapport stopped") == 2, server.log
    assert "203.0.113.7" not in access_clients(server.log), server.log


def test_the_body_limit_holds_for_http_bodies_and_websocket_frames(
    database_url: str, tmp_path: Path
) -> None:
    """RAPPORT_MAX_BODY_BYTES: a larger HTTP body is a 413 before parsing (tests/test_bodies.py
    has the details), a larger websocket frame closes the socket with 1009 (message too big)
    before the app sees it."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    from websockets.typing import Subprotocol

    padding = "x" * 5000
    with serve(tmp_path, DATABASE_URL=database_url, RAPPORT_MAX_BODY_BYTES="4096") as server:
        body = {"query": "{ __typename }", "variables": {"padding": padding}}
        response = httpx.post(f"{server.base_url}/graphql", json=body, timeout=WAIT_S)
        assert response.status_code == 413, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        url = server.base_url.replace("http", "ws", 1) + "/graphql"
        with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": {"padding": padding}}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WAIT_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        small = {"query": "{ __typename }"}
        assert httpx.post(f"{server.base_url}/graphql", json=small).status_code == 200
