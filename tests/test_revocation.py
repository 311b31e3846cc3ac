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
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

from rapport.revocations import Revocation
from rapport.transport import FORBIDDEN
from resolvers import accounts
from tests.support.database import raw_dsn
from tests.support.ids import user_of
from tests.support.mailbox import PASSWORD, sign_up
from tests.support.over_http import WAIT_S, conversation, gql
from tests.support.servers import free_port
from tests.support.settings import make_settings

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


async def streaming(
    base: str, sender: str, conv: str, *sockets: Socket, queries: tuple[str, ...] = (ADDED,)
) -> None:
    """Subscribe each socket to `queries` on the conversation, then wait until a message sent
    now reaches each: their streams are live."""
    for ws in sockets:
        for query in queries:
            await ws.subscribe(query, {"c": conv})
    await send(base, sender, conv, "before")
    for ws in sockets:
        await ws.until("messageAdded", body="before")


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
    victim = user_of((await gql(two.base_url, ME, token=used))["me"]["id"])
    async with (
        socket(one.base_url, used) as used_ws,
        socket(one.base_url, other) as other_ws,
    ):
        sockets = {"used": used_ws, "other": other_ws}
        await streaming(two.base_url, sender, conv, *sockets.values(), queries=(ADDED, TYPING))

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


@asynccontextmanager
async def serving(settings: Any, encoder: Any) -> AsyncIterator[tuple[str, Any]]:
    """The app under uvicorn in this process (so a test can reach its resources): yields the
    base URL and the app."""
    from app import create_app

    app = create_app(settings, encoder)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                assert not task.done(), "the server stopped while starting"
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


@pytest.fixture
async def one_process(database_url: str, encoder: Any) -> AsyncIterator[tuple[str, Any]]:
    """One instance, in-process pub/sub (no REDIS_URL)."""
    async with serving(make_settings(database_url), encoder) as served:
        yield served


async def test_in_one_process_logout_closes_only_that_tokens_sockets(
    one_process, database_url
) -> None:
    base, _ = one_process
    sender, used, conv = await conversation(base, database_url)
    other = await login(base, used)
    async with socket(base, used) as used_ws, socket(base, other) as other_ws:
        await streaming(base, sender, conv, used_ws, other_ws)
        await revoke("logout", base, "", used, "")
        assert await used_ws.closed() == FORBIDDEN
        await send(base, sender, conv, "after")
        await other_ws.until("messageAdded", body="after")


async def test_logout_sent_on_the_socket_itself_answers_then_closes(
    one_process, database_url
) -> None:
    base, _ = one_process
    _, token, conv = await conversation(base, database_url)
    async with socket(base, token) as ws:
        await ws.subscribe(ADDED, {"c": conv})
        op = await ws.subscribe("mutation { logout { __typename } }")
        assert await ws.closed() == FORBIDDEN
    answers = [m for m in ws.received if m.get("id") == op]
    assert answers == [
        {
            "id": op,
            "type": "next",
            "payload": {"data": {"logout": {"__typename": "LogoutPayload"}}},
        },
        {"id": op, "type": "complete"},
    ]


async def test_a_revocation_between_authentication_and_registration_still_ends_the_socket(
    one_process, database_url, monkeypatch
) -> None:
    """The race the generation counter closes: the token is authenticated at connection_init,
    then (before the socket is registered) revoked and the revocation applied. Here the
    revocation is made to happen exactly there."""
    base, app = one_process
    _, token, _ = await conversation(base, database_url)
    resources = app.state.resources
    authenticate = accounts.authenticate
    raced: list[bool] = []

    async def revoked_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = await authenticate(*args, **kwargs)
        if found is not None and not raced:
            raced.append(True)
            viewer = found[0]
            async with resources.raw_pool.acquire() as conn:
                await conn.execute("DELETE FROM auth_tokens WHERE id = $1", viewer.token_id)
            resources.revocations.apply(Revocation(viewer.id, token_id=viewer.token_id))
        return found

    resources.viewer_cache.clear()  # so connection_init authenticates in the database
    monkeypatch.setattr(accounts, "authenticate", revoked_meanwhile)
    async with socket(base, token) as ws:  # acknowledged: it was valid when checked
        assert raced
        assert await ws.closed() == FORBIDDEN  # without waiting for a subscribe to check


