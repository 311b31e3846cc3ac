"""Persisted queries (rapport/persisted.py) and trusted documents (rapport/documents.py):
Apollo Client's PersistedQueryLink in Node against a real server, with and without Redis; the
protocol's answers over HTTP; the store's bounds; trusted mode; `rapport documents`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from rapport.persisted import REDIS_PREFIX, LocalDocumentStore, RedisDocumentStore
from schema.limits import MAX_DOCUMENT_CHARS
from tests.support.database import raw_dsn
from tests.support.mailbox import PASSWORD
from tests.support.node_clients import CLIENTS
from tests.support.persisted import documents_cli, persisted
from tests.support.redis_server import RedisServer
from tests.support.servers import ServerProcess, running_server
from tests.support.settings import make_settings

NODE = shutil.which("node")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(params=["in-process", "redis"])
def server(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[ServerProcess]:
    log = tmp_path / "server.log"
    if request.param == "redis":
        with RedisServer() as redis, running_server(database_url, log, REDIS_URL=redis.url) as s:
            yield s
    else:
        with running_server(database_url, log) as s:
            yield s


def apollo(server: ServerProcess, *flags: str) -> dict[str, Any]:
    """tests/clients/apq.mjs: what Apollo Client sent and got, and the data."""
    assert NODE, "node is needed for the client tests"
    done = subprocess.run(
        [NODE, "apq.mjs", f"{server.base_url}/graphql", *flags],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert "error" not in out, (out, server.log)
    return out


def steps(out: dict[str, Any]) -> list[tuple[str, bool, int, list[str]]]:
    return [(e["method"], e["hashOnly"], e["status"], e["codes"]) for e in out["exchanges"]]


def test_apollo_persisted_query_link(server: ServerProcess) -> None:
    first = apollo(server)
    assert first["query"]["interests"]["__typename"]
    # Hash only: not found; the link sends the text with the hash, which is stored.
    assert steps(first) == [
        ("POST", True, 200, ["PERSISTED_QUERY_NOT_FOUND"]),
        ("POST", False, 200, []),
    ]
    assert first["exchanges"][0]["cacheControl"] == "private, no-cache, must-revalidate"
    # A new client (a new process, no memory of the first): the hash alone is enough.
    second = apollo(server)
    assert steps(second) == [("POST", True, 200, [])]
    assert second["query"] == first["query"]


def test_apollo_persisted_queries_over_get(server: ServerProcess) -> None:
    first = apollo(server, "--get", "--mutation", "--name", "OverGet")
    assert first["query"]["interests"]["__typename"]
    assert first["mutation"]["logout"]["__typename"] == "AuthenticationRequired"
    assert steps(first) == [
        ("GET", True, 200, ["PERSISTED_QUERY_NOT_FOUND"]),
        ("POST", False, 200, []),  # the link falls back to POST with the text
        ("POST", True, 200, ["PERSISTED_QUERY_NOT_FOUND"]),  # mutations always go by POST
        ("POST", False, 200, []),
    ]
    second = apollo(server, "--get", "--name", "OverGet")
    assert steps(second) == [("GET", True, 200, [])]
    # No Authorization header, no max-age set: kept out of caches; each viewer asks anew.
    assert second["exchanges"][0]["cacheControl"] == "no-store"


# --- the protocol over HTTP, against the ASGI app --------------------------------------------

QUERY = "query Few { interests(first: 1) { __typename } }"
MUTATION = "mutation Out { logout { __typename } }"


@asynccontextmanager
async def app_client(
    database_url: str, encoder: Any, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    from app import create_app

    app = create_app(make_settings(database_url, **overrides), encoder)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as http:
            yield http


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


def get(http: httpx.AsyncClient, key: str, **headers: str) -> Any:
    params = {"extensions": json.dumps(persisted(key))}
    return http.get("/graphql", params=params, headers={"accept": "*/*", **headers})


async def test_a_wrong_hash_is_refused_and_stores_nothing(client: httpx.AsyncClient) -> None:
    wrong = sha("{ __typename }")
    answer = await client.post("/graphql", json={"query": QUERY, "extensions": persisted(wrong)})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"] == "provided sha does not match query"
    assert codes(answer) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    later = await client.post("/graphql", json={"extensions": persisted(wrong)})
    assert (later.status_code, codes(later)) == (200, ["PERSISTED_QUERY_NOT_FOUND"])
    assert later.headers["cache-control"] == "private, no-cache, must-revalidate"


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        (
            {"persistedQuery": {"version": 2, "sha256Hash": "ab"}},
            "Unsupported persisted query version",
        ),
        ({"persistedQuery": {"version": 1, "sha256Hash": "a b"}}, "sha256Hash must be a string"),
        ({"persistedQuery": {"version": 1}}, "sha256Hash must be a string"),
        ({"persistedQuery": "x"}, "must be an object"),
    ],
)
async def test_malformed_persisted_queries_are_typed_400s(
    client: httpx.AsyncClient, extensions: dict[str, Any], message: str
) -> None:
    answer = await client.post("/graphql", json={"extensions": extensions})
    assert (answer.status_code, codes(answer)) == (400, ["BAD_REQUEST"])
    assert message in answer.json()["errors"][0]["message"]


async def test_get_with_a_hash_and_cache_control(client: httpx.AsyncClient) -> None:
    key = sha(QUERY)
    miss = await get(client, key)  # not GraphiQL's page, though the client accepts */*
    assert (miss.status_code, codes(miss)) == (200, ["PERSISTED_QUERY_NOT_FOUND"])
    stored = await client.post("/graphql", json={"query": QUERY, "extensions": persisted(key)})
    assert stored.status_code == 200 and "errors" not in stored.json(), stored.json()

    anonymous = await get(client, key)
    assert anonymous.json()["data"]["interests"]["__typename"]
    assert anonymous.headers["cache-control"] == "no-store"
    assert "Authorization" in anonymous.headers["vary"].split(", ")  # and Origin: CORS
    viewer = await get(client, key, authorization="Bearer not-a-real-token")
    assert viewer.status_code == 200
    assert viewer.headers["cache-control"] == "private, no-store"
    posted = await client.post("/graphql", json={"extensions": persisted(key)})
    assert "cache-control" not in posted.headers  # POST answers are not cached anyway


async def test_mutations_over_get_stay_refused(client: httpx.AsyncClient) -> None:
    key = sha(MUTATION)
    stored = await client.post("/graphql", json={"query": MUTATION, "extensions": persisted(key)})
    assert stored.json()["data"]["logout"]["__typename"] == "AuthenticationRequired"
    over_get = await get(client, key)
    assert over_get.status_code == 405 and over_get.headers["allow"] == "POST"
    assert "mutations are not allowed when using GET" in over_get.json()["errors"][0]["message"]


async def test_public_max_age_only_for_anonymous_answers_without_errors(
    database_url: str, encoder: Any
) -> None:
    async with app_client(database_url, encoder, get_max_age_s=60) as http:
        await http.post("/graphql", json={"query": QUERY, "extensions": persisted(sha(QUERY))})
        ok = await get(http, sha(QUERY))
        assert ok.headers["cache-control"] == "public, max-age=60"
        signed_in = await get(http, sha(QUERY), authorization="Bearer whatever")
        assert signed_in.headers["cache-control"] == "private, no-store"
        bad = "query Bad { nope }"
        failed = await http.get("/graphql", params={"query": bad}, headers={"accept": "*/*"})
        assert failed.json()["errors"] and failed.headers["cache-control"] == "no-store"


async def test_persisted_queries_can_be_turned_off(database_url: str, encoder: Any) -> None:
    async with app_client(database_url, encoder, persisted_queries=False) as http:
        answer = await http.post("/graphql", json={"extensions": persisted(sha(QUERY))})
        assert answer.status_code == 200
        assert answer.json()["errors"][0]["message"] == "PersistedQueryNotSupported"
        assert codes(answer) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
        plain = await http.post("/graphql", json={"query": QUERY})
        assert "errors" not in plain.json()


# --- the stores ------------------------------------------------------------------------------


async def test_the_in_process_store_is_bounded_by_entries_and_characters() -> None:
    store = LocalDocumentStore(max_entries=3, max_chars=100)
    for n in range(5):
        await store.put(f"k{n}", f"{{ a{n} }}")
    assert len(store) == 3 and await store.get("k0") is None and await store.get("k4")
    await store.get("k2")  # used: now the most recent
    await store.put("big", "x" * 90)  # past 100 characters: the least recently used go
    assert await store.get("big") and await store.get("k3") is None  # k3 was the oldest left
    assert store.chars <= 100
    await store.put("huge", "x" * 101)  # larger than the whole store: not kept
    assert await store.get("huge") is None and store.chars <= 100


async def test_the_store_keeps_count_of_the_default_bound(database_url: str, encoder: Any) -> None:
    """RAPPORT_PERSISTED_QUERY_CACHE_SIZE bounds the app's store; over-long text is not kept."""
    async with app_client(database_url, encoder, persisted_query_cache_size=2) as http:
        texts = [f"query Q{n} {{ __typename }}" for n in range(3)]
        for text in texts:
            await http.post("/graphql", json={"query": text, "extensions": persisted(sha(text))})
        first = await http.post("/graphql", json={"extensions": persisted(sha(texts[0]))})
        last = await http.post("/graphql", json={"extensions": persisted(sha(texts[2]))})
        assert codes(first) == ["PERSISTED_QUERY_NOT_FOUND"] and "errors" not in last.json()

        long = "{ __typename }" + " " * MAX_DOCUMENT_CHARS
        refused = await http.post(
            "/graphql", json={"query": long, "extensions": persisted(sha(long))}
        )
        assert codes(refused) == ["QUERY_TOO_LARGE"]
        again = await http.post("/graphql", json={"extensions": persisted(sha(long))})
        assert codes(again) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_redis_keeps_them_with_a_ttl(database_url: str, encoder: Any) -> None:
    with RedisServer() as server:
        async with app_client(
            database_url, encoder, redis_url=server.url, persisted_query_ttl_s=600
        ) as http:
            key = sha(QUERY)
            await http.post("/graphql", json={"query": QUERY, "extensions": persisted(key)})
            redis = Redis.from_url(server.url, decode_responses=True)
            try:
                assert await redis.get(REDIS_PREFIX + key) == QUERY
                assert 0 < await redis.ttl(REDIS_PREFIX + key) <= 600
            finally:
                await redis.aclose()
            hit = await http.post("/graphql", json={"extensions": persisted(key)})
            assert hit.json()["data"]["interests"]["__typename"]


