"""The fixture world of tests/test_authorization.py and the tools its matrix uses: operation
documents generated from schema.graphql (every field a result could show), a scanner that
finds the victims' private data in any response, and the victims' own view of their data
(to show that nothing a stranger did changed it).

The world, built once through the public API: Alice and Bob (matched, a conversation with
messages and read marks, notifications), Carol (a pending interest request to Alice, and
reported by Bob), each with distinctive private values; Mallory, an unrelated signed-in user with a profile and a
match of her own with Trent (whose messages serve as a sentinel on her socket).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    build_schema,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.language import NameNode, OperationDefinitionNode, SelectionSetNode, Visitor
from graphql.pyutils import Undefined
from starlette.testclient import TestClient

from matching import grid
from rapport.settings import PROJECT_ROOT
from schema.ids import decode
from tests.support.ids import gid
from tests.support.ids import key as raw
from tests.support.live_chat import Client, send

SCHEMA: GraphQLSchema = build_schema((PROJECT_ROOT / "schema.graphql").read_text())
ROOTS = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}
SELECTION_DEPTH = 5  # enough for every object a result holds (request.sender.socialLinks)


def root_fields() -> list[str]:
    """Every root field of schema.graphql, as "Query.me", "Mutation.sendMessage", ..."""
    found = []
    for type_name in ROOTS:
        root = SCHEMA.get_type(type_name)
        if isinstance(root, GraphQLObjectType):
            found += [f"{type_name}.{name}" for name in root.fields]
    return found


def root_field(key: str) -> GraphQLField:
    type_name, name = key.split(".")
    root = SCHEMA.get_type(type_name)
    assert isinstance(root, GraphQLObjectType), type_name
    return root.fields[name]


ALIAS = "_as_"  # members of one abstract type whose fields of one name differ: `kind_as_Swipe`


def selection(
    output: GraphQLOutputType, depth: int = SELECTION_DEPTH, seen: dict[str, str] | None = None
) -> str:
    """Every field the type can show, down to `depth` objects. Connections are read through
    `nodes` (their `edges` hold the same nodes); fields that need arguments are left out.
    Where members of an abstract type (e.g. Node) have fields of one name but different types,
    the later ones are aliased `<name>_as_<Type>` (objects() reads them under their name)."""
    named = get_named_type(output)
    if is_leaf_type(named):
        return ""
    if depth == 0:
        return " { __typename }"
    if is_abstract_type(named):
        members = SCHEMA.get_possible_types(named)
        types: dict[str, str] = {}
        return (
            " { " + " ".join(f"... on {m.name}{selection(m, depth, types)}" for m in members) + " }"
        )
    assert isinstance(named, GraphQLObjectType)
    parts = []
    for name, child in named.fields.items():
        needs_args = any(
            is_non_null_type(a.type) and a.default_value is Undefined for a in child.args.values()
        )
        if not needs_args and not (name == "edges" and "nodes" in named.fields):
            sub = selection(child.type, depth - 1)
            shape = f"{child.type}{sub}"
            alias = ""
            if seen is not None and seen.setdefault(name, shape) != shape:
                alias = f"{name}{ALIAS}{named.name}: "
            parts.append(alias + name + sub)
    return " { " + " ".join(parts) + " }"


class _AddTypenames(Visitor):
    def leave_selection_set(self, node: SelectionSetNode, key: Any, parent: Any, *_: Any) -> Any:
        if isinstance(parent, OperationDefinitionNode):
            return None  # the root: a subscription selects one field, and no __typename
        typename = FieldNode(name=NameNode(value="__typename"))
        return SelectionSetNode(selections=(typename, *node.selections))


def with_typenames(query: str) -> str:
    """`query` with __typename in every selection (the leak scanner tells objects apart by it)."""
    return print_ast(visit(parse(query), _AddTypenames()))


def document(key: str, arguments: list[str]) -> str:
    """The operation for one root field, its `arguments` passed as variables of the same
    names, selecting everything its result could show, with __typename on every object."""
    type_name, name = key.split(".")
    spec = root_field(key)
    unknown = set(arguments) - set(spec.args)
    assert not unknown, f"{key} has no argument(s) {unknown}"
    declared = ", ".join(f"${a}: {spec.args[a].type}" for a in arguments)
    passed = ", ".join(f"{a}: ${a}" for a in arguments)
    query = with_typenames(
        f"{ROOTS[type_name]} Authz{f'({declared})' if declared else ''} "
        f"{{ {name}{f'({passed})' if passed else ''}{selection(spec.type)} }}"
    )
    assert not validate(SCHEMA, parse(query)), (key, validate(SCHEMA, parse(query)))
    return query


def strings_in(value: Any) -> set[str]:
    """Every string in a JSON-like value (what a caller supplied is not a leak when echoed)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(strings_in(v) for v in value))
    return set()


