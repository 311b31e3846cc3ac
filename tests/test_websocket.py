"""graphql-transport-ws at /graphql: subprotocol, authentication in connection_init."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.support.mailbox import PASSWORD, sign_up_client

PROTOCOL = ["graphql-transport-ws"]


@pytest.fixture
def http(settings, encoder_model):
    from app import create_app
    from matching.batching import BatchingEncoder

    with TestClient(create_app(settings, BatchingEncoder(encoder_model))) as client:
        yield client


def token(http: TestClient) -> str:
    return sign_up_client(http, "ws@example.com", PASSWORD)["token"]


@pytest.mark.parametrize("payload", [{"token": "{t}"}, {"Authorization": "Bearer {t}"}])
def test_token_in_connection_init_authenticates(http, payload) -> None:
    t = token(http)
    init = {k: v.format(t=t) for k, v in payload.items()}
    with http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        assert ws.accepted_subprotocol == "graphql-transport-ws"
        ws.send_json({"type": "connection_init", "payload": init})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        for n in ("1", "2"):  # two operations on one connection, one authentication
            ws.send_json(
                {
                    "id": n,
                    "type": "subscribe",
                    "payload": {"query": "{ me { ... on Me { email } } }"},
                }
            )
            assert ws.receive_json() == {
                "id": n,
                "type": "next",
                "payload": {"data": {"me": {"email": "ws@example.com"}}},
            }
            assert ws.receive_json() == {"id": n, "type": "complete"}


@pytest.mark.parametrize("init", [{}, {"token": "rpt_not-a-real-token"}, {"token": 42}])
def test_missing_or_invalid_token_closes_with_4403(http, init) -> None:
    with http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": init})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4403


def test_only_graphql_transport_ws_is_spoken(http) -> None:
    """The legacy graphql-ws subprotocol had an authentication bypass: refuse it."""
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        http.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4406
