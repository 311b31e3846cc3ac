"""Relay against a live Rapport, in trusted-documents mode (issue 13 items 4 and 5).

relay-compiler (tests/clients/relay/relay.config.json) compiles tests/clients/relay/Rapport.js
against the committed schema.graphql on every run, into the gitignored
tests/clients/relay/__generated__/, with persistConfig writing persisted_queries.json; that
file is registered with `rapport documents register`, and a server with
RAPPORT_TRUSTED_DOCUMENTS=true runs tests/clients/relay.mjs: a relay-runtime Environment with
the network layer README Clients → "Relay" shows (ids over HTTP, ids over
graphql-transport-ws with `connectionParams: () => ({headers: {Authorization}})`). The script
reports what Relay's store holds after a query with fragments, a `@refetchable` fragment's
`node(id:)` refetch, a mutation and a subscription event; the test compares it with what the
server answers.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ids import gid, key, user_of
from tests.support.node_clients import CLIENTS, client_report, person
from tests.support.persisted import documents_cli, persisted
from tests.support.servers import running_server

PROJECT = CLIENTS / "relay"
GENERATED = PROJECT / "__generated__"  # relay.config.json's artifactDirectory (gitignored)
MANIFEST = GENERATED / "persisted_queries.json"  # its persistConfig.file
COMPILER = CLIENTS / "node_modules" / ".bin" / "relay-compiler"
OPERATIONS = {
    "RapportHomeQuery",
    "RapportProfileRefetchQuery",
    "RapportConversationRefetchQuery",
    "RapportUpdateProfileMutation",
    "RapportSendMessageMutation",
    "RapportMessageAddedSubscription",
}
# The fields of Rapport.js's fragments, to read the same ones out of the server's answers.
PROFILE = {"id": None, "displayName": None, "bio": None, "city": None, "interests": None}
MESSAGE = {"id": None, "body": None, "mine": None}
CONVERSATION = {
    "id": None,
    "open": None,
    "unreadCount": None,
    "user": {"id": None, "displayName": None},
    "lastMessage": MESSAGE,
}
LIKE = """mutation($u: ID!) { like(userId: $u) { __typename
  ... on SwipePayload { match { conversation { id } } } } }"""
SEND = """mutation($c: ID!, $b: String!, $k: String!) {
  sendMessage(conversationId: $c, body: $b, clientMessageId: $k) { __typename } }"""


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    if found is None or not COMPILER.exists():
        pytest.fail("node and tests/clients/node_modules are needed: run `make setup`")
    return found


def compile_relay() -> dict[str, str]:
    """relay-compiler from scratch; its persisted queries, `{id: text}`."""
    shutil.rmtree(GENERATED, ignore_errors=True)
    GENERATED.mkdir()
    MANIFEST.write_text("{}\n")  # the local persister adds to this file, which must exist
    done = subprocess.run(
        [str(COMPILER), "--output", "quiet-with-errors"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest: dict[str, str] = json.loads(MANIFEST.read_text())
    return manifest


def name_of(text: str) -> str:
    return text.split("(")[0].split("{")[0].split()[1]


def pick(value: Any, fields: dict[str, Any]) -> Any:
    """`value` with only `fields` (nested), as a Relay fragment reads it."""
    if value is None:
        return None
    return {k: value[k] if sub is None else pick(value[k], sub) for k, sub in fields.items()}


def post(http: httpx.Client, body: dict[str, Any], token: str) -> dict[str, Any]:
    answer: dict[str, Any] = http.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert "errors" not in answer, answer
    return answer["data"]


def test_relay_store_refetch_mutation_and_subscription(
    node: str, database_url: str, tmp_path: Path
) -> None:
    manifest = compile_relay()
    ids = {name_of(text): id_ for id_, text in manifest.items()}
    assert set(ids) == OPERATIONS, manifest
    registered = documents_cli(database_url, "register", str(MANIFEST))
    assert registered.exit_code == 0, registered.output
    assert f"Registered {len(OPERATIONS)} documents" in registered.output

    secret = {"RAPPORT_SECRET_KEY": secrets.token_urlsafe(48)}  # tokens outlive the first server
    with (
        running_server(database_url, tmp_path / "setup.log", **secret) as server,
        httpx.Client(base_url=server.base_url, timeout=60) as http,
    ):
        ann, bo = person(http, database_url, "ann"), person(http, database_url, "bo")
        post(http, {"query": LIKE, "variables": {"u": ann["id"]}}, bo["token"])
        liked = post(http, {"query": LIKE, "variables": {"u": bo["id"]}}, ann["token"])
        conversation = liked["like"]["match"]["conversation"]["id"]
        first = {"c": conversation, "b": "Hi Ann", "k": "bo-relay-1"}
        post(http, {"query": SEND, "variables": first}, bo["token"])

    setup = {"url": "", "ann": ann, "bo": bo, "conversation": conversation}
    trusted = {**secret, "RAPPORT_TRUSTED_DOCUMENTS": "true"}
    with (
        running_server(database_url, tmp_path / "server.log", **trusted) as server,
        httpx.Client(base_url=server.base_url, timeout=60) as http,
    ):
        text = http.post("/graphql", json={"query": "{ __typename }"})
        assert text.status_code == 400, text.text  # trusted mode: ids only
        setup["url"] = f"{server.base_url}/graphql"
        report: dict[str, Any] = client_report(node, "relay.mjs", setup, server)
        home = {
            "operationName": "RapportHomeQuery",
            "extensions": persisted(ids["RapportHomeQuery"]),
        }
        answer = post(http, home, ann["token"])
    assert not report["errors"], report["errors"]

    # The query: fragments read back from records keyed by the global ids.
    me, profile = ann["id"], gid("OwnProfile", key(ann["id"]))
    bo_user = {"id": user_of(bo["id"]), "displayName": "bo"}
    assert report["home"]["me"]["id"] == me
    assert report["home"]["profile"]["id"] == profile
    [shown] = report["home"]["conversations"]
    first_message = shown["lastMessage"]
    assert shown == {
        "id": conversation,
        "open": True,
        "unreadCount": 1,
        "user": bo_user,
        "lastMessage": {"id": first_message["id"], "body": "Hi Ann", "mine": False},
    }
    records = report["records"]
    assert {k: records[k]["__typename"] for k in records} == {
        me: "Me",
        profile: "OwnProfile",
        conversation: "Conversation",
        first_message["id"]: "Message",
    }
    assert all(records[k]["__id"] == k for k in records), records
    assert records[me]["profile"] == {"ref": profile}
    assert records[conversation]["lastMessage"] == {"ref": first_message["id"]}
    assert {"client:root", bo_user["id"]} <= set(report["storeKeys"])

    # @refetchable on a Node type: Relay's generated query is node(id:), and it refreshes the
    # record every query shows.
    refetch = report["refetch"]
    assert refetch["artifact"] == {
        "fragmentPathInResult": ["node"],
        "identifierField": "id",
        "operation": "RapportConversationRefetchQuery",
        "operationText": None,  # persisted: Relay sends only the id
        "persistedId": ids["RapportConversationRefetchQuery"],
    }
    assert "node(id: $id)" in manifest[ids["RapportConversationRefetchQuery"]]
    assert refetch["requests"] == ["RapportConversationRefetchQuery"]
    assert refetch["before"] == shown  # Bo's message was not in the store yet
    second = {"id": refetch["sent"]["id"], "body": "Are you free on Sunday?", "mine": False}
    assert refetch["after"] == {**shown, "unreadCount": 2, "lastMessage": second}
    assert refetch["answer"] == refetch["after"]

    # A mutation's answer updates the record: the home snapshot shows it without a request.
    mutation = report["mutation"]
    assert mutation["requests"] == ["RapportUpdateProfileMutation"]
    assert mutation["answerTypename"] == "OwnProfile"
    assert mutation["before"] == report["home"]["profile"]
    assert mutation["answer"] == {**mutation["before"], "bio": mutation["bio"]}
    assert mutation["after"] == mutation["answer"]
    assert mutation["notified"] == [mutation["answer"]]
    assert mutation["refetched"] == mutation["answer"]  # node(id:) on the OwnProfile id

    # A subscription event Bo caused lands in the store and in the home snapshot.
    live = report["subscription"]
    third = {"id": live["sent"]["id"], "body": "Climbing gym at ten?", "mine": False}
    assert live["received"] == [{"__typename": "Message", "id": third["id"], "body": third["body"]}]
    assert pick(live["record"], MESSAGE) == third
    assert live["conversation"] == {**shown, "unreadCount": 3, "lastMessage": third}
    assert report["ws"] == ["RapportMessageAddedSubscription"]
    assert report["http"] == [
        "RapportHomeQuery",
        "RapportConversationRefetchQuery",
        "RapportUpdateProfileMutation",
        "RapportProfileRefetchQuery",
    ]

    # What the store holds in the end is what the server answers now.
    edges = answer["conversations"]["edges"]
    assert report["final"] == {
        "me": pick(answer["me"], {"__typename": None, "id": None, "email": None}),
        "profile": pick(answer["me"]["profile"], PROFILE),
        "conversations": [pick(edge["node"], CONVERSATION) for edge in edges],
    }
