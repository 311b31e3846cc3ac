"""Several app instances (real `uvicorn` processes) on one PostgreSQL and one real (private)
redis-server: a message sent through one reaches a subscriber on another; restarting Redis or
killing an instance loses nothing a client can see."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets

from tests.support.over_http import WAIT_S, conversation, gql
from tests.support.redis_server import RedisServer

ADDED = """subscription($c: ID!, $after: ID) { messageAdded(conversationId: $c, after: $after) {
  __typename ... on Message { id body } } }"""
SEND = """mutation($c: ID!, $b: String!, $k: String!) {
  sendMessage(conversationId: $c, body: $b, clientMessageId: $k) { __typename ... on Message { id } } }"""


@asynccontextmanager
async def subscription(
    base: str, token: str, conversation_id: str, after: str = "0"
) -> AsyncIterator[Any]:
    url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": ADDED,
                        "variables": {"c": conversation_id, "after": after},
                    },
                }
            )
        )
        # From the cursor: whatever was committed before the server had subscribed is
        # replayed from the database, so the test has no race to lose.
        yield ws


async def receive_ids(ws: Any, count: int, into: list[str]) -> None:
    while len(into) < count:
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        if message.get("type") == "next":
            into.append(message["payload"]["data"]["messageAdded"]["id"])


async def send(base: str, token: str, conversation_id: str, body: str) -> str:
    data = await gql(base, SEND, {"c": conversation_id, "b": body, "k": uuid.uuid4().hex}, token)
    assert data["sendMessage"]["__typename"] == "Message", data
    return data["sendMessage"]["id"]


async def settle(base: str, token: str, conversation_id: str) -> str:
    """Send a marker message and return its id: once a subscriber receives it, the
    subscription is certainly live."""
    return await send(base, token, conversation_id, "marker")


async def test_a_message_sent_through_one_instance_reaches_a_subscriber_on_another(
    instances,
) -> None:
    one, two = (s.base_url for s in instances)
    a, b, conv = await conversation(one, instances[0].database_url)
    got: list[str] = []
    async with subscription(two, b, conv) as ws:
        marker = await settle(one, a, conv)
        await receive_ids(ws, 1, got)
        assert got == [marker]
        sent = [await send(one, a, conv, f"m{i}") for i in range(10)]
        await receive_ids(ws, 11, got)
    assert got[1:] == sent


async def test_redis_restart_loses_nothing(instances, redis_server: RedisServer) -> None:
    one, two = (s.base_url for s in instances)
    a, b, conv = await conversation(one, instances[0].database_url)
    got: list[str] = []
    async with subscription(two, b, conv) as ws:
        marker = await settle(one, a, conv)
        await receive_ids(ws, 1, got)
        sent: list[str] = [marker]
        for i in range(30):
            if i == 10:
                redis_server.stop()  # killed, as in a crash
            if i == 20:
                redis_server.start()  # same port: the instances reconnect on their own
            sent.append(await send(one, a, conv, f"m{i}"))  # sends keep succeeding
        # Messages committed while Redis was away reach the subscriber once its hub has
        # reconnected and told it to re-read; then everything flows again.
        after_restart = await send(one, a, conv, "after restart")
        sent.append(after_restart)
        await receive_ids(ws, len(sent), got)
    assert got == sent  # every message, in order, exactly once
    for server in instances:
        assert server.proc.poll() is None  # both instances stayed up


async def test_a_client_of_a_killed_instance_resumes_elsewhere_from_its_cursor(instances) -> None:
    one, two = instances
    a, b, conv = await conversation(one.base_url, one.database_url)
    got: list[str] = []
    sent: list[str] = []
    async with subscription(one.base_url, b, conv) as ws:
        sent.append(await settle(two.base_url, a, conv))
        await receive_ids(ws, 1, got)
        for i in range(5):
            sent.append(await send(two.base_url, a, conv, f"before {i}"))
        await receive_ids(ws, 6, got)
        one.proc.send_signal(signal.SIGKILL)  # the instance dies; the socket drops
        one.proc.wait(timeout=WAIT_S)
        for i in range(5):  # the conversation goes on meanwhile
            sent.append(await send(two.base_url, a, conv, f"during {i}"))
        with pytest.raises(websockets.ConnectionClosed):
            await receive_ids(ws, 100, got)
    async with subscription(two.base_url, b, conv, after=got[-1]) as ws:  # resume from the cursor
        sent.append(await send(two.base_url, a, conv, "after"))
        await receive_ids(ws, len(sent), got)
    assert got == sent
