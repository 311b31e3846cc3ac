"""Peer benchmark: Rapport against PostGraphile v4 on the same embedded PostgreSQL and the same
seeded data, five query shapes side by side in one run, req/s and exact p50/p99 from wrk.

Usage (from the repository root):

    .venv/bin/python bench/peer.py                         # -t1 -c16, 2 s warm-up, 8 s each
    .venv/bin/python bench/peer.py --duration 30 --connections 32 --people 2000

What it does, all self-contained and cleaned up at exit:

1. installs PostGraphile v4 from the npm registry into a scratch folder outside the
   repository (--npm-dir, default /tmp/rapport-postgraphile4; reused when it already holds a
   4.x: its graphql version clashes with other tools' if they share a folder);
2. starts a throwaway embedded PostgreSQL (http_api.start_database) and seeds --people
   synthetic people through Rapport's own code (rapport.seed: accounts, profiles, interests,
   embeddings), then, for person 0 (the viewer), 25 active mutual-like matches, each with
   its two like swipes, its conversation, both members and messages (60 in the most recent
   conversation, 3-7 in the others), inserted with SQL as open_conversation and send_message
   would write them; the viewer's read mark is at 0, half-way or at the end, by conversation.
   Then VACUUM ANALYZE;
3. copies that database (CREATE DATABASE peer TEMPLATE postgres, same server, same socket)
   and adds to the copy only the SQL functions PostGraphile needs for what it has no notion
   of (PEER_SQL: the viewer's conversations and matches, a conversation's last message,
   unread count and other member, a match's other person). Rapport's own database is not
   changed;
4. starts ONE uvicorn worker of Rapport (as http_api.py: RAPPORT_ENV=production, request
   logging off) and PostGraphile (`postgraphile -c ...peer --disable-query-log`, one Node
   process, NODE_ENV=production) on free ports; signs the viewer in to Rapport (login);
5. sends each shape once to both servers and checks that they return the same data (ids,
   bodies, unread counts, names, interests) and what was seeded;
6. per shape, Rapport then PostGraphile: wrk with a Lua script that checks every response
   (2xx, no "errors", an expected value in the body) and reports exact p50/p99 (http_api);
7. prints one row per shape: both servers' req/s, p50, p99, the req/s ratio
   (Rapport / PostGraphile), the p99 ratio and whether the target is met (req/s ratio
   >= 0.5 and p99 ratio <= 2). Exit code 0 whether the targets are met or not; non-zero
   when anything failed (a wrong answer, error responses, socket errors, set-up).

What each side computes (the same rows; only Rapport authenticates and applies its rules):
- trivial: `{ __typename }` on both.
- user: Rapport `user(id)` (bearer token checked, rate limit counted, active account and no
  block between the two, age from the birth date, interests through a loader); PostGraphile
  `userById` with `profileByUserId` and `userInterestsByUserId { interestByInterestId }`.
- conversations: Rapport `conversations(first: 20)`: the viewer's conversations not across a
  block, by last activity, each with its last message, unread count (messages from the other
  member after the viewer's read mark) and the other member's User; PostGraphile
  `viewerConversations(viewer, first: 20)` with `lastMessage`, `unreadCount(viewer)` and
  `otherMember(viewer) { profileByUserId }`: SQL functions computing the same (PEER_SQL).
- messages: Rapport `messages(conversationId, first: 50)` (membership checked, newest
  first); PostGraphile `conversationById { messagesByConversationId(first: 50,
  orderBy: ID_DESC) }` (no membership check).
- matches: Rapport `matches(first: 20)` (newest first, not across a block) with each User
  (name, age, city, interests); PostGraphile `viewerMatches(viewer, first: 20)` with
  `otherUser(viewer) { profileByUserId, userInterestsByUserId }`.
PostGraphile is given the viewer's id as an argument and checks nothing; Rapport verifies a
bearer token on every request (through its per-process viewer cache unless
--viewer-cache-ttl 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from http_api import (  # bench/ is this script's folder
    BenchError,
    Result,
    Workload,
    bench_main,
    cpu_meter,
    graphql,
    in_process_settings,
    measure,
    print_header,
    py_spy,
    server_process,
    start_database,
    summarise_stacks,
    uvicorn_server,
    wrk_arguments,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.matching import ordered_pair  # noqa: E402
from rapport.seed import DEMO_PASSWORD, PersonSpec, generate, seed  # noqa: E402
from schema.ids import key_of  # noqa: E402

TARGET_RPS_RATIO = 0.50
TARGET_P99_RATIO = 2.0
MATCHES = 25  # the viewer's matches, each with a conversation (pages of 20 are read)
SHAPE_NAMES = ("trivial", "user", "conversations", "messages", "matches")
LONG_CONVERSATION = 60  # messages in the most recent conversation (a page of 50 is read)
PEER_DATABASE = "peer"

LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  __typename ... on AuthPayload { token } } }"""

