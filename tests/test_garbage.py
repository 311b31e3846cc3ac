"""What an operation allocates is freed by reference counting as soon as it is done, not left
in reference cycles for the cyclic collector: under load such garbage filled every young
collection and made the chat's worst latencies (schema/__init__.py `_weak_helpers`,
rapport/protocol.py `HeadHeld`)."""

from __future__ import annotations

import gc
import json
import threading
import types
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

from tests.support.live_chat import ADDED, matched, next_data, send, subscribe
from tests.support.servers import free_port

LOOKUP = "query($id: ID!) { node(id: $id) { id } }"  # its variable: a lone surrogate
OURS = (
    "app",
    "graphql",
    "matching",
    "models",
    "rapport",
    "resolvers",
    "schema",
    "strawberry",
    "uvicorn",
)


@pytest.fixture
def http(settings, encoder_model) -> Iterator[TestClient]:
    from app import create_app
    from matching.batching import BatchingEncoder

    with TestClient(create_app(settings, BatchingEncoder(encoder_model))) as client:
        yield client


def _module(o: Any) -> str:
    if isinstance(o, types.FunctionType):
        return o.__module__ or ""
    if isinstance(o, types.MethodType):
        return getattr(o.__func__, "__module__", "") or ""
    if isinstance(o, types.CoroutineType | types.GeneratorType | types.AsyncGeneratorType):
        code = getattr(o, "cr_code", None) or getattr(o, "gi_code", None) or o.ag_code  # type: ignore[union-attr]
        return code.co_filename.rsplit("site-packages/", 1)[-1].replace("/", ".")
    return type(o).__module__


def _name(o: Any) -> str:
    if isinstance(o, types.FunctionType | types.MethodType):
        return f"{_module(o)}.{o.__qualname__}"
    return f"{type(o).__module__}.{type(o).__qualname__}"


def cyclic_garbage_of(run: Any) -> list[str]:
    """What the collector finds unreachable after `run()` (with it off meanwhile), by name,
    for objects of Rapport, Strawberry and graphql-core."""
    gc.collect()
    gc.disable()
    try:
        gc.set_debug(gc.DEBUG_SAVEALL)
        run()
        gc.collect()
        return sorted({_name(o) for o in gc.garbage if _module(o).split(".")[0] in OURS})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_queries_mutations_and_deliveries_leave_no_cycles(http) -> None:
    a, b, conversation = matched(http)
    with b.socket() as ws:
        sid = subscribe(ws, ADDED, {"c": conversation})
        send(a, conversation, "warm-up")
        next_data(ws, sid)

        def lookup() -> None:  # variables checked for lone surrogates (schema/limits.py)
            answer = http.post(
                "/graphql",
                content=json.dumps({"query": LOOKUP, "variables": {"id": "x\ud800"}}),
                headers={"authorization": f"Bearer {a.token}", "content-type": "application/json"},
            )
            assert answer.json()["errors"][0]["extensions"]["code"] == "INVALID_UNICODE"

        lookup()  # its document parsed and validated once (graphql-core's visitors are cyclic)

        def chat() -> None:
            for i in range(3):
                send(a, conversation, f"m{i}")  # a mutation with variables, over HTTP
                assert next_data(ws, sid)["body"] == f"m{i}"  # a delivery, over the socket
            lookup()

        found = cyclic_garbage_of(chat)
        assert found == []


def test_answers_through_rapport_serves_http_protocol_leave_no_cycles(
    settings, encoder_model
) -> None:
    """The same over a real socket, through uvicorn and the HTTP protocol `rapport serve`
    runs (rapport/protocol.py), which the test client above does not use."""
    from app import create_app
    from matching.batching import BatchingEncoder

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, BatchingEncoder(encoder_model)),
            host="127.0.0.1",
            port=port,
            http="rapport.protocol:RapportHTTPProtocol",
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run)  # no signal handlers off the main thread
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

            def ask() -> None:
                answer = http.post("/graphql", json={"query": "{ __typename }"})
                assert answer.json() == {"data": {"__typename": "Query"}}

            deadline = 600
            while not server.started and deadline:
                threading.Event().wait(0.1)
                deadline -= 1
            for _ in range(3):
                ask()  # the connection open, the document prepared

            def answers() -> None:
                for _ in range(5):
                    ask()

            assert cyclic_garbage_of(answers) == []
    finally:
        server.should_exit = True
        thread.join()
