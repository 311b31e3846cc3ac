"""The authorization matrix: for every query, mutation and subscription of schema.graphql, an
anonymous client and an unrelated signed-in user (a "stranger") aimed at other people's data
get no access to it: no email, preferences, birth date or coordinates, message, conversation,
interest request, report, notification, read state, nor the presence of someone they are not
matched with. A root field without a row in MATRIX fails test_every_root_field_has_a_row.

Each row says what the field is given (the victims' ids: see tests/support/authz_world.py) and which
result types each caller may get. The operation selects everything its result could show
(generated from schema.graphql), and every response is searched for the victims' private data.
Queries and mutations go over HTTP; subscriptions over graphql-transport-ws (anonymous: the
socket is refused) while the victims write, type and read. A mutation must leave what the
victims see of their own data as it was, unless the row says why not. Adding a field is a row:

    "Query.conversation": Row("NotFound", lambda w: {"id": w.conversation}),
    "Mutation.hideProfile": Row("OwnProfile"),  # acts on the caller's own data only
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from matching import grid
from tests.support.authz_world import (
    PRIVATE_PROFILES,
    World,
    build_world,
    document,
    post,
    root_fields,
    strings_in,
)
from tests.support.database import raw_dsn
from tests.support.ids import gid, number, user_of
from tests.support.ids import key as raw
from tests.support.live_chat import PROTOCOL, Client, send, subscribe
from tests.support.mailbox import PASSWORD
from tests.support.people import profile_input
from tests.support.settings import make_settings

Variables = dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One root field of the schema in the matrix."""

    stranger: str  # result types (space-separated) an unrelated signed-in user may get
    # The field's arguments, aimed at the victims' data; a list: each set is tried.
    arguments: Callable[[World], Variables | list[Variables]] = lambda w: {}
    anonymous: str = "AuthenticationRequired"  # result types a client without a token may get
    victims_change: str = ""  # why what the victims see may change (else it must not)
    check: Callable[[World, Client, Any], None] | None = None  # more, on the stranger's result
    leak: str = ""  # a known leak: the row is xfail(strict) until it is fixed

    def cases(self, world: World) -> list[Variables]:
        made = self.arguments(world)
        return made if isinstance(made, list) else [made]


def own_account(world: World, actor: Client, result: Any) -> None:
    assert user_of(result["id"]) == actor.id  # her Me, keyed by her User id


def own_export(world: World, actor: Client, result: Any) -> None:
    """Her own data (her conversation with Trent included), not an empty document."""
    assert "Mallory's own message" in str(result["data"])


def with_trent_only(world: World, actor: Client, result: Any) -> None:
    """Mallory's own list: her match with Trent, nothing of anyone else."""
    assert {node["user"]["id"] for node in result["nodes"]} == {world.trent.id}


def caused_by_trent_only(world: World, actor: Client, result: Any) -> None:
    assert {node["actorId"] for node in result["nodes"]} == {world.trent.id}


def empty(world: World, actor: Client, result: Any) -> None:
    assert result["nodes"] == []


def not_to_a_suitor_either(world: World, actor: Client, result: Any) -> None:
    """Carol asked Alice and waits for an answer: not a match, so no presence either."""
    query = "query($id: ID!) { presence(userId: $id) { __typename } }"
    assert world.carol.gql(query, {"id": world.alice.id})["presence"]["__typename"] == "NotFound"


def moderators_only(world: World, actor: Client, result: Any) -> None:
    assert result["code"] == "MODERATORS_ONLY", result


