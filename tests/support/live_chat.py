"""Chat over graphql-transport-ws against one app in a Starlette TestClient: a signed-up
person with a profile and their socket (Client), two who matched and their conversation
(matched), subscribing, the next result of a subscription, sending a message."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.testclient import TestClient, WebSocketTestSession

from tests.support.ids import user_of
from tests.support.mailbox import PASSWORD, sign_up_client
from tests.support.people import profile_input

PROTOCOL = ["graphql-transport-ws"]
_ids = itertools.count(1)
SEND = """mutation($c: ID!, $b: String!, $k: String!) {
  sendMessage(conversationId: $c, body: $b, clientMessageId: $k) { ... on Message { id } } }"""
ADDED = """subscription($c: ID!, $after: ID) { messageAdded(conversationId: $c, after: $after) {
  __typename ... on Message { id body mine } ... on NotFound { code } } }"""


class Client:
    def __init__(self, http: TestClient, **profile_fields: Any) -> None:
        self.http = http
        email = f"live-{uuid.uuid4().hex[:10]}@example.com"
        signed_up = sign_up_client(http, email, PASSWORD)
        self.token = signed_up["token"]
        self.id = user_of(signed_up["me"]["id"])  # their User id
        created = self.gql(
            "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }",
            {"i": {**profile_input(), **profile_fields}},
        )
        assert created["createProfile"]["__typename"] == "OwnProfile", created

    def gql(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        token = kw.get("token", getattr(self, "token", None))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        ).json()
        assert "errors" not in body, body
        return body["data"]

    @contextmanager
    def socket(self) -> Iterator[WebSocketTestSession]:
        with self.http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            ws.send_json({"type": "connection_init", "payload": {"token": self.token}})
            assert ws.receive_json()["type"] == "connection_ack"
            yield ws


def subscribe(ws: WebSocketTestSession, query: str, variables: dict[str, Any] | None = None) -> str:
    sid = str(next(_ids))
    ws.send_json(
        {"id": sid, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
    )
    return sid


def next_data(ws: WebSocketTestSession, sid: str) -> Any:
    message = ws.receive_json()
    assert message["type"] == "next" and message["id"] == sid, message
    assert "errors" not in message["payload"], message
    return next(iter(message["payload"]["data"].values()))


def matched(http: TestClient) -> tuple[Client, Client, str]:
    a, b = Client(http), Client(http)
    like = "mutation($id: ID!) { like(userId: $id) { __typename } }"
    a.gql(like, {"id": b.id})
    b.gql(like, {"id": a.id})
    convs = a.gql("{ conversations { ... on ConversationConnection { nodes { id } } } }")
    return a, b, convs["conversations"]["nodes"][0]["id"]


def send(who: Client, conversation: str, body: str) -> str:
    return who.gql(SEND, {"c": conversation, "b": body, "k": uuid.uuid4().hex})["sendMessage"]["id"]