# --- the queries --------------------------------------------------------------------------

R_USER = """query($id: ID!) { user(id: $id) { __typename ... on User {
  id displayName age bio goals heightCm gender city photoUrls socialLinks { platform url }
  intent mentorshipRole expertise interests } } }"""
P_USER = """query($id: UUID!) { userById(id: $id) { id
  profileByUserId { displayName birthDate bio goals heightCm gender city photoUrls socialLinks
    intent mentorshipRole expertise }
  userInterestsByUserId { nodes { interestByInterestId { name } } } } }"""

R_CONVERSATIONS = """{ conversations(first: 20) { __typename ... on ConversationConnection {
  nodes { id lastActivityAt unreadCount lastMessage { id senderId body createdAt }
    user { id displayName } } } } }"""
P_CONVERSATIONS = """query($v: UUID!) { viewerConversations(viewer: $v, first: 20) {
  nodes { id lastMessageAt unreadCount(viewer: $v) lastMessage { id senderId body createdAt }
    otherMember(viewer: $v) { id profileByUserId { displayName } } } } }"""

R_MESSAGES = """query($c: ID!) { messages(conversationId: $c, first: 50) {
  __typename ... on MessageConnection { nodes { id senderId body createdAt } } } }"""
P_MESSAGES = """query($c: BigInt!) { conversationById(id: $c) {
  messagesByConversationId(first: 50, orderBy: ID_DESC) { nodes { id senderId body createdAt } }
} }"""

R_MATCHES = """{ matches(first: 20) { __typename ... on MatchConnection {
  nodes { id origin status createdAt user { id displayName age city interests } } } } }"""
P_MATCHES = """query($v: UUID!) { viewerMatches(viewer: $v, first: 20) {
  nodes { id origin status createdAt otherUser(viewer: $v) { id
    profileByUserId { displayName birthDate city }
    userInterestsByUserId { nodes { interestByInterestId { name } } } } } } }"""