def fresh_account(world: World) -> Variables:
    return {"input": {"email": f"authz-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}}


def in_their_conversation(**more: Any) -> Callable[[World], Variables]:
    return lambda w: {"conversationId": w.conversation, **more}


def at_alice(**more: Any) -> Callable[[World], Variables]:
    return lambda w: {"userId": w.alice.id, **more}


def newest(world: World, kind: str) -> str:
    return gid(kind, max(number(i) for i in world.private_ids[kind]))


def everything_of_theirs(world: World) -> list[str]:
    """Global ids of every object of the victims': between them (conversations, messages,
    matches, requests, notifications, reports), their own (accounts, profiles, preferences,
    presence, read state), and swipes by number (some are theirs; Mallory's own is a like of
    Trent)."""
    ids = sorted(set().union(*world.private_ids.values()))
    for victim in world.victims:
        ids += [gid(kind, raw(victim.id)) for kind in ("Me", "OwnProfile", "Preferences")]
        ids += [gid("Presence", raw(victim.id)), victim.id]  # User: public fields only
    ids.append(gid("ReadState", raw(world.conversation)))
    ids += [gid("Swipe", n) for n in range(1, 16)]
    return ids


def only_her_own(world: World, actor: Client, result: Any) -> None:
    """A swipe is only ever Mallory's own (her like of Trent); people only public."""
    for found in result if isinstance(result, list) else [result]:
        if found is not None and found["__typename"] == "Swipe":
            assert found["user"]["id"] == world.trent.id, found


def kinds(result: Any) -> set[str]:
    """The result types of a root field's value ("null" for null; each of a list's)."""
    if isinstance(result, list):
        return set().union(*(kinds(r) for r in result)) if result else set()
    return {"null"} if result is None else {result["__typename"]}


MATRIX: dict[str, Row] = {
    # Queries
    "Query.me": Row("Me", check=own_account),
    "Query.exportMyData": Row("DataExport", check=own_export),
    "Query.user": Row("User", lambda w: [{"id": v.id} for v in w.victims]),  # public fields only
    "Query.interests": Row("InterestCountConnection", anonymous="InterestCountConnection"),
    "Query.recommendations": Row("RecommendationConnection"),
    "Query.matches": Row("MatchConnection", check=with_trent_only),
    "Query.interestRequests": Row(
        "InterestRequestConnection",
        lambda w: [{"direction": "RECEIVED"}, {"direction": "SENT"}],
        check=empty,
    ),
    "Query.conversations": Row("ConversationConnection", check=with_trent_only),
    "Query.messages": Row(
        "NotFound",
        lambda w: [
            {"conversationId": w.conversation},
            {"conversationId": w.conversation, "after": "0"},
            {"conversationId": w.conversation, "before": newest(w, "Message")},
        ],
    ),
    "Query.notifications": Row("NotificationConnection", check=caused_by_trent_only),
    "Query.reports": Row(
        "NotAllowed",
        lambda w: [{}, {"reportedUserId": w.carol.id}, {"status": "ACTION_TAKEN"}],
        check=moderators_only,
    ),
    # Global object identification: strangers get null for all of it, but public profiles.
    "Query.node": Row(
        "null User Swipe",
        lambda w: [{"id": i} for i in everything_of_theirs(w)],
        anonymous="null",
        check=only_her_own,
    ),
    "Query.nodes": Row(
        "null User Swipe",
        lambda w: {"ids": everything_of_theirs(w)[:100]},
        anonymous="null",
        check=only_her_own,
    ),
    "Query.presence": Row(
        "NotFound", lambda w: [{"userId": v.id} for v in w.victims], check=not_to_a_suitor_either
    ),
    # Mutations (each stranger is a new account: their own changes do not pile up)
    # Registering a victim's address answers as for a new one and changes nothing of theirs.
    "Mutation.register": Row(
        "RegistrationStarted",
        lambda w: {"input": {"email": w.emails[w.alice.id], "password": "a squatter's pw"}},
        anonymous="RegistrationStarted",
    ),
    "Mutation.confirmRegistration": Row(
        "ValidationError",
        lambda w: {
            "input": {"email": w.emails[w.alice.id], "code": "000000", "password": PASSWORD}
        },
        anonymous="ValidationError",
    ),
    "Mutation.login": Row(
        "InvalidCredentials",
        lambda w: {"input": {"email": w.emails[w.alice.id], "password": "not her password"}},
        anonymous="InvalidCredentials",
    ),
    "Mutation.logout": Row("LogoutPayload"),
    "Mutation.logoutEverywhere": Row("LogoutPayload"),
    "Mutation.deleteAccount": Row("AccountDeleted", lambda w: {"password": PASSWORD}),
    "Mutation.changePassword": Row(
        "ChangePasswordPayload",
        lambda w: {"input": {"currentPassword": PASSWORD, "newPassword": "a new long password"}},
    ),
    "Mutation.createProfile": Row("AlreadyExists", lambda w: {"input": profile_input()}),
    "Mutation.updateProfile": Row("OwnProfile", lambda w: {"input": {"bio": "Just me."}}),
    "Mutation.updatePreferences": Row(
        "Preferences", lambda w: {"input": {"ageMin": 30, "ageMax": 40}}
    ),
    "Mutation.setInterests": Row("InterestsPayload", lambda w: {"names": ["chess"]}),
    "Mutation.like": Row("SwipePayload", at_alice(note="hello")),
    "Mutation.pass": Row("SwipePayload", at_alice()),
    "Mutation.undoSwipe": Row("NotAllowed"),
    "Mutation.unmatch": Row("NotFound", lambda w: {"matchId": w.match}),
    "Mutation.sendInterest": Row(
        "InterestRequest",
        at_alice(message="hello"),
        victims_change="anyone may ask anyone: Alice gets the request and a notification",
    ),
    "Mutation.respondToInterest": Row(
        "NotFound", lambda w: [{"id": w.request, "response": r} for r in ("ACCEPT", "REJECT")]
    ),
    "Mutation.cancelInterest": Row("NotFound", lambda w: {"id": w.request}),
    "Mutation.block": Row("BlockPayload", at_alice()),
    "Mutation.unblock": Row("BlockPayload", at_alice()),
    "Mutation.sendMessage": Row(
        "NotFound",
        lambda w: [
            {"conversationId": w.conversation, "body": "hi", "clientMessageId": k}
            for k in (uuid.uuid4().hex, *w.client_message_ids)  # theirs: no idempotent replay
        ],
    ),
    "Mutation.markRead": Row("NotFound", in_their_conversation(upTo="999999999")),
    "Mutation.sendTyping": Row("NotFound", in_their_conversation()),
    "Mutation.markNotificationsRead": Row(
        "NotificationsRead", lambda w: [{"upTo": newest(w, "Notification")}, {}]
    ),
    "Mutation.report": Row("ReportReceipt", at_alice(reason="SPAM", details="hello")),  # untold
    "Mutation.suspendUser": Row("NotAllowed", at_alice(reason="because"), check=moderators_only),
    "Mutation.reinstateUser": Row("NotAllowed", at_alice(), check=moderators_only),
    "Mutation.correctBirthDate": Row(
        "NotAllowed", at_alice(birthDate="1980-01-01"), check=moderators_only
    ),
    "Mutation.dismissReport": Row(
        "NotAllowed",
        lambda w: [{"id": gid("Report", raw(r)), "note": "nothing"} for r in w.reports],
        check=moderators_only,
    ),
    # Subscriptions (anonymous: connection refused; the stranger: NotFound, or only her own)
    "Subscription.messageAdded": Row("NotFound", in_their_conversation(after="0")),
    "Subscription.notifications": Row("Notification", lambda w: {"after": "0"}),
    "Subscription.typing": Row("NotFound", in_their_conversation()),
    "Subscription.readReceipts": Row("NotFound", in_their_conversation()),
}

FIELDS = root_fields()


def fields(*roots: str) -> list[Any]:
    """The root fields of these types as test parameters, named after the field."""
    params = []
    for key in FIELDS:
        if key.split(".")[0] in roots:
            leak = MATRIX[key].leak if key in MATRIX else ""
            marks = [pytest.mark.xfail(strict=True, reason=leak)] if leak else []
            params.append(pytest.param(key, id=key, marks=marks))
    return params


def row_of(key: str) -> Row:
    if key not in MATRIX:
        pytest.fail(f"{key} has no row in tests/test_authorization.py MATRIX: add one")
    return MATRIX[key]


@pytest.fixture(scope="module")
def world(pg_url: str, template_db: str, encoder_model: Any) -> Iterator[World]:
    """One database, app and world for the module (every row only reads the world, or acts
    as a new account)."""
    from app import create_app
    from matching.batching import BatchingEncoder

    name = f"t_authz_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(raw_dsn(pg_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name} TEMPLATE {template_db}"))
    try:
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        settings = make_settings(url)
        # Every row registers someone: rate limits (where there are any) must not get in the way.
        rates = getattr(settings, "rate_limits", None)
        if rates:
            settings = make_settings(url, rate_limits=dict.fromkeys(rates, "100000/minute"))
        with TestClient(create_app(settings, BatchingEncoder(encoder_model))) as http:
            yield build_world(http)
    finally:
        asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))