async def test_a_lost_redis_is_a_miss_not_a_failure() -> None:
    with RedisServer() as server:
        redis = Redis.from_url(server.url, decode_responses=True)
        store = RedisDocumentStore(redis, ttl_s=60)
        await store.put("k", "{ a }")
        assert await store.get("k") == "{ a }"
        server.stop()
        try:
            assert await store.get("k") is None  # the client then sends the text, which runs
            await store.put("k", "{ a }")  # logged, not raised
        finally:
            await redis.aclose()


# --- trusted documents and `rapport documents` ------------------------------------------------

REGISTERED = "query Few { interests(first: 1) { __typename } }"
RELAY_ID = "c0ffee00c0ffee00c0ffee00c0ffee00"  # an md5-sized id, as Relay writes


async def registered_ids(database_url: str) -> list[str]:
    conn = await asyncpg.connect(raw_dsn(database_url))
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM persisted_documents ORDER BY id")]
    finally:
        await conn.close()


async def register(database_url: str, tmp_path: Path, manifest: object) -> Any:
    file = tmp_path / "manifest.json"
    file.write_text(json.dumps(manifest))
    return await asyncio.to_thread(documents_cli, database_url, "register", str(file))


async def test_register_each_manifest_format_and_list(database_url: str, tmp_path: Path) -> None:
    codegen = {sha(REGISTERED): REGISTERED}
    done = await register(database_url, tmp_path, codegen)
    assert done.exit_code == 0, done.output
    assert "Registered 1 documents (0 were already registered)" in done.output

    relay = {RELAY_ID: "query Two { interests(first: 2) { __typename } }"}
    assert (await register(database_url, tmp_path, relay)).exit_code == 0

    body = "mutation Out { logout { __typename } }"
    apollo = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha(body), "name": "Out", "type": "mutation", "body": body},
            {"id": sha(REGISTERED), "name": "Few", "type": "query", "body": REGISTERED},
        ],
    }
    again = await register(database_url, tmp_path, apollo)
    assert again.exit_code == 0, again.output
    assert "Registered 1 documents (1 were already registered)" in again.output
    assert await registered_ids(database_url) == sorted([sha(REGISTERED), RELAY_ID, sha(body)])

    listed = await asyncio.to_thread(documents_cli, database_url, "list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert len(lines) == 3 and any(RELAY_ID in x and "query" in x and "Two" in x for x in lines)
    assert any(sha(body) in x and "mutation" in x and "Out" in x for x in lines)


BAD_BODY = "query Bad { interests(first: 1) { nope } }"


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (
            {sha(REGISTERED): REGISTERED, "bad-one": BAD_BODY},
            "entry 'bad-one': Cannot query field 'nope'",
        ),
        ({"x": "query {"}, "entry 'x': syntax error"),
        ({sha("{ other }"): REGISTERED}, "looks like a sha256 but the document's is"),
        ({"two": "query A { __typename } query B { __typename }"}, "holds 2 operations"),
        (
            {"aliases": "{ " + " ".join(f"a{n}: __typename" for n in range(31)) + " }"},
            "entry 'aliases':",  # the limits of schema/limits.py hold here too
        ),
        ({"n": 5}, "entry 'n': the document must be a string"),
        ({"bad id!": REGISTERED}, "the id must be"),
        ([REGISTERED], "must be a JSON object"),
        ({}, "holds no documents"),
        (
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": sha(REGISTERED), "name": "Few", "type": "mutation", "body": REGISTERED}
                ],
            },
            "entry operations[0] (id '"
            + sha(REGISTERED)
            + "'): type 'mutation' but the document is a query",
        ),
        ({"format": "something-else", "version": 3}, "unknown manifest format 'something-else'"),
    ],
)
async def test_bad_manifests_name_the_entry_and_register_nothing(
    database_url: str, tmp_path: Path, manifest: object, expected: str
) -> None:
    done = await register(database_url, tmp_path, manifest)
    assert done.exit_code == 1
    assert expected in done.output and "nothing was registered" in done.output, done.output
    assert await registered_ids(database_url) == []


