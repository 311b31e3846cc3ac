"""Fuzzing: schemathesis, in GraphQL mode, sends generated queries and mutations to a real
uvicorn process (the app as it runs) and every response must be sound: no HTTP 5xx, valid
JSON, no INTERNAL_SERVER_ERROR (a masked bug), no error that leaks a Python exception or a
traceback, nothing logged as an unexpected error by the server.

Every Query and Mutation root field of schema.graphql (which tests/test_schema_file.py keeps
equal to the code's schema) is one test. Each generated case is sent twice: anonymously, and
with a fresh bearer token of a registered user who has a profile, a match, a conversation and
notifications, so resolvers run past the authentication check. Subscriptions are out of reach:
schemathesis speaks GraphQL over HTTP only, and subscriptions need graphql-transport-ws (their
arguments are the same kinds of ids and cursors as the queries' and go through the same
parsing; tests/test_chat_live.py and tests/test_websocket.py cover them).

Bounded for CI: FUZZ_EXAMPLES cases per operation (RAPPORT_FUZZ_EXAMPLES overrides it, e.g.
RAPPORT_FUZZ_EXAMPLES=500 for a long local run), derandomized so every run sends the same cases.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.graphql import nodes

from rapport.settings import PROJECT_ROOT
from resolvers.credentials import Credentials
from tests.support.database import raw_dsn
from tests.support.ids import key as raw_key
from tests.support.ids import user_of
from tests.support.mailbox import PASSWORD, sign_up_sync
from tests.support.people import profile_input
from tests.support.servers import running_server
from tests.support.settings import make_settings

FUZZ_EXAMPLES = int(os.environ.get("RAPPORT_FUZZ_EXAMPLES", "100"))

# Ids that exist on the server (filled in by the `target` fixture): the fuzz user's and their
# partners' user ids, match, conversation, message, request and notification ids. IDs are
# drawn from these as well as from arbitrary strings and numbers, so fuzzing reaches the
# resolvers' work on real rows (sendMessage into an open conversation, markRead, messages
# with hostile cursors...) instead of stopping at "not an id".
KNOWN_IDS: list[str] = ["1"]
_ID_FORMS = st.one_of(
    st.text().map(nodes.String),
    st.integers(min_value=-(2**31), max_value=2**31 - 1).map(nodes.Int),
    st.integers(min_value=0, max_value=10**20).map(str).map(nodes.String),
    st.uuids().map(str).map(nodes.String),
    st.integers(min_value=0, max_value=63).map(
        lambda i: nodes.String(KNOWN_IDS[i % len(KNOWN_IDS)])
    ),
)
schemathesis.graphql.scalar("ID", _ID_FORMS)

schema = schemathesis.graphql.from_path(PROJECT_ROOT / "schema.graphql")
# Operations that end the fuzz user's matches (and so close their conversations) or their
# account run last, so the operations before them meet open conversations.
ENDING = r"^Mutation\.(unmatch|block|unblock|delete\w*|deactivate\w*)$"

# What an exception that escaped unmasked looks like in a message: a traceback, a frame, a
# library's module path, Python's own wording for the usual bugs.
LEAKED = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"
    r"|\b(?:sqlalchemy|asyncpg|psycopg|pydantic|strawberry|starlette|redis)\.\w"
    r"|sqlalche\.me|\bNoneType\b|object has no attribute|object is not (?:subscriptable|callable"
    r"|iterable)|invalid literal for int\(\)|unsupported operand|takes \d+ positional argument"
    r"|\b(?:Key|Attribute|Index|Type|Runtime|Assertion|ZeroDivision|Overflow|Unicode\w*|Recursion"
    r"|Integrity|DataError|Programming|Operational|Interface|Database)Error\b"
)


@dataclass
class Target:
    """The running app, and bearer tokens of the fuzz user on demand."""

    base_url: str
    log_path: Path
    user_id: uuid.UUID
    credentials: Credentials
    conn: asyncpg.Connection
    loop: asyncio.AbstractEventLoop

    def fresh_token(self) -> str:
        """A new token of the fuzz user, written straight to the database: every case gets its
        own, so logout/logoutEverywhere cannot starve later cases, and no login rate limit
        applies."""
        token = self.credentials.new_token()
        status = self.loop.run_until_complete(
            self.conn.execute(
                "INSERT INTO auth_tokens (id, user_id, token_hash, created_at, expires_at)"
                " SELECT $1, id, $3, now(), now() + interval '1 hour' FROM users"
                " WHERE id = $2 AND status = 'active'",
                uuid.uuid4(),
                self.user_id,
                self.credentials.token_digest(token),
            )
        )
        if status != "INSERT 0 1":
            pytest.fail(
                "The fuzz user is gone or no longer active: an earlier operation removed it. "
                f"Let ENDING ({ENDING}) name that operation so that it runs last."
            )
        return token

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")


def post(base_url: str, query: str, variables: dict[str, Any], token: str, expect: str) -> Any:
    """One set-up request; returns its root field's value, which must be of type `expect`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = httpx.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=60,
    ).json()
    assert "errors" not in body, body
    (result,) = body["data"].values()
    assert result["__typename"] == expect, result
    return result