def test_every_root_field_has_a_row() -> None:
    missing = sorted(set(FIELDS) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(FIELDS))
    assert not missing, f"root fields with no row in MATRIX: {missing}"
    assert not stale, f"rows for fields schema.graphql does not have: {stale}"


def test_the_scanner_finds_what_the_victims_see(world: World) -> None:
    """The victims' own view of their data holds every kind of secret the scanner looks for,
    and the scanner finds each one there (so a leak of any of them would fail a row)."""
    found = set(world.leaks(world.victim_views()))
    assert {f"secret {s!r}" for s in world.secrets - world.unseen} <= found
    seen_kinds = {k: ids for k, ids in world.private_ids.items() if not k.startswith("Report")}
    assert {f"{kind} {i}" for kind, ids in seen_kinds.items() for i in ids} <= found
    numbers = {f"{name} = {value}" for name, value in world.secret_numbers}
    assert numbers <= {leak.split(".", 1)[1] for leak in found if " = " in leak}
    for kind in ("Presence", "Typing", "ReadReceipt", "Me"):
        about = {"__typename": kind, "id": gid(kind, raw(world.bob.id)), "userId": world.bob.id}
        assert world.leaks({"data": about}), kind
    for report in world.reports:
        assert world.leaks({"__typename": "ReportReceipt", "id": report})
        assert world.leaks({"__typename": "Report", "id": gid("Report", raw(report))})
    for kind in ("Me", "OwnProfile", "Preferences"):
        assert world.leaks({"__typename": kind, "id": gid(kind, raw(world.bob.id))}), kind
    assert all(world.leaks([secret]) for secret in world.unseen)


