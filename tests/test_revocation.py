"""Revocation reaches live streams (rapport/revocations.py): logout, logoutEverywhere,
changePassword, suspendUser and deleteAccount close the affected websockets with 4403, on every
instance; sockets of tokens that stay valid keep streaming.

Across instances: two real uvicorn processes on one PostgreSQL and one private redis-server,
the sockets on the first, the revoking mutation on the second. In one process (no REDIS_URL):
an in-process uvicorn server, so the tests can also reach into its resources."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from rapport.transport import FORBIDDEN
from tests.conftest import PASSWORD, raw_dsn
from tests.mailbox import sign_up
from tests.test_chat_cluster import WAIT_S, conversation, gql, instances, redis_server

__all__ = ["instances", "redis_server"]  # fixtures, used by name

NEW_PASSWORD = "another long password"
ADDED = """subscription($c: ID!) { messageAdded(conversationId: $c, after: "0") {
  __typename ... on Message { id body } } }"""
TYPING = (
    "subscription($c: ID!) { typing(conversationId: $c) { __typename ... on Typing { userId } } }"
)
SEND = """mutation($c: ID!, $b: String!, $k: String!) {
  sendMessage(conversationId: $c, body: $b, clientMessageId: $k) { __typename ... on Message { id } } }"""
ME = "{ me { __typename ... on Me { id email } } }"
LOGIN = """mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) {
  __typename ... on AuthPayload { token } } }"""


class Socket:
    """A graphql-transport-ws client socket (the `websockets` client, every wait bounded)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op = uuid.uuid4().hex[:8]
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
        return op

    async def next(self) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), WAIT_S))
        self.received.append(message)
        return message

    async def until(self, field: str, **expected: Any) -> None:
        """Until an event of subscription `field` whose fields include `expected`."""
        while True:
            message = await self.next()
            event = (message.get("payload", {}).get("data") or {}).get(field) or {}
            if expected.items() <= event.items():
                return

    async def closed(self) -> int:
        """Until the server closes the socket; its close code."""
        try:
            while True:
                await self.next()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "the socket dropped without a close frame"
            return closed.rcvd.code


@asynccontextmanager
async def socket(base: str, token: str) -> AsyncIterator[Socket]:
    url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["type"] == "connection_ack"
        yield Socket(ws)


async def send(base: str, token: str, conversation_id: str, body: str) -> None:
    data = await gql(base, SEND, {"c": conversation_id, "b": body, "k": uuid.uuid4().hex}, token)
    assert data["sendMessage"]["__typename"] == "Message", data


async def login(base: str, token: str) -> str:
    """A second token of the person `token` stands for."""
    email = (await gql(base, ME, token=token))["me"]["email"]
    data = await gql(base, LOGIN, {"e": email, "p": PASSWORD})
    return str(data["login"]["token"])


async def moderator(base: str, database_url: str) -> str:
    """A moderator's token (the role is set before the token is ever used, so no instance has
    a cached viewer without it)."""
    email = f"mod-{uuid.uuid4().hex[:10]}@example.com"

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as client:
            return (await client.post("/graphql", json=body)).json()

    token = str((await sign_up(post, database_url, email, PASSWORD))["token"])
    conn = await asyncpg.connect(raw_dsn(database_url))
    try:
        await conn.execute("UPDATE users SET role = 'moderator' WHERE email = $1", email)
    finally:
        await conn.close()
    return token


async def revoke(mutation: str, base: str, database_url: str, token: str, user_id: str) -> None:
    """Run one revoking mutation against `base` as the person of `token`."""
    if mutation == "logout":
        data = await gql(base, "mutation { logout { __typename } }", token=token)
        assert data["logout"]["__typename"] == "LogoutPayload", data
    elif mutation == "logoutEverywhere":
        data = await gql(base, "mutation { logoutEverywhere { __typename } }", token=token)
        assert data["logoutEverywhere"]["__typename"] == "LogoutPayload", data
    elif mutation == "changePassword":
        data = await gql(
            base,
            "mutation($c: String!, $n: String!) { changePassword(input: "
            "{currentPassword: $c, newPassword: $n}) { __typename } }",
            {"c": PASSWORD, "n": NEW_PASSWORD},
            token,
        )
        assert data["changePassword"]["__typename"] == "ChangePasswordPayload", data
    elif mutation == "deleteAccount":
        data = await gql(
            base,
            "mutation($p: String!) { deleteAccount(password: $p) { __typename } }",
            {"p": PASSWORD},
            token,
        )
        assert data["deleteAccount"]["__typename"] == "AccountDeleted", data
    else:
        assert mutation == "suspendUser"
        data = await gql(
            base,
            'mutation($id: ID!) { suspendUser(userId: $id, reason: "test") { __typename } }',
            {"id": user_id},
            await moderator(base, database_url),
        )
        assert data["suspendUser"]["__typename"] == "Suspension", data


# Which of the victim's two sockets end: the one of the token the mutation was made with
# ("used"), the one of the person's other token ("other").
ENDS = {
    "logout": {"used"},
    "logoutEverywhere": {"used", "other"},
    "changePassword": {"other"},  # the caller's own token stays valid
    "suspendUser": {"used", "other"},
    "deleteAccount": {"used", "other"},
}


@pytest.mark.parametrize("mutation", list(ENDS))
async def test_a_revocation_on_one_instance_closes_sockets_on_the_other(
    instances, mutation: str
) -> None:
    one, two = instances
    sender, used, conv = await conversation(two.base_url, two.database_url)
    other = await login(two.base_url, used)
    victim = (await gql(two.base_url, ME, token=used))["me"]["id"]
    async with (
        socket(one.base_url, used) as used_ws,
        socket(one.base_url, other) as other_ws,
    ):
        sockets = {"used": used_ws, "other": other_ws}
        for ws in sockets.values():
            await ws.subscribe(ADDED, {"c": conv})
            await ws.subscribe(TYPING, {"c": conv})
        await send(two.base_url, sender, conv, "before")
        for ws in sockets.values():  # both streams are live
            await ws.until("messageAdded", body="before")

        await revoke(mutation, two.base_url, two.database_url, used, victim)
        answered = time.monotonic()
        for name in sorted(ENDS[mutation]):
            assert await sockets[name].closed() == FORBIDDEN, name
            print(f"{mutation}: {name} socket closed {time.monotonic() - answered:.3f} s after")
        if mutation != "deleteAccount":  # (the conversation went with the account)
            # A socket whose token is still valid goes on streaming.
            await gql(
                two.base_url,
                "mutation($c: ID!) { sendTyping(conversationId: $c) { __typename } }",
                {"c": conv},
                sender,
            )
            await send(two.base_url, sender, conv, "after")
            for name in sorted(set(sockets) - ENDS[mutation]):
                await sockets[name].until("typing", __typename="Typing")
                await sockets[name].until("messageAdded", body="after")
    assert (await gql(one.base_url, ME, token=used))["me"]["__typename"] == (
        "Me" if mutation == "changePassword" else "AuthenticationRequired"
    )
    assert "Traceback" not in one.log  # ending the sockets raised nothing
