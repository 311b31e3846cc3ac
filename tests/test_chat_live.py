"""Chat over graphql-transport-ws (one app, in-process hub): messageAdded replays from a cursor
then streams with no gap or duplicate at the seam; notifications, typing, read receipts and
presence reach the right person only."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.ids import gid, key, number
from tests.support.live_chat import (
    ADDED,
    PROTOCOL,
    SEND,
    Client,
    matched,
    next_data,
    send,
    subscribe,
)


@pytest.fixture
def http(settings, encoder_model) -> Iterator[TestClient]:
    from app import create_app
    from matching.batching import BatchingEncoder

    with TestClient(create_app(settings, BatchingEncoder(encoder_model))) as client:
        yield client


def live(http: Any, conversation: str, subscriptions: int, within_s: float = 30) -> None:
    """Until this many messageAdded subscriptions of the conversation are live."""
    from resolvers.channels import conversation_channel

    hub = http.app.state.resources.hub
    channel = conversation_channel(number(conversation))
    deadline = time.monotonic() + within_s
    while hub.subscribers(channel) < subscriptions:
        assert time.monotonic() < deadline, f"{subscriptions} subscriptions never went live"
        time.sleep(0.01)


NOTIFICATIONS = """subscription($after: ID) { notifications(after: $after) {
  __typename ... on Notification { id kind actorId conversationId messageId requestId } } }"""
LISTED = """{ notifications { ... on NotificationConnection { nodes { id kind readAt } } } }"""


def test_message_added_replays_from_the_cursor_then_streams(http) -> None:
    a, b, conversation = matched(http)
    sent = [send(a, conversation, f"m{i}") for i in range(3)]
    with b.socket() as ws:
        sid = subscribe(ws, ADDED, {"c": conversation, "after": sent[0]})
        assert [next_data(ws, sid)["body"] for _ in range(2)] == ["m1", "m2"]  # replayed
        later = [send(a, conversation, f"n{i}") for i in range(3)]
        got = [next_data(ws, sid) for _ in range(3)]
        assert [g["id"] for g in got] == later and [g["body"] for g in got] == ["n0", "n1", "n2"]
        assert not any(g["mine"] for g in got)
        # Without a cursor: only what comes next (once it is live: graphql-ws has no ack).
        sid2 = subscribe(ws, ADDED, {"c": conversation})
        live(http, conversation, 2)
        last = send(b, conversation, "from b")
        seen = {}
        for _ in range(2):
            message = ws.receive_json()
            seen[message["id"]] = message["payload"]["data"]["messageAdded"]
        assert seen[sid]["id"] == last and seen[sid2]["id"] == last and seen[sid2]["mine"]


def test_a_message_whose_event_was_lost_is_read_from_the_database(http) -> None:
    """Events carry the message and the id before it; a subscriber whose last message is not
    that id (here: an event never published) reads the database instead, so nothing is
    skipped and nothing repeated."""
    from models import User
    from resolvers import chat
    from resolvers.accounts import Viewer

    a, b, conversation = matched(http)
    resources = http.app.state.resources

    async def store_silently(body: str) -> str:
        """Stored as sendMessage stores it, but its effects (the event) never run."""

        async def watching(_: uuid.UUID) -> bool:
            return True

        async with resources.sessionmaker() as session:
            user = await session.get_one(User, uuid.UUID(key(a.id)))
        viewer = Viewer(user=user, token_id=uuid.uuid4())
        sent = await chat.store_message(
            resources.raw_pool,
            resources.conversation_pairs,
            viewer,
            number(conversation),
            body,
            uuid.uuid4().hex,
            watching=watching,
        )
        return gid("Message", sent.message.id)

    with b.socket() as ws:
        sid = subscribe(ws, ADDED, {"c": conversation, "after": "0"})
        first = send(a, conversation, "first")
        assert next_data(ws, sid)["id"] == first  # carried by its event
        assert http.portal is not None
        lost = http.portal.call(store_silently, "lost")
        after = send(a, conversation, "after")  # its event names `lost` as the one before
        got = [next_data(ws, sid) for _ in range(2)]
        assert [g["id"] for g in got] == [lost, after]
        assert [g["body"] for g in got] == ["lost", "after"]
        again = send(a, conversation, "again")  # back on the carried path
        assert next_data(ws, sid)["id"] == again


def test_a_long_subscription_does_not_grow_per_message(http) -> None:
    """Each delivered message is executed on its own; nothing of it stays with the
    subscription (graphql-core 3.3 kept one memo entry per event: see schema/__init__.py)."""
    import gc

    from graphql.execution.collect_fields import CollectedFields

    def collected() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, CollectedFields))

    a, b, conversation = matched(http)
    with b.socket() as ws:
        sid = subscribe(ws, ADDED, {"c": conversation})
        for i in range(5):  # warm up
            send(a, conversation, f"w{i}")
            next_data(ws, sid)
        before = collected()
        for i in range(40):
            send(a, conversation, f"m{i}")
            assert next_data(ws, sid)["body"] == f"m{i}"
        assert collected() - before < 10


def test_send_message_over_the_websocket(http) -> None:
    """A client may send on the socket it already holds (authenticated by connection_init):
    the answer comes as `next` then `complete` for that id, and the other member's
    subscription gets the message."""
    a, b, conversation = matched(http)
    with b.socket() as listening, a.socket() as ws:
        sid = subscribe(listening, ADDED, {"c": conversation})
        variables = {"c": conversation, "b": "over the socket", "k": "ws-1"}
        op = subscribe(ws, SEND, variables)
        sent = next_data(ws, op)
        assert ws.receive_json() == {"id": op, "type": "complete"}
        got = next_data(listening, sid)
        assert got["id"] == sent["id"] and got["body"] == "over the socket"
        again = subscribe(ws, SEND, variables)  # a retry on the socket: the same message
        assert next_data(ws, again) == sent


def test_strangers_cannot_subscribe_to_a_conversation(http) -> None:
    _, _, conversation = matched(http)
    stranger = Client(http)
    with stranger.socket() as ws:
        sid = subscribe(ws, ADDED, {"c": conversation})
        assert next_data(ws, sid) == {"__typename": "NotFound", "code": "NOT_FOUND"}
        assert ws.receive_json() == {"id": sid, "type": "complete"}


def test_notifications_arrive_live_and_are_stored(http) -> None:
    a, b = Client(http), Client(http)
    with b.socket() as ws:
        sid = subscribe(ws, NOTIFICATIONS)
        request = a.gql(
            'mutation($id: ID!) { sendInterest(userId: $id, message: "hi") { '
            "... on InterestRequest { id } } }",
            {"id": b.id},
        )["sendInterest"]["id"]
        got = next_data(ws, sid)
        assert got["kind"] == "INTEREST_RECEIVED" and got["actorId"] == a.id
        assert got["requestId"] == request
    with a.socket() as ws:
        sid = subscribe(ws, NOTIFICATIONS)
        b.gql(
            "mutation($id: ID!) { respondToInterest(id: $id, response: ACCEPT) { __typename } }",
            {"id": request},
        )
        accepted = next_data(ws, sid)
        assert accepted["kind"] == "INTEREST_ACCEPTED" and accepted["actorId"] == b.id
        conversation = accepted["conversationId"]
        assert conversation is not None
        # A message while A is not watching the conversation: a notification.
        message = send(b, conversation, "hello")
        note = next_data(ws, sid)
        assert note["kind"] == "NEW_MESSAGE" and note["messageId"] == message
        # While A watches it: the message arrives there, and no notification is stored.
        watch = subscribe(ws, ADDED, {"c": conversation})
        live(http, conversation, 1)  # watching from here (graphql-ws has no ack to wait for)
        watched = send(b, conversation, "seen live")
        assert next_data(ws, watch)["id"] == watched
    kinds = [n["kind"] for n in a.gql(LISTED)["notifications"]["nodes"]]
    assert kinds == ["NEW_MESSAGE", "INTEREST_ACCEPTED"]
    # Catching up from a cursor replays what was stored after it.
    with a.socket() as ws:
        first = a.gql(LISTED)["notifications"]["nodes"][-1]["id"]
        sid = subscribe(ws, NOTIFICATIONS, {"after": first})
        assert next_data(ws, sid)["kind"] == "NEW_MESSAGE"
    marked = a.gql(
        "mutation { markNotificationsRead { ... on NotificationsRead { marked unreadCount } } }"
    )
    assert marked["markNotificationsRead"] == {"marked": 2, "unreadCount": 0}


def test_typing_and_read_receipts_reach_the_other_member(http) -> None:
    a, b, conversation = matched(http)
    message = send(a, conversation, "are you there?")
    with a.socket() as ws:
        typing = subscribe(
            ws,
            "subscription($c: ID!) { typing(conversationId: $c) { ... on Typing { userId } } }",
            {"c": conversation},
        )
        receipts = subscribe(
            ws,
            "subscription($c: ID!) { readReceipts(conversationId: $c) { "
            "... on ReadReceipt { userId lastReadId } } }",
            {"c": conversation},
        )
        live(http, conversation, 2)
        a.gql(
            "mutation($c: ID!) { sendTyping(conversationId: $c) { __typename } }",
            {"c": conversation},
        )
        b.gql(
            "mutation($c: ID!) { sendTyping(conversationId: $c) { __typename } }",
            {"c": conversation},
        )
        assert next_data(ws, typing) == {"userId": b.id}  # not one's own typing
        b.gql(
            "mutation($c: ID!, $u: ID!) { markRead(conversationId: $c, upTo: $u) { __typename } }",
            {"c": conversation, "u": message},
        )
        assert next_data(ws, receipts) == {"userId": b.id, "lastReadId": message}


PRESENCE = """query($id: ID!) { presence(userId: $id) { __typename
  ... on Presence { online lastSeenAt } ... on NotFound { code } } }"""


def test_presence_is_for_matches_and_follows_live_subscriptions(http) -> None:
    a, b, _ = matched(http)
    stranger = Client(http)
    before = b.gql(PRESENCE, {"id": a.id})["presence"]
    assert before["online"] is False
    with a.socket() as ws:
        subscribe(ws, NOTIFICATIONS)
        # Online once the subscription is live (graphql-ws has no ack): poll briefly.
        for _ in range(200):
            if b.gql(PRESENCE, {"id": a.id})["presence"]["online"]:
                break
            time.sleep(0.05)
        assert b.gql(PRESENCE, {"id": a.id})["presence"]["online"] is True
        assert stranger.gql(PRESENCE, {"id": a.id})["presence"]["__typename"] == "NotFound"
    # The server ends the subscription as the socket closes: poll briefly for it.
    for _ in range(100):
        after = b.gql(PRESENCE, {"id": a.id})["presence"]
        if after["lastSeenAt"] > before["lastSeenAt"]:
            break
        time.sleep(0.05)
    assert after["online"] is False and after["lastSeenAt"] > before["lastSeenAt"]


def test_protocol_limits_and_errors(http, settings) -> None:
    from starlette.websockets import WebSocketDisconnect

    a = Client(http)
    cap = settings.max_subscriptions_per_connection
    with a.socket() as ws:
        ids = [subscribe(ws, NOTIFICATIONS) for _ in range(cap)]
        extra = subscribe(ws, NOTIFICATIONS)
        refused = ws.receive_json()
        assert refused["id"] == extra and refused["type"] == "error"
        assert refused["payload"][0]["message"] == "Subscription limit reached"
        ws.send_json({"id": ids[0], "type": "complete"})  # one ends: room for one more
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        subscribe(ws, NOTIFICATIONS)
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # no error this time
    with a.socket() as ws:  # a duplicate subscription id closes the socket: 4409
        sid = subscribe(ws, NOTIFICATIONS)
        ws.send_json({"id": sid, "type": "subscribe", "payload": {"query": NOTIFICATIONS}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4409
    with a.socket() as ws:  # a message that is not the protocol's: 4400
        ws.send_json({"type": "nonsense"})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4400
    with http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:  # subscribe before init
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": NOTIFICATIONS}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401


def test_a_socket_that_never_initialises_is_closed(database_url, encoder_model) -> None:
    from starlette.websockets import WebSocketDisconnect

    from app import create_app
    from matching.batching import BatchingEncoder
    from tests.support.settings import make_settings

    settings = make_settings(database_url, connection_init_timeout_s=0.2)
    with (
        TestClient(create_app(settings, BatchingEncoder(encoder_model))) as http,
        http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == 4408