def post(http: TestClient, query: str, variables: dict[str, Any], token: str | None) -> Any:
    """One operation over HTTP; the whole response body (data and any errors)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# Fields that name a private object by its id, and the kind of object they name.
ID_FIELDS = {
    "conversationId": "Conversation",
    "messageId": "Message",
    "lastReadId": "Message",
    "requestId": "InterestRequest",
    "matchId": "Match",
}
# Objects keyed by their owner: never a victim's for a stranger.
OWNED = {"Me", "OwnProfile", "Preferences"}


def owner(value: Any) -> str | None:
    """The User id of the person an owned object's global id is keyed by."""
    decoded = decode(value) if isinstance(value, str) else None
    return gid("User", decoded[1]) if decoded else None


# Objects that are only ever about the person they name (userId): never a victim's for a stranger.
PERSONAL = {"Presence", "Typing", "ReadReceipt"}
VICTIM_VIEW = """query Victim($c: ID!) {
  me { __typename ... on Me { id email status
    profile { birthDate bio goals interests location { city latitude longitude } }
    preferences { ageMin ageMax heightMinCm heightMaxCm genders maxDistanceKm intents } } }
  conversations(first: 100) { __typename ... on ConversationConnection { nodes {
    id open unreadCount lastReadId user { id } lastMessage { id body } } } }
  messages(conversationId: $c, first: 100) { __typename ... on MessageConnection { nodes {
    id senderId body clientMessageId } } }
  matches(first: 100) { __typename ... on MatchConnection { nodes {
    id status endedAt user { id } } } }
  received: interestRequests(direction: RECEIVED, first: 100) { ...Requests }
  sent: interestRequests(direction: SENT, first: 100) { ...Requests }
  notifications(first: 100) { __typename ... on NotificationConnection { nodes {
    id kind actorId readAt } } }
}
fragment Requests on InterestRequestsResult { __typename ... on InterestRequestConnection {
  nodes { id status message sender { id } receiver { id } } } }"""
VIEW = with_typenames(VICTIM_VIEW)