CREATE = "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }"
LIKE = """mutation($id: ID!) { like(userId: $id) {
  __typename ... on SwipePayload { match { id } } } }"""
CONVERSATIONS = """{ conversations {
  __typename ... on ConversationConnection { nodes { id user { id } } } } }"""
SEND = """mutation($c: ID!, $b: String!, $k: String!) {
  sendMessage(conversationId: $c, body: $b, clientMessageId: $k) {
    __typename ... on Message { id } } }"""
INTEREST = """mutation($id: ID!) { sendInterest(userId: $id, message: "hello") {
  __typename ... on InterestRequest { id } } }"""
NOTIFICATIONS = "{ notifications { __typename ... on NotificationConnection { nodes { id } } } }"


def person(base_url: str, database_url: str) -> tuple[str, str]:
    """A registered user with a profile: (token, user id)."""
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"

    def send(body: dict[str, Any]) -> dict[str, Any]:
        return httpx.post(f"{base_url}/graphql", json=body, timeout=60).json()

    account = sign_up_sync(send, database_url, email, PASSWORD)
    post(base_url, CREATE, {"i": profile_input()}, account["token"], "OwnProfile")
    return account["token"], user_of(account["me"]["id"])


def populate(base_url: str, database_url: str) -> tuple[str, list[str]]:
    """The fuzz user with two matches (their conversations each hold a message either way), a
    pending interest request from a third person, and the notifications all that made.
    Returns the fuzz user's id and every id involved."""
    viewer, *others = (person(base_url, database_url) for _ in range(4))
    ids = [viewer[1]] + [other[1] for other in others]
    for other in others[:2]:
        post(base_url, LIKE, {"id": viewer[1]}, other[0], "SwipePayload")
        ids.append(post(base_url, LIKE, {"id": other[1]}, viewer[0], "SwipePayload")["match"]["id"])
    tokens = {user_id: token for token, user_id in others}
    conversations = post(base_url, CONVERSATIONS, {}, viewer[0], "ConversationConnection")
    for conversation in conversations["nodes"]:
        ids.append(conversation["id"])
        for token in (viewer[0], tokens[conversation["user"]["id"]]):
            variables = {"c": conversation["id"], "b": "hello", "k": uuid.uuid4().hex}
            ids.append(post(base_url, SEND, variables, token, "Message")["id"])
    ids.append(post(base_url, INTEREST, {"id": viewer[1]}, others[2][0], "InterestRequest")["id"])
    notifications = post(base_url, NOTIFICATIONS, {}, viewer[0], "NotificationConnection")
    ids += [n["id"] for n in notifications["nodes"]]
    return viewer[1], ids