# What PostGraphile cannot express from the tables alone, as SQL functions in the copy
# PostGraphile serves: the same conditions as resolvers/chat.py, resolvers/matching.py and
# resolvers/visibility.py (no block between the two; the other person's account active).
PEER_SQL = """
CREATE FUNCTION blocked_between(a uuid, b uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM blocks
                 WHERE (blocker_id = a AND blocked_id = b) OR (blocker_id = b AND blocked_id = a))
$$;
COMMENT ON FUNCTION blocked_between(uuid, uuid) IS E'@omit';

CREATE FUNCTION viewer_conversations(viewer uuid) RETURNS SETOF conversations
LANGUAGE sql STABLE AS $$
  SELECT c.* FROM conversations c
  JOIN matches m ON m.id = c.match_id
  JOIN conversation_members cm ON cm.conversation_id = c.id AND cm.user_id = viewer
  WHERE NOT blocked_between(m.user_low, m.user_high)
  ORDER BY c.last_message_at DESC, c.id DESC
$$;

CREATE FUNCTION conversations_last_message(c conversations) RETURNS messages
LANGUAGE sql STABLE AS $$ SELECT * FROM messages WHERE id = c.last_message_id $$;

CREATE FUNCTION conversations_unread_count(c conversations, viewer uuid) RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT count(*)::integer FROM messages m
  JOIN conversation_members cm ON cm.conversation_id = c.id AND cm.user_id = viewer
  WHERE m.conversation_id = c.id AND m.id > cm.last_read_id
    AND m.sender_id IS DISTINCT FROM viewer
$$;

CREATE FUNCTION conversations_other_member(c conversations, viewer uuid) RETURNS users
LANGUAGE sql STABLE AS $$
  SELECT u.* FROM matches m
  JOIN users u ON u.id = CASE WHEN m.user_low = viewer THEN m.user_high ELSE m.user_low END
  WHERE m.id = c.match_id AND u.status = 'active'
$$;

CREATE FUNCTION viewer_matches(viewer uuid) RETURNS SETOF matches LANGUAGE sql STABLE AS $$
  SELECT * FROM matches
  WHERE (user_low = viewer OR user_high = viewer) AND NOT blocked_between(user_low, user_high)
  ORDER BY id DESC
$$;

CREATE FUNCTION matches_other_user(m matches, viewer uuid) RETURNS users
LANGUAGE sql STABLE AS $$
  SELECT * FROM users
  WHERE id = CASE WHEN m.user_low = viewer THEN m.user_high ELSE m.user_low END
    AND status = 'active'
$$;
"""


class Plan:
    """What was seeded: the viewer, the people matched with them (most recent first), and
    per conversation the expected messages and unread count."""

    def __init__(self, viewer: PersonSpec, partners: list[PersonSpec]) -> None:
        self.viewer = viewer
        self.partners = partners
        self.ids: dict[str, uuid.UUID] = {}  # email -> user id
        self.conversations: list[int] = []  # conversation ids, by partner
        self.matches: list[int] = []  # match ids, by partner
        self.unread: dict[int, int] = {}  # conversation id -> viewer's unread count
        self.bodies: dict[int, list[str]] = {}  # conversation id -> bodies, oldest first

    @property
    def viewer_id(self) -> uuid.UUID:
        return self.ids[self.viewer.email]

    @property
    def target(self) -> PersonSpec:
        """Whom `user(id)` looks at: the viewer's most recent conversation partner."""
        return self.partners[0]


# --- set-up ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = wrk_arguments((__doc__ or "").split("\n\n")[0], duration=8, warmup=2)
    p.add_argument("--people", type=int, default=1000, help="people seeded (1000)")
    p.add_argument(
        "--npm-dir",
        type=Path,
        default=Path("/tmp/rapport-postgraphile4"),
        help="scratch folder PostGraphile v4 is installed into (/tmp/rapport-postgraphile4)",
    )
    p.add_argument(
        "--shapes",
        default=",".join(SHAPE_NAMES),
        help=f"comma-separated shapes to run ({','.join(SHAPE_NAMES)})",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="folder: py-spy records Rapport's worker during each of its timed runs, "
        "one speedscope file and one top-frames summary per shape",
    )
    args = p.parse_args()
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = set(args.shapes) - set(SHAPE_NAMES)
    if unknown:
        p.error(f"unknown shapes: {', '.join(sorted(unknown))}")
    if args.people < MATCHES + 1:
        p.error(f"--people must be at least {MATCHES + 1}")
    args.workers = None  # for http_api.print_header: one uvicorn worker
    return args


def install_postgraphile(folder: Path) -> tuple[Path, str]:
    """PostGraphile 4.x in `folder` (installed from the npm registry unless already there);
    returns its command and version."""
    package = folder / "node_modules" / "postgraphile" / "package.json"
    if not package.exists() or not json.loads(package.read_text())["version"].startswith("4."):
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "package.json").exists():
            (folder / "package.json").write_text('{"name": "rapport-peer", "private": true}\n')
        print(f"npm install postgraphile@4 in {folder} ...", flush=True)
        out = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "postgraphile@4"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0 or not package.exists():
            raise BenchError(f"npm install postgraphile@4 failed:\n{out.stdout}\n{out.stderr}")
    return folder / "node_modules" / ".bin" / "postgraphile", json.loads(package.read_text())[
        "version"
    ]