@dataclass
class World:
    http: TestClient
    alice: Client
    bob: Client
    carol: Client
    mallory: Client
    trent: Client
    conversation: str  # Alice and Bob's
    match: str  # Alice and Bob's
    request: str  # Carol's pending request to Alice
    own_conversation: str  # Mallory and Trent's
    secrets: set[str] = field(default_factory=set)  # strings only the victims may see
    unseen: set[str] = field(default_factory=set)  # secrets no view of their own data shows
    secret_numbers: set[tuple[str, float]] = field(default_factory=set)  # (field, value)
    private_ids: dict[str, set[str]] = field(default_factory=dict)  # type -> ids
    emails: dict[str, str] = field(default_factory=dict)  # the victims', by user id
    client_message_ids: list[str] = field(default_factory=list)  # the victims' messages'
    reports: set[str] = field(default_factory=set)  # ids of reports between victims
    report_details: set[str] = field(default_factory=set)  # what those reports say

    @property
    def victims(self) -> list[Client]:
        return [self.alice, self.bob, self.carol]

    def victim_views(self) -> list[Any]:
        """What each victim sees of their own data (nothing that moves by itself: no presence,
        no activity times)."""
        views = [v.gql(VIEW, {"c": self.conversation}) for v in self.victims]
        assert all(view["me"]["__typename"] == "Me" for view in views), views  # still signed in
        return views

    def refresh_private_ids(self) -> None:
        """The ids of everything that is between victims only (conversations, their messages,
        matches, requests, notifications one caused the other), read as the victims."""
        people = {v.id for v in self.victims}
        ids: dict[str, set[str]] = {k: set() for k in ("Conversation", "Message", "Match")}
        ids |= {"InterestRequest": set(), "Notification": set()}
        for view in self.victim_views():
            ids["Conversation"] |= {
                c["id"] for c in nodes(view["conversations"]) if c["user"]["id"] in people
            }
            ids["Message"] |= {m["id"] for m in nodes(view["messages"])}
            ids["Match"] |= {m["id"] for m in nodes(view["matches"]) if m["user"]["id"] in people}
            ids["InterestRequest"] |= {
                r["id"]
                for r in nodes(view["received"]) + nodes(view["sent"])
                if {r["sender"]["id"], r["receiver"]["id"]} <= people
            }
            ids["Notification"] |= {
                n["id"] for n in nodes(view["notifications"]) if n["actorId"] in people
            }
        ids["ReportReceipt"] = set(self.reports)  # only moderators list them
        ids["Report"] = {gid("Report", raw(r)) for r in self.reports}
        self.private_ids = ids

    def victims_act(self, tag: str) -> None:
        """The victims write, type and read in their conversation (new private data)."""
        body = f"secret-body-{tag}-{uuid.uuid4().hex[:8]}"
        self.secrets.add(body)
        message = send(self.alice, self.conversation, body)
        self.bob.gql(
            "mutation($c: ID!) { sendTyping(conversationId: $c) { __typename } }",
            {"c": self.conversation},
        )
        self.bob.gql(
            "mutation($c: ID!, $u: ID!) { markRead(conversationId: $c, upTo: $u) { __typename } }",
            {"c": self.conversation, "u": message},
        )
        self.refresh_private_ids()

    def leaks(self, payload: Any, supplied: Collection[str] = ()) -> list[str]:
        """Every piece of the victims' private data in `payload` (a response, or any JSON):
        their secret strings (unless the caller supplied them), private numbers by field,
        objects of theirs by id, and personal objects (presence, typing, receipts) about them."""
        found = []
        text = json.dumps(payload, ensure_ascii=False)
        found += [f"secret {s!r}" for s in sorted(self.secrets - set(supplied)) if s in text]
        people = {v.id for v in self.victims}
        for obj in objects(payload):
            kind = obj.get("__typename")
            if kind in self.private_ids and obj.get("id") in self.private_ids[kind]:
                found.append(f"{kind} {obj['id']}")
            for name, target in ID_FIELDS.items():
                if obj.get(name) in self.private_ids.get(target, ()):
                    found.append(f"{kind}.{name} {obj[name]} (a victims' {target})")
            if kind in OWNED and owner(obj.get("id")) in people:
                found.append(f"a victim's {kind} {obj['id']}")
            if kind in PERSONAL and obj.get("userId") in people:
                found.append(f"{kind} of victim {obj['userId']}")
            found += [
                f"{kind}.{name} = {value}"
                for name, value in obj.items()
                if isinstance(value, int | float) and (name, value) in self.secret_numbers
            ]
        return found


def nodes(result: Any) -> list[Any]:
    return result.get("nodes", []) if isinstance(result, dict) else []


def objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield {k.split(ALIAS)[0]: v for k, v in value.items()}
        for v in value.values():
            yield from objects(v)
    elif isinstance(value, list):
        for v in value:
            yield from objects(v)


def done(who: Client, mutation: str, variables: dict[str, Any]) -> Any:
    """Run a mutation of one field as `who`; its result, which must not be an error."""
    result = next(iter(who.gql(mutation, variables).values()))
    assert result["__typename"] not in ERRORS, result
    return result


ERRORS = {t.name for t in SCHEMA.get_possible_types(SCHEMA.get_type("Error"))}  # type: ignore[arg-type]
PRIVATE_PROFILES = {
    "alice": ("1987-03-14", 48.137131, 11.575492, 23, 67, 93, 247, 12345),
    "bob": ("1985-07-21", 52.524371, 13.410531, 24, 66, 94, 246, 12346),
    "carol": ("1990-11-02", 45.464271, 9.189511, 25, 65, 95, 245, 12347),
}
PRIVATE_NAMES = tuple(PRIVATE_PROFILES)