EXPORT = "{ exportMyData { ... on DataExport { data } } }"


def test_an_export_holds_nothing_private_of_anyone_else(world: World) -> None:
    """exportMyData answers free-form JSON, out of reach of the typed checks: each victim's
    export holds none of the others' email, token, birth date or coordinates, and only the
    reporter's (Bob's) holds his report about Carol."""
    names = dict(zip(PRIVATE_PROFILES, world.victims, strict=True))
    own = {
        name: {
            world.emails[who.id],
            who.token,
            PRIVATE_PROFILES[name][0],  # birth date
            *map(str, grid.snap(*PRIVATE_PROFILES[name][1:3])),  # the stored coordinates
        }
        for name, who in names.items()
    }
    own["bob"] |= world.report_details
    for name, who in names.items():
        text = json.dumps(who.gql(EXPORT)["exportMyData"]["data"])
        assert world.emails[who.id] in text  # it is theirs
        others = set().union(*(own[other] for other in names if other != name))
        assert [secret for secret in others if secret in text] == [], name


def attempt(world: World, key: str, variables: Variables, token: str | None) -> Any:
    """Run the row's operation; its result, after checking that the response holds no
    GraphQL error and none of the victims' private data."""
    body = post(world.http, document(key, list(variables)), variables, token)
    assert "errors" not in body, body
    assert world.leaks(body, strings_in(variables)) == [], body
    return body["data"][key.split(".")[1]]