async def test_a_subscribe_after_an_unannounced_revocation_closes_the_socket(
    one_process, database_url
) -> None:
    """A revocation this process never heard of (tokens deleted by hand, say, or an
    announcement Redis lost) is found by the next subscribe's check once the viewer cache no
    longer holds the token: 4403, and the subscription never runs."""
    base, app = one_process
    _, token, conv = await conversation(base, database_url)
    resources = app.state.resources
    async with socket(base, token) as ws:
        async with resources.raw_pool.acquire() as conn:
            await conn.execute("DELETE FROM auth_tokens")
        resources.viewer_cache.clear()  # as its TTL would
        await ws.subscribe(ADDED, {"c": conv})
        assert await ws.closed() == FORBIDDEN
    assert not [m for m in ws.received if m.get("type") == "next"]


async def test_sockets_of_tokens_gone_unannounced_close_at_the_periodic_recheck(
    database_url, encoder, monkeypatch
) -> None:
    """Every process checks its sockets' tokens once a minute (here: much more often), so a
    token deleted by hand, expired, or revoked by an announcement that was lost, ends its
    sockets without anything else happening on them."""
    import app as app_module

    monkeypatch.setattr(app_module, "SOCKET_RECHECK_INTERVAL_S", 0.05)
    async with serving(make_settings(database_url), encoder) as (base, app):
        sender, token, conv = await conversation(base, database_url)
        async with socket(base, token) as gone_ws, socket(base, sender) as kept_ws:
            await streaming(base, sender, conv, gone_ws, kept_ws)
            digest = app.state.resources.credentials.token_digest(token)
            async with app.state.resources.raw_pool.acquire() as conn:
                await conn.execute(
                    "UPDATE auth_tokens SET expires_at = now() WHERE token_hash = $1", digest
                )
            assert await gone_ws.closed() == FORBIDDEN
            await send(base, sender, conv, "after")
            await kept_ws.until("messageAdded", body="after")


async def test_a_gap_rechecks_every_live_socket(database_url, encoder, redis_server) -> None:
    """Redis restarted: announcements made meanwhile are lost, so the process checks each
    live socket's token in the database and closes those that were revoked."""
    settings = make_settings(database_url, redis_url=redis_server.url)
    async with serving(settings, encoder) as (base, app):
        sender, token, conv = await conversation(base, database_url)
        async with socket(base, token) as revoked_ws, socket(base, sender) as kept_ws:
            await streaming(base, sender, conv, revoked_ws, kept_ws)
            digest = app.state.resources.credentials.token_digest(token)
            async with app.state.resources.raw_pool.acquire() as conn:  # no announcement
                await conn.execute("DELETE FROM auth_tokens WHERE token_hash = $1", digest)
            redis_server.stop()
            redis_server.start()
            assert await revoked_ws.closed() == FORBIDDEN
            await kept_ws.ws.send(json.dumps({"type": "ping"}))  # the other one stays open
            while (await kept_ws.next()).get("type") != "pong":
                pass


def test_what_a_revocation_covers_and_how_it_travels() -> None:
    from rapport.revocations import LiveSockets

    user, used, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    only, every, all_but = (
        Revocation(user, token_id=used),
        Revocation(user),
        Revocation(user, keep=used),
    )
    assert [only.covers(t) for t in (used, other)] == [True, False]
    assert [every.covers(t) for t in (used, other)] == [True, True]
    assert [all_but.covers(t) for t in (used, other)] == [False, True]
    for revocation in (only, every, all_but):
        assert Revocation.from_message(json.loads(json.dumps(revocation.to_message()))) == (
            revocation
        )
    assert Revocation.from_message({"user": str(user)}) is None  # a plain cache eviction
    with pytest.raises(ValueError):
        Revocation.from_message({"user": str(user), "revoked": "not a token id"})

    class Held:
        def __init__(self) -> None:
            self.ended = 0

        def revoked(self) -> None:
            self.ended += 1

    sockets, on_used, on_other, stranger = LiveSockets(), Held(), Held(), Held()
    with (
        sockets.hold(on_used, user, used),
        sockets.hold(on_other, user, other),
        sockets.hold(stranger, uuid.uuid4(), uuid.uuid4()),
    ):
        assert sockets.end(only) == 1 and (on_used.ended, on_other.ended) == (1, 0)
        assert sockets.end(all_but) == 1 and (on_used.ended, on_other.ended) == (1, 1)
        assert stranger.ended == 0 and len(sockets) == 3
    assert len(sockets) == 0 and sockets.end(every) == 0  # released: nothing left to end