def _make_private(world: World, who: Client, name: str) -> None:
    birth, lat, lon, age_min, age_max, h_min, h_max, distance = PRIVATE_PROFILES[name]
    location = {"city": "Somewhere", "latitude": lat, "longitude": lon}
    done(
        who,
        "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { __typename } }",
        {"i": {"location": location}},
    )
    preferences = {
        "ageMin": age_min,
        "ageMax": age_max,
        "heightMinCm": h_min,
        "heightMaxCm": h_max,
        "maxDistanceKm": distance,
    }
    done(
        who,
        "mutation($i: UpdatePreferencesInput!) { updatePreferences(input: $i) { __typename } }",
        {"i": preferences},
    )
    world.secrets |= {birth, who.token}
    world.unseen.add(who.token)
    stored = grid.snap(lat, lon)  # only the cell centre is kept (and shown to its owner)
    world.secret_numbers |= {("latitude", stored[0]), ("longitude", stored[1])}
    world.secret_numbers |= set(preferences.items())


LIKE = """mutation($id: ID!, $note: String) { like(userId: $id, note: $note) {
  __typename ... on SwipePayload { match { id } } } }"""
CONVERSATIONS = "{ conversations { ... on ConversationConnection { nodes { id } } } }"


def match(a: Client, b: Client, note: str | None = None) -> tuple[str, str]:
    """a likes b (with `note`), b likes back: the match id and their conversation's id."""
    assert a.gql(LIKE, {"id": b.id, "note": note})["like"]["match"] is None
    made = b.gql(LIKE, {"id": a.id})["like"]["match"]
    assert made is not None
    conversation = b.gql(CONVERSATIONS)["conversations"]["nodes"][0]["id"]
    return made["id"], conversation


def build_world(http: TestClient) -> World:
    # birth dates are fixed once a profile exists: the private ones are given at creation
    alice, bob, carol = (Client(http, birthDate=PRIVATE_PROFILES[n][0]) for n in PRIVATE_NAMES)
    mallory, trent = Client(http), Client(http)
    note, request_message = (f"secret-{what}-{uuid.uuid4().hex[:8]}" for what in ("note", "ask"))
    match_id, conversation = match(alice, bob, note)
    request = done(
        carol,
        "mutation($id: ID!, $m: String!) { sendInterest(userId: $id, message: $m) { "
        "__typename ... on InterestRequest { id } } }",
        {"id": alice.id, "m": request_message},
    )
    _, own_conversation = match(mallory, trent)
    world = World(
        http, alice, bob, carol, mallory, trent, conversation, match_id, request["id"],
        own_conversation,
    )  # fmt: skip
    world.secrets |= {note, request_message}
    world.unseen.add(note)  # only a swipe shows it, to its author
    details = f"secret-report-{uuid.uuid4().hex[:8]}"
    reported = done(
        bob,
        "mutation($id: ID!, $d: String!) { report(userId: $id, reason: HARASSMENT, details: $d) "
        "{ __typename ... on ReportReceipt { id } } }",
        {"id": carol.id, "d": details},
    )
    world.reports.add(reported["id"])
    world.secrets.add(details)
    world.report_details.add(details)
    world.unseen.add(details)  # moderators only
    for who, name in zip((alice, bob, carol), PRIVATE_NAMES, strict=True):
        _make_private(world, who, name)
        world.emails[who.id] = who.gql("{ me { ... on Me { email } } }")["me"]["email"]
    world.secrets |= set(world.emails.values())
    for who, body in ((alice, "first"), (alice, "second"), (bob, "reply")):
        key = f"secret-key-{body}-{uuid.uuid4().hex[:8]}"
        sent = who.gql(
            "mutation($c: ID!, $b: String!, $k: String!) { sendMessage(conversationId: $c, "
            "body: $b, clientMessageId: $k) { ... on Message { id } } }",
            {"c": conversation, "b": f"secret-body-{body}-{key[-8:]}", "k": key},
        )
        world.secrets |= {f"secret-body-{body}-{key[-8:]}", key}
        world.client_message_ids.append(key)
        assert sent["sendMessage"]["id"]
    world.victims_act("world")
    send(trent, own_conversation, "Mallory's own message")
    for kind in ("Conversation", "Message", "Match", "InterestRequest", "Notification", "Report"):
        assert world.private_ids[kind], f"the world has no private {kind}"
    return world