@pytest.fixture(scope="module")
def target(
    pg_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One database and one server for every fuzz test of the module (a server per test would
    cost more than the fuzzing)."""
    name = f"fuzz_{uuid.uuid4().hex[:12]}"
    loop = asyncio.new_event_loop()
    admin = loop.run_until_complete(asyncpg.connect(raw_dsn(pg_url)))
    loop.run_until_complete(admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}"))
    database_url = raw_dsn(pg_url, name)
    key = secrets.token_urlsafe(48)
    log_path = tmp_path_factory.mktemp("fuzz") / "server.log"
    try:
        with running_server(database_url, log_path, RAPPORT_SECRET_KEY=key) as server:
            user_id, ids = populate(server.base_url, database_url)
            KNOWN_IDS[:] = ids + [raw_key(i) for i in ids]  # global ids, and the old raw ones
            conn = loop.run_until_complete(asyncpg.connect(database_url))
            try:
                yield Target(
                    base_url=server.base_url,
                    log_path=log_path,
                    user_id=uuid.UUID(raw_key(user_id)),
                    credentials=Credentials(make_settings(database_url, secret_key=key)),
                    conn=conn,
                    loop=loop,
                )
            finally:
                loop.run_until_complete(conn.close())
    finally:
        loop.run_until_complete(admin.execute(f"DROP DATABASE {name} WITH (FORCE)"))
        loop.run_until_complete(admin.close())
        loop.close()


def problems_in(response: Any, log: str) -> list[str]:
    """What is wrong with one response, and with what the server logged while answering it."""
    found = []
    if "Traceback" in log or "unexpected error" in log:
        found.append(f"the server logged an unexpected error:\n{log[-3000:]}")
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:500]}", *found]
    try:
        body = response.json()
    except ValueError:
        return [f"not JSON (HTTP {response.status_code}): {response.text[:500]}", *found]
    if not isinstance(body, dict) or not {"data", "errors"} & body.keys():
        return [f"not a GraphQL response: {str(body)[:500]}", *found]
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        message = str(error.get("message", ""))
        if code == "INTERNAL_SERVER_ERROR":
            found.append(f"masked internal error (see the server log): {message}")
        elif LEAKED.search(message):
            found.append(f"leaked exception: {message}")
        elif error.get("path") and not code:
            found.append(f"unmasked error from a resolver: {message}")
        elif not code:
            found.append(f"an error without extensions.code: {message}")
    return found


def send_both_ways(case: Any, target: Target) -> None:
    """Send the case anonymously, then as the fuzz user; both answers must be sound."""
    for who, token in (("anonymous", None), ("signed in", target.fresh_token())):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        offset = target.log_size()
        response = case.call(base_url=f"{target.base_url}/graphql", headers=headers, timeout=60)
        found = problems_in(response, target.log_since(offset))
        assert not found, f"{case.operation.label} ({who}):\n{case.body}\n" + "\n".join(found)
        # schemathesis's own check too: a 5xx, or a GraphQL error raised while executing.
        case.validate_response(response, checks=[not_a_server_error], headers=headers)


FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,  # the same cases on every run: CI is reproducible
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@schema.exclude(name_regex=ENDING).parametrize()
@FUZZ_SETTINGS
def test_fuzz(case: Any, target: Target) -> None:
    send_both_ways(case, target)


@schema.include(name_regex=ENDING).parametrize()
@FUZZ_SETTINGS
def test_fuzz_ending(case: Any, target: Target) -> None:
    send_both_ways(case, target)


@pytest.mark.parametrize(
    ("status", "body", "log", "expected"),
    [
        (200, '{"data": {"me": {"__typename": "AuthenticationRequired"}}}', "", None),
        (
            200,
            '{"errors": [{"message": "Cannot query field \'x\' on type \'Query\'.",'
            ' "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}',
            "",
            None,
        ),
        (
            200,
            '{"errors": [{"message": "Cannot query field \'x\' on type \'Query\'."}]}',
            "",
            "without extensions.code",
        ),
        (500, "Internal Server Error", "", "HTTP 500"),
        (502, "", "", "HTTP 502"),
        (200, "<html>oops</html>", "", "not JSON"),
        (200, "[1, 2]", "", "not a GraphQL response"),
        (
            200,
            '{"data": null, "errors": [{"message": "Internal server error. Correlation id: x",'
            ' "path": ["me"], "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}',
            "",
            "masked internal error",
        ),
        (
            200,
            '{"data": null, "errors": [{"message": "\'NoneType\' object has no attribute \'id\'",'
            ' "path": ["me"]}]}',
            "",
            "leaked exception",
        ),
        (
            200,
            '{"errors": [{"message": "(sqlalchemy.dialects.postgresql.asyncpg.Error) boom"}]}',
            "",
            "leaked exception",
        ),
        (200, '{"data": null, "errors": [{"message": "boom", "path": ["me"]}]}', "", "unmasked"),
        (200, '{"data": {}}', "ERROR unexpected error in me (correlation id x)", "logged"),
        (200, '{"data": {}}', 'Traceback (most recent call last):\n  File "x.py"', "logged"),
    ],
)
def test_each_kind_of_unsound_response_is_caught(
    status: int, body: str, log: str, expected: str | None
) -> None:
    found = problems_in(httpx.Response(status, text=body), log)
    if expected is None:
        assert found == []
    else:
        assert any(expected in problem for problem in found), found


def test_lone_surrogate_in_variables_gets_a_typed_error(target: Target) -> None:
    """GraphQL literals cannot carry a lone surrogate, but JSON variables can."""
    payload = (
        '{"query": "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { __typename } }",'
        ' "variables": {"i": {"bio": "abc\\ud800def"}}}'
    )
    offset = target.log_size()
    response = httpx.post(
        f"{target.base_url}/graphql",
        content=payload,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {target.fresh_token()}",
        },
        timeout=60,
    )
    assert not problems_in(response, target.log_since(offset)), response.text


# Hostile request bodies (README, Query limits): what no generated GraphQL document reaches.
# Each must get a 4xx JSON answer with a code, or a sound GraphQL response; never a 5xx, a
# traceback or a raw exception text.
_JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),  # beyond any float or Int
    st.floats(allow_nan=False),
    st.text(max_size=20),
)


def _json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A function, not a lambda: hypothesis 6.170 cannot see a lambda's argument used here
    # (HypothesisDeprecationWarning "doesn't use it's argument", an error under pytest).
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner)


_JSON_VALUES = st.recursive(_JSON_LEAVES, _json_containers, max_leaves=20)
_FRAGMENT_NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z")
_DOCUMENTS = st.one_of(
    _FRAGMENT_NAMES.map(lambda name: f"{{ ...{name} }}"),  # an unknown fragment
    _FRAGMENT_NAMES.map(lambda name: f"fragment {name} on Query {{ ...{name} }} {{ ...{name} }}"),
    st.integers(min_value=1, max_value=3000).map(lambda n: "{" * n + "}" * n),
    st.text(max_size=60),
)


def _body(document: Any, variables: Any, extra: Any) -> bytes:
    body: dict[str, Any] = {"query": document, "variables": variables}
    if isinstance(extra, dict):
        body.update(extra)
    return json.dumps(body).encode()


def _nest(depth: int) -> bytes:
    return b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * depth + b"]" * depth + b"}}"


def _corrupt(data: bytes, at: int, junk: bytes) -> bytes:
    at %= len(data) + 1
    return data[:at] + junk + data[at:]


_BODIES = st.one_of(
    st.builds(_body, _DOCUMENTS, _JSON_VALUES, _JSON_VALUES),
    _JSON_VALUES.map(lambda value: json.dumps(value).encode()),  # not an object, or no query
    st.integers(min_value=1, max_value=200_000).map(_nest),
    st.builds(
        _corrupt,
        st.builds(_body, _DOCUMENTS, _JSON_VALUES, st.none()),
        st.integers(min_value=0),
        st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xf4\x90\x80\x80"]),
    ),
    st.binary(max_size=200),
)


@given(body=_BODIES)
@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_fuzz_hostile_bodies(target: Target, body: bytes) -> None:
    offset = target.log_size()
    response = httpx.post(
        f"{target.base_url}/graphql",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    found = problems_in(response, target.log_since(offset))
    if 400 <= response.status_code < 500:
        errors = response.json().get("errors") or [{}]
        if not all((e.get("extensions") or {}).get("code") for e in errors):
            found.append(f"a {response.status_code} without a code: {response.text[:300]}")
    assert not found, f"{body[:300]!r}\n" + "\n".join(found)