async def test_an_id_never_changes_its_document(database_url: str, tmp_path: Path) -> None:
    assert (await register(database_url, tmp_path, {RELAY_ID: REGISTERED})).exit_code == 0
    other = "query Two { interests(first: 2) { __typename } }"
    done = await register(database_url, tmp_path, {RELAY_ID: other, sha(other): other})
    assert done.exit_code == 1 and "already registered with another document" in done.output
    assert await registered_ids(database_url) == [RELAY_ID]


async def test_trusted_mode_runs_registered_documents_only(
    database_url: str, encoder: Any, tmp_path: Path
) -> None:
    relay_body = "query Two { interests(first: 2) { __typename } }"
    await register(database_url, tmp_path, {sha(REGISTERED): REGISTERED, RELAY_ID: relay_body})
    async with app_client(database_url, encoder, trusted_documents=True) as http:
        by_hash = await http.post("/graphql", json={"extensions": persisted(sha(REGISTERED))})
        assert by_hash.json()["data"]["interests"]["__typename"]
        by_relay_id = await get(http, RELAY_ID)
        assert by_relay_id.json()["data"]["interests"]["__typename"]
        empty = await http.post("/graphql", json={"query": "", "extensions": persisted(RELAY_ID)})
        assert empty.json()["data"]["interests"]["__typename"]  # "" with an id: the id alone
        as_text = await http.post("/graphql", json={"query": REGISTERED})  # its text: registered
        assert "errors" not in as_text.json()

        arbitrary = await http.post("/graphql", json={"query": "{ me { __typename } }"})
        assert (arbitrary.status_code, codes(arbitrary)) == (400, ["TRUSTED_DOCUMENT_REQUIRED"])
        text = "query New { __typename }"  # APQ's registration step does not register here
        apq = await http.post("/graphql", json={"query": text, "extensions": persisted(sha(text))})
        assert (apq.status_code, codes(apq)) == (404, ["PERSISTED_QUERY_NOT_IN_LIST"])
        unknown = await http.post("/graphql", json={"extensions": persisted(sha(text))})
        assert (unknown.status_code, codes(unknown)) == (404, ["PERSISTED_QUERY_NOT_IN_LIST"])
        swapped = await http.post(
            "/graphql", json={"query": relay_body, "extensions": persisted(sha(REGISTERED))}
        )
        assert (swapped.status_code, codes(swapped)) == (400, ["PERSISTED_QUERY_HASH_MISMATCH"])