@pytest.mark.parametrize("key", fields("Query", "Mutation"))
def test_anonymous_client(world: World, key: str) -> None:
    row = row_of(key)
    before = world.victim_views() if key.startswith("Mutation.") else None
    for variables in row.cases(world):
        result = attempt(world, key, variables, token=None)
        assert kinds(result) <= set(row.anonymous.split()), (variables, result)
    if before is not None and not row.victims_change:
        assert world.victim_views() == before


@pytest.mark.parametrize("key", fields("Query", "Mutation"))
def test_stranger(world: World, key: str) -> None:
    row = row_of(key)
    mutation = key.startswith("Mutation.")
    actor = Client(world.http) if mutation else world.mallory
    before = world.victim_views() if mutation else None
    for variables in row.cases(world):
        result = attempt(world, key, variables, actor.token)
        assert kinds(result) <= set(row.stranger.split()), (variables, result)
        if row.check is not None:
            row.check(world, actor, result)
    if before is not None and not row.victims_change:
        assert world.victim_views() == before


# What a client may ask for a subscription over HTTP: plain JSON, multipart subscriptions, SSE.
HTTP_STREAMS = ("application/json", 'multipart/mixed;subscriptionSpec="1.0"', "text/event-stream")


@pytest.mark.parametrize("key", fields("Subscription"))
def test_anonymous_subscription(world: World, key: str) -> None:
    """Refused at connection_init (4403) or before it (4401); and no data over HTTP."""
    row = row_of(key)
    variables = row.cases(world)[0]
    query = document(key, list(variables))
    with world.http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4403
    with world.http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        subscribe(ws, query, variables)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401
    for accept in HTTP_STREAMS:
        response = world.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"Accept": accept}
        )
        if response.headers["content-type"] == "application/json":
            body = response.json()
            data = body.get("data")
            assert data is None or data[key.split(".")[1]]["__typename"] in row.anonymous.split()
        else:  # a stream, were one served: the refusal only
            body = response.text
            assert response.status_code >= 400 or row.anonymous in body, response.text
        assert world.leaks(body, strings_in(variables)) == [], body


OWN_LATEST = """query($c: ID!) { messages(conversationId: $c, first: 1) {
  ... on MessageConnection { nodes { id } } } }"""
OWN_ADDED = """subscription($c: ID!, $after: ID) { messageAdded(conversationId: $c, after: $after) {
  ... on Message { id } } }"""


@pytest.mark.parametrize("key", fields("Subscription"))
def test_stranger_subscription(world: World, key: str) -> None:
    """Mallory subscribes aimed at the victims; then they write, type and read; then Trent
    writes to Mallory (the sentinel). Up to the sentinel, her socket must carry only the
    refusal (or results of her own) and none of the victims' data."""
    row = row_of(key)
    mallory, c = world.mallory, world.own_conversation
    for variables in row.cases(world):
        last = mallory.gql(OWN_LATEST, {"c": c})["messages"]["nodes"][0]["id"]
        with mallory.socket() as ws:
            sid = subscribe(ws, document(key, list(variables)), variables)
            sentinel_sid = subscribe(ws, OWN_ADDED, {"c": c, "after": last})
            world.victims_act(key)
            sentinel = send(world.trent, c, f"sentinel after {key}")
            frames = []
            while (frame := ws.receive_json()).get("id") != sentinel_sid:
                frames.append(frame)
        assert frame["payload"]["data"]["messageAdded"]["id"] == sentinel, frame
        assert world.leaks(frames, strings_in(variables)) == [], frames
        ours = [f for f in frames if f.get("id") == sid]
        assert all(f["type"] in ("next", "complete") for f in ours), ours
        name = key.split(".")[1]
        types = [f["payload"]["data"][name]["__typename"] for f in ours if f["type"] == "next"]
        if row.stranger == "NotFound":  # refused at once, and nothing after it
            assert [f["type"] for f in ours] == ["next", "complete"], ours
            assert types == ["NotFound"], ours
        else:
            assert set(types) <= set(row.stranger.split()), ours
