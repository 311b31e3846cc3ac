"""Authenticating subscriptions: every connection_init payload shape the common clients send
(README: Clients, "Authenticating subscriptions"), each over a real socket to a real uvicorn,
and one subscription end to end through the real graphql-ws client in Node."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.typing import Subprotocol

from tests.support.ids import gid, key
from tests.support.node_clients import CLIENTS
from tests.support.notifications import INTEREST, NOTIFICATIONS, interest_from
from tests.support.over_http import gql, person
from tests.support.servers import running_server

WAIT_S = 60  # the longest one step may take before the test fails (never a timing target)
ME = "{ me { __typename ... on Me { id } } }"
# (name, payload with TOKEN where the token goes)
SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("token", {"token": "TOKEN"}),
    ("token, Bearer", {"token": "Bearer TOKEN"}),
    ("authToken", {"authToken": "TOKEN"}),
    ("Authorization", {"Authorization": "Bearer TOKEN"}),
    ("Authorization, no Bearer", {"Authorization": "TOKEN"}),
    ("authorization", {"authorization": "bearer TOKEN"}),
    ("headers.Authorization", {"headers": {"Authorization": "Bearer TOKEN"}}),
    ("headers.authorization", {"headers": {"authorization": "TOKEN"}}),
    ("empty token, then authToken", {"token": "", "authToken": "TOKEN"}),
]
REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("none", {}),
    ("Bearer alone", {"Authorization": "Bearer "}),
    ("another scheme", {"headers": {"Authorization": "Basic TOKEN"}}),
    ("not text", {"token": {"value": "TOKEN"}}),
    ("unknown key", {"accessToken": "TOKEN"}),
]


def filled(payload: Any, token: str) -> Any:
    return json.loads(json.dumps(payload).replace("TOKEN", token))


async def me_over_socket(url: str, payload: Any) -> str:
    """connection_init with `payload`, then `me`: the person's id, or how the socket closed."""
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        except websockets.ConnectionClosed:
            return f"closed {ws.close_code}"
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": ME}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        assert answer["type"] == "next", answer
        return str(answer["payload"]["data"]["me"]["id"])


def me_of(user: str) -> str:
    """The Me id of the person a User id names (two views of one person, two ids)."""
    return gid("Me", key(user))


def test_every_connection_init_shape_authenticates(database_url: str, tmp_path: Path) -> None:
    with running_server(database_url, tmp_path / "server.log") as server:
        url = server.base_url.replace("http", "ws", 1) + "/graphql"

        async def run() -> tuple[str, dict[str, str], dict[str, str]]:
            token, user = await person(server.base_url, database_url)
            accepted = {name: await me_over_socket(url, filled(p, token)) for name, p in SHAPES}
            refused = {name: await me_over_socket(url, filled(p, token)) for name, p in REFUSED}
            return user, accepted, refused

        user, accepted, refused = asyncio.run(run())
    assert accepted == {name: me_of(user) for name, _ in SHAPES}
    assert refused == {name: "closed 4403" for name, _ in REFUSED}


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    if found is None or not (CLIENTS / "node_modules" / "graphql-ws").is_dir():
        pytest.fail("node and tests/clients/node_modules are needed: run `make setup`")
    return found


def test_graphql_ws_client_in_node_subscribes_and_receives(
    node: str, database_url: str, tmp_path: Path
) -> None:
    """graphql-ws's own createClient (what Apollo, urql and Relay set-ups wrap), with
    Authorization: Bearer in connectionParams, receives a notification as it happens."""
    with running_server(database_url, tmp_path / "server.log") as server:
        url = server.base_url.replace("http", "ws", 1) + "/graphql"

        async def two() -> list[tuple[str, str]]:
            return [await person(server.base_url, database_url) for _ in range(2)]

        (token, user), (other_token, other) = asyncio.run(two())
        params = json.dumps({"Authorization": f"Bearer {token}"})
        # after "0": everything after the first id too, so whether the interest lands before
        # or after the subscription starts, it is delivered.
        variables = json.dumps({"after": "0"})
        with subprocess.Popen(
            [node, "graphql_ws_subscribe.mjs", url, params, NOTIFICATIONS, variables],
            cwd=CLIENTS,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as client:
            assert client.stdout is not None
            first = json.loads(client.stdout.readline() or "{}")
            assert first == {"event": "connected"}, (first, client.stderr)
            sent = asyncio.run(gql(server.base_url, INTEREST, {"id": user}, other_token))
            assert sent["sendInterest"]["__typename"] == "InterestRequest", sent
            out, err = client.communicate(timeout=WAIT_S)
        assert client.returncode == 0, (out, err)
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0] == {"event": "next", "result": interest_from(other)}, events