async def test_registered_documents_run_by_id_with_trusted_mode_off(
    database_url: str, encoder: Any, tmp_path: Path
) -> None:
    """A build that sends only manifest ids (graphql-codegen's, Relay's) works in development
    too, where arbitrary text also runs."""
    await register(database_url, tmp_path, {RELAY_ID: REGISTERED})
    async with app_client(database_url, encoder) as http:
        answer = await http.post("/graphql", json={"extensions": persisted(RELAY_ID)})
        assert answer.json()["data"]["interests"]["__typename"]
        empty = await http.post("/graphql", json={"query": "", "extensions": persisted(RELAY_ID)})
        assert empty.json()["data"]["interests"]["__typename"]
        unknown = await http.post("/graphql", json={"query": "", "extensions": persisted("f" * 32)})
        assert (unknown.status_code, codes(unknown)) == (200, ["PERSISTED_QUERY_NOT_FOUND"])


def test_trusted_mode_holds_over_websockets(
    database_url: str, encoder_model: Any, tmp_path: Path
) -> None:
    """graphql-transport-ws operations are resolved as HTTP ones are: registered ids run,
    other text is an error message with the code."""
    from starlette.testclient import TestClient

    from app import create_app
    from matching.batching import BatchingEncoder
    from tests.support.mailbox import sign_up_client

    assert asyncio.run(register(database_url, tmp_path, {RELAY_ID: REGISTERED})).exit_code == 0
    encoder = BatchingEncoder(encoder_model)
    first = make_settings(database_url)
    with TestClient(create_app(first, encoder)) as http:  # not trusted yet: sign up
        token = sign_up_client(http, "trusted@example.com", PASSWORD)["token"]
    key = first.secret_key.get_secret_value()
    settings = make_settings(database_url, trusted_documents=True, secret_key=key)
    with (
        TestClient(create_app(settings, encoder)) as http,
        http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {"token": token}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": "{ me { __typename } }"}}
        )
        refused = ws.receive_json()
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
        ws.send_json(
            {"id": "2", "type": "subscribe", "payload": {"extensions": persisted(RELAY_ID)}}
        )
        ran = ws.receive_json()
        assert ran["type"] == "next" and ran["payload"]["data"]["interests"]["__typename"]
        assert ws.receive_json() == {"id": "2", "type": "complete"}
        # graphql-ws's client requires a string query: an id goes with "" (Relay's do).
        empty = {"query": "", "extensions": persisted(RELAY_ID)}
        ws.send_json({"id": "3", "type": "subscribe", "payload": empty})
        ran = ws.receive_json()
        assert ran["type"] == "next" and ran["payload"]["data"]["interests"]["__typename"]