def plain_dsn(database_url: str, database: str | None = None) -> str:
    """asyncpg's (and libpq's) URL of the embedded server, optionally another database."""
    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    if database is not None:
        url = url.replace("@/postgres?", f"@/{database}?")
    return url


def ascii_name(spec: PersonSpec) -> bool:
    """Plain ASCII display name and interests: the wrk scripts look for them verbatim, and
    the two servers escape other characters differently in JSON."""
    return spec.display_name.isascii() and all(i.isascii() for i in spec.interests)


def plan_for(specs: list[PersonSpec]) -> Plan:
    partners = [s for s in specs[1:] if ascii_name(s) and s.interests][:MATCHES]
    if len(partners) < MATCHES:
        raise BenchError(f"only {len(partners)} seeded people fit as the viewer's matches")
    return Plan(specs[0], partners)


async def seed_people(database_url: str, specs: list[PersonSpec], plan: Plan) -> None:
    from rapport.resources import open_resources

    async with open_resources(in_process_settings(database_url)) as resources:
        ids = await seed(resources, specs, concurrency=16, progress=False)
    plan.ids = {s.email: i for s, i in zip(specs, ids, strict=True)}


async def seed_chat(conn: asyncpg.Connection, plan: Plan) -> None:
    """The viewer's matches, conversations and messages, as Rapport writes them: a mutual like
    (two live like swipes), an active match of the ordered pair, its conversation with both
    members, messages whose ids grow with time, the conversation's last message. Partner 0's
    conversation is the most recent; match ids grow with the partner number (so `matches`,
    newest first, starts at the last partner)."""
    viewer = plan.viewer_id
    now = datetime.now(UTC)
    async with conn.transaction():
        for n, partner in enumerate(plan.partners):
            other = plan.ids[partner.email]
            formed = now - timedelta(days=30, minutes=n)
            for swiper, target in ((viewer, other), (other, viewer)):
                await conn.execute(
                    "INSERT INTO swipes (swiper_id, target_id, kind, created_at) "
                    "VALUES ($1, $2, 'like', $3)",
                    swiper,
                    target,
                    formed,
                )
            low, high = ordered_pair(viewer, other)
            match_id = await conn.fetchval(
                "INSERT INTO matches (user_low, user_high, origin, status, created_at) "
                "VALUES ($1, $2, 'mutual_like', 'active', $3) RETURNING id",
                low,
                high,
                formed,
            )
            conversation_id = await conn.fetchval(
                "INSERT INTO conversations (match_id, created_at, last_message_at) "
                "VALUES ($1, $2, $2) RETURNING id",
                match_id,
                formed,
            )
            await conn.executemany(
                "INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2)",
                [(conversation_id, low), (conversation_id, high)],
            )
            count = LONG_CONVERSATION if n == 0 else 3 + n % 5
            last_at = now - timedelta(hours=n)
            sent: list[tuple[int, uuid.UUID]] = []
            bodies = []
            for k in range(count):
                sender = viewer if k % 2 == 0 else other
                body = f"peer-bench c{n} m{k} " + "lorem ipsum " * (1 + k % 4)
                at = last_at - timedelta(minutes=count - 1 - k)
                message_id = await conn.fetchval(
                    "INSERT INTO messages (conversation_id, sender_id, body, client_message_id,"
                    " created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    conversation_id,
                    sender,
                    body.strip(),
                    f"peer-bench-{n}-{k}",
                    at,
                )
                sent.append((message_id, sender))
                bodies.append(body.strip())
            await conn.execute(
                "UPDATE conversations SET last_message_id = $2, last_message_at = $3 WHERE id = $1",
                conversation_id,
                sent[-1][0],
                last_at,
            )
            # the viewer's read mark: nothing read, half-way, or everything
            mark = [0, sent[len(sent) // 2][0], sent[-1][0]][n % 3]
            await conn.execute(
                "UPDATE conversation_members SET last_read_id = $3 "
                "WHERE conversation_id = $1 AND user_id = $2",
                conversation_id,
                viewer,
                mark,
            )
            plan.matches.append(match_id)
            plan.conversations.append(conversation_id)
            plan.bodies[conversation_id] = bodies
            plan.unread[conversation_id] = sum(1 for i, s in sent if i > mark and s != viewer)


async def prepare_database(database_url: str, plan: Plan, specs: list[PersonSpec]) -> None:
    """Seed people and chat, VACUUM ANALYZE, then the copy PostGraphile serves."""
    await seed_people(database_url, specs, plan)
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        await seed_chat(conn, plan)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    # CREATE DATABASE ... TEMPLATE needs no one else connected to the template: from template1.
    conn = await asyncpg.connect(plain_dsn(database_url, "template1"))
    try:
        await conn.execute(f"CREATE DATABASE {PEER_DATABASE} TEMPLATE postgres")
    finally:
        await conn.close()
    conn = await asyncpg.connect(plain_dsn(database_url, PEER_DATABASE))
    try:
        await conn.execute(PEER_SQL)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def postgraphile_server(
    command: Path, database_url: str, log_path: Path
) -> AbstractContextManager[tuple[str, int]]:
    """PostGraphile v4 (one Node process) on the copy, through the embedded server's socket."""
    query = parse_qs(urlsplit(database_url).query)
    connection = (
        f"postgres://postgres@/{PEER_DATABASE}?host={query['host'][0]}&port={query['port'][0]}"
    )

    def ready(base_url: str) -> bool:
        response = httpx.post(f"{base_url}/graphql", json={"query": "{ __typename }"}, timeout=2)
        return response.status_code == 200

    return server_process(
        lambda port: [
            str(command),
            "-c",
            connection,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--disable-query-log",
            "--disable-graphiql",
            "--dynamic-json",  # json columns as JSON values, as Rapport answers them
        ],
        {**os.environ, "NODE_ENV": "production"},
        log_path,
        ready=ready,
    )


def login(client: httpx.Client, email: str) -> str:
    data = graphql(client, LOGIN, {"i": {"email": email, "password": DEMO_PASSWORD}})
    if data["login"]["__typename"] != "AuthPayload":
        raise BenchError(f"login {email}: {data}")
    return str(data["login"]["token"])


# --- the shapes, checked once on both servers ------------------------------------------------


@dataclass(frozen=True)
class Shape:
    name: str
    rapport: Workload
    peer: Workload


def raw(value: str, type_name: str) -> str:
    return key_of(value, type_name)


def disagree(shape: str, rapport: Any, peer: Any) -> BenchError:
    def short(data: Any) -> str:
        text = json.dumps(data)
        return text if len(text) < 1500 else text[:1500] + " ..."

    return BenchError(
        f"{shape}: the servers disagree:\nRapport {short(rapport)}\nPostGraphile {short(peer)}"
    )


def interests_of(nodes: list[dict[str, Any]]) -> list[str]:
    return sorted(n["interestByInterestId"]["name"] for n in nodes)


def check_user(r: dict[str, Any], p: dict[str, Any], plan: Plan) -> None:
    ru, pu = r["user"], p["userById"]
    profile = pu["profileByUserId"]
    same = (
        ru["__typename"] == "User"
        and raw(ru["id"], "User") == pu["id"] == str(plan.ids[plan.target.email])
        and ru["displayName"] == profile["displayName"] == plan.target.display_name
        and (ru["bio"], ru["goals"], ru["heightCm"], ru["city"], ru["photoUrls"])
        == (
            profile["bio"],
            profile["goals"],
            profile["heightCm"],
            profile["city"],
            profile["photoUrls"],
        )
        and ru["socialLinks"] == profile["socialLinks"]
        and sorted(ru["interests"])
        == interests_of(pu["userInterestsByUserId"]["nodes"])
        == sorted(plan.target.interests)
    )
    if not same:
        raise disagree("user", ru, pu)


def check_conversations(r: dict[str, Any], p: dict[str, Any], plan: Plan) -> None:
    rn, pn = r["conversations"]["nodes"], p["viewerConversations"]["nodes"]
    expected = plan.conversations[:20]

    def rapport_row(c: dict[str, Any]) -> tuple[Any, ...]:
        last = c["lastMessage"]
        return (
            int(raw(c["id"], "Conversation")),
            c["unreadCount"],
            int(raw(last["id"], "Message")),
            last["body"],
            raw(last["senderId"], "User"),
            c["user"]["displayName"],
        )

    def peer_row(c: dict[str, Any]) -> tuple[Any, ...]:
        last = c["lastMessage"]
        return (
            int(c["id"]),
            c["unreadCount"],
            int(last["id"]),
            last["body"],
            last["senderId"],
            c["otherMember"]["profileByUserId"]["displayName"],
        )

    rows = [rapport_row(c) for c in rn]
    seeded = [
        (cid, plan.unread[cid], plan.bodies[cid][-1], plan.partners[n].display_name)
        for n, cid in enumerate(expected)
    ]
    if (
        rows != [peer_row(c) for c in pn]
        or [(a, b, d, f) for a, b, _, d, _, f in rows] != seeded
        or not any(row[1] for row in rows)
    ):
        raise disagree("conversations", rn, pn)


def check_messages(r: dict[str, Any], p: dict[str, Any], plan: Plan) -> None:
    rn = r["messages"]["nodes"]
    pn = p["conversationById"]["messagesByConversationId"]["nodes"]
    rows = [(int(raw(m["id"], "Message")), raw(m["senderId"], "User"), m["body"]) for m in rn]
    peer = [(int(m["id"]), m["senderId"], m["body"]) for m in pn]
    bodies = plan.bodies[plan.conversations[0]][::-1][:50]
    if rows != peer or [b for _, _, b in rows] != bodies:
        raise disagree("messages", rn, pn)


def check_matches(r: dict[str, Any], p: dict[str, Any], plan: Plan) -> None:
    rn, pn = r["matches"]["nodes"], p["viewerMatches"]["nodes"]
    rows = [
        (
            int(raw(m["id"], "Match")),
            m["status"],
            raw(m["user"]["id"], "User"),
            m["user"]["displayName"],
            m["user"]["city"],
            sorted(m["user"]["interests"]),
        )
        for m in rn
    ]
    peer = [
        (
            int(m["id"]),
            m["status"].upper(),  # stored as text, an enum in Rapport's schema
            m["otherUser"]["id"],
            m["otherUser"]["profileByUserId"]["displayName"],
            m["otherUser"]["profileByUserId"]["city"],
            interests_of(m["otherUser"]["userInterestsByUserId"]["nodes"]),
        )
        for m in pn
    ]
    newest = list(reversed(plan.matches))[:20]
    if rows != peer or [row[0] for row in rows] != newest or rows[0][1] != "ACTIVE":
        raise disagree("matches", rn, pn)


CHECKS: dict[str, Callable[[dict[str, Any], dict[str, Any], Plan], None]] = {
    "user": check_user,
    "conversations": check_conversations,
    "messages": check_messages,
    "matches": check_matches,
}


def shapes(plan: Plan, token: str, conversation_gid: str) -> list[Shape]:
    viewer = {"v": str(plan.viewer_id)}
    long_conversation = plan.conversations[0]
    target = plan.target
    last_match_user = plan.partners[len(plan.partners) - 20]  # the 20th newest match

    def pair(name: str, r: dict[str, Any], p: dict[str, Any], expect: str) -> Shape:
        return Shape(
            name,
            Workload(f"rapport-{name}", r, token, expect),
            Workload(f"postgraphile-{name}", p, None, expect),
        )

    return [
        Shape(
            "trivial",
            Workload("rapport-trivial", {"query": "{ __typename }"}, None, '"Query"'),
            Workload("postgraphile-trivial", {"query": "{ __typename }"}, None, '"Query"'),
        ),
        pair(
            "user",
            {"query": R_USER, "variables": {"id": str(plan.ids[target.email])}},
            {"query": P_USER, "variables": {"id": str(plan.ids[target.email])}},
            json.dumps(sorted(target.interests)[-1]),
        ),
        pair(
            "conversations",
            {"query": R_CONVERSATIONS},
            {"query": P_CONVERSATIONS, "variables": viewer},
            json.dumps(plan.bodies[plan.conversations[19]][-1]),  # the 20th conversation's
        ),
        pair(
            "messages",
            {"query": R_MESSAGES, "variables": {"c": conversation_gid}},
            {"query": P_MESSAGES, "variables": {"c": str(long_conversation)}},
            json.dumps(plan.bodies[long_conversation][-50]),  # the oldest of the page
        ),
        pair(
            "matches",
            {"query": R_MATCHES},
            {"query": P_MATCHES, "variables": viewer},
            json.dumps(last_match_user.display_name),
        ),
    ]


def check_shapes(rapport: httpx.Client, peer: httpx.Client, loads: list[Shape], plan: Plan) -> None:
    """Each shape once on both servers: no errors, the same data, what was seeded, and the
    value its wrk script looks for in every response body."""
    for shape in loads:
        answers = []
        for client, w in ((rapport, shape.rapport), (peer, shape.peer)):
            headers = {"Authorization": f"Bearer {w.token}"} if w.token else {}
            response = client.post("/graphql", json=w.payload, headers=headers)
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise BenchError(f"{w.name}: {response.status_code} {body}")
            if w.expect not in response.text:
                raise BenchError(f"{w.name}: the response lacks {w.expect}: {response.text}")
            answers.append(body["data"])
        if shape.name == "trivial":
            continue
        CHECKS[shape.name](answers[0], answers[1], plan)


# --- run and report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    shape: str
    rapport: Result
    peer: Result

    @property
    def rps_ratio(self) -> float:
        return self.rapport.rps / self.peer.rps

    @property
    def cpu_ratio(self) -> float:
        """PostGraphile's CPU per request over Rapport's: the req/s ratio each would reach
        with a core to itself (what a shared, busy machine blurs in req/s)."""
        assert self.rapport.cpu_us and self.peer.cpu_us
        return self.peer.cpu_us / self.rapport.cpu_us

    @property
    def p99_ratio(self) -> float:
        return self.rapport.p99_ms / self.peer.p99_ms

    @property
    def met(self) -> bool:
        return self.rps_ratio >= TARGET_RPS_RATIO and self.p99_ratio <= TARGET_P99_RATIO


def print_table(rows: list[Row]) -> None:
    print(
        f"\n{'shape':<14} {'Rapport req/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs':>7}   "
        f"{'PostGraphile req/s':>18} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs':>7}   "
        f"{'req/s ratio':>11} {'CPU ratio':>9} {'p99 ratio':>9}  target"
    )
    for row in rows:
        r, p = row.rapport, row.peer
        print(
            f"{row.shape:<14} {r.rps:>13.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.cpu_us:>7.0f}   "
            f"{p.rps:>18.0f} {p.p50_ms:>7.2f} {p.p99_ms:>7.2f} {p.cpu_us:>7.0f}   "
            f"{row.rps_ratio:>11.2f} {row.cpu_ratio:>9.2f} {row.p99_ratio:>9.2f}  "
            f"{'MET' if row.met else 'NOT MET'}"
        )
    met = sum(row.met for row in rows)
    print(
        f"\nTarget per shape: Rapport >= {TARGET_RPS_RATIO:.1f}x PostGraphile's req/s and p99 <= "
        f"{TARGET_P99_RATIO:.0f}x PostGraphile's, one worker each: met by {met} of {len(rows)}."
    )
    print(
        "CPU µs: CPU time the server's process and the PostgreSQL backends serving its "
        "database together spent per request in the timed run; CPU ratio: PostGraphile's over "
        "Rapport's (what the req/s ratio would be if each had the machine to itself: steadier "
        "than req/s when other processes share it)."
    )
    print(
        "Rapport authenticates every request (a bearer token verified per request, rate limits "
        "counted, blocks and account status applied); PostGraphile here does not authenticate "
        "at all (the viewer's id is a query argument, no row-level security, no rules)."
    )


def run(args: argparse.Namespace) -> None:
    command, pg_version = install_postgraphile(args.npm_dir)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    print_header(args)
    print(
        f"PostGraphile {pg_version} (node {node.stdout.strip()}, one process, NODE_ENV=production,"
        " query log off) on a copy of the same database, same PostgreSQL server and socket",
        flush=True,
    )
    database_url, pgdata = start_database()
    specs = generate(args.people, 0)
    plan = plan_for(specs)
    started = time.perf_counter()
    asyncio.run(prepare_database(database_url, plan, specs))
    print(
        f"seeded {len(specs):,} people through rapport.seed, and {MATCHES} matches with "
        f"conversations and {sum(len(b) for b in plan.bodies.values())} messages for the "
        f"viewer, in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="rapport-peer-") as tmp:
        directory = Path(tmp)
        with (
            uvicorn_server(database_url, directory / "uvicorn.log", args.viewer_cache_ttl) as (
                rapport_url,
                rapport_pid,
            ),
            postgraphile_server(command, database_url, directory / "postgraphile.log") as (
                peer_url,
                peer_pid,
            ),
        ):
            print(
                f"Rapport: uvicorn pid {rapport_pid} at {rapport_url}; "
                f"PostGraphile: pid {peer_pid} at {peer_url}",
                flush=True,
            )
            with (
                httpx.Client(base_url=rapport_url, timeout=30) as rapport,
                httpx.Client(base_url=peer_url, timeout=30) as peer,
            ):
                token = login(rapport, plan.viewer.email)
                conversation_gid = rapport_conversation_id(rapport, token)
                loads = [s for s in shapes(plan, token, conversation_gid) if s.name in args.shapes]
                check_shapes(rapport, peer, loads, plan)
            print("checked every shape once on both servers (same data); running wrk ...")
            rows = []
            for shape in loads:
                results = []
                for server, url, w, pid, database in (
                    ("Rapport", rapport_url, shape.rapport, rapport_pid, "postgres"),
                    ("PostGraphile", peer_url, shape.peer, peer_pid, PEER_DATABASE),
                ):
                    meter = cpu_meter(pid, pgdata, database)
                    print(f"  {shape.name} on {server} ...", end=" ", flush=True)
                    with profiled(args, shape.name if server == "Rapport" else None, rapport_pid):
                        results.append(measure(f"{url}/graphql", w, directory, args, meter))
                    print(f"{results[-1].rps:.0f} req/s", flush=True)
                rows.append(Row(shape.name, *results))
    print_table(rows)


@contextmanager
def profiled(args: argparse.Namespace, shape: str | None, pid: int) -> Iterator[None]:
    """With --profile and a Rapport run: py-spy records the worker for the run (warm-up
    included), then the folder gets `<shape>.txt` (collapsed stacks, which speedscope and
    flamegraph.pl read) and `<shape>-summary.txt` (where the samples went)."""
    if args.profile is None or shape is None:
        yield
        return
    stacks = args.profile / f"{shape}.txt"
    with py_spy(pid, stacks):
        yield
    summary = summarise_stacks(stacks.read_text())
    (args.profile / f"{shape}-summary.txt").write_text(summary)
    print(f"\n{summary}", end="  ", flush=True)


def rapport_conversation_id(client: httpx.Client, token: str) -> str:
    """The global id of the viewer's most recent conversation, as a client learns it."""
    data = graphql(
        client,
        "{ conversations(first: 1) { ... on ConversationConnection { nodes { id } } } }",
        token=token,
    )
    return str(data["conversations"]["nodes"][0]["id"])


if __name__ == "__main__":
    bench_main(run, parse_args)
