"""Soak: many clients mixing logins, recommendations, swipes and chat against one uvicorn worker
for a bounded time; the server's memory must stay flat and nothing may fail.

Usage (from the repository root):

    .venv/bin/python bench/soak.py                      # 300 s, 200 clients, 40 actions/s
    .venv/bin/python bench/soak.py --duration 30        # a quick check

What it does, self-contained, loopback only, cleaned up at exit:

1. starts a private redis-server (tests/support/redis_server.py, never the system Redis) and a
   throwaway embedded PostgreSQL, migrated; seeds --people synthetic people with `rapport seed`
   (profiles, interests and preferences, embedded as in production);
2. starts the server as `rapport serve` runs it (one uvicorn worker, RAPPORT_ENV=production
   with a random secret, REDIS_URL set, RAPPORT_RATE_LIMITS: see RATE_LIMITS below), with a
   sitecustomize on its PYTHONPATH that reports interpreter figures (see PROBE);
3. the first --clients seeded people sign in (`login`), pairs of them like each other (one
   conversation each, so chat starts at once), and each opens a graphql-transport-ws socket
   subscribed to its `notifications` and to `messageAdded` in each of its conversations;
4. for --duration seconds each client, one action at a time with exponential pauses (the
   total is about --rate actions/s), picks: `{ __typename }` (the baseline), `login` (a new
   token: the socket is closed, opened again with it and resubscribed from the last id seen,
   then the old token is logged out), a `recommendations` page, a swipe (like or pass on a
   person from its pages; a like back makes a match, and both members subscribe to the new
   conversation), `sendMessage` in one of its conversations, or an unmatch (both members
   end their subscription to that conversation first; see MIX);
5. samples the server process every --sample seconds (/proc: RSS, anonymous RSS, open files,
   threads, CPU; from PROBE: Python memory blocks in use and objects tracked by the garbage
   collector) and prints a row of the table every --report seconds; as the load starts and
   once it is over, has the server run a full collection and report its live heap;
6. stops, waits for deliveries, and checks every member of every conversation received every
   message sent in it exactly once and in order, across reconnects;
7. prints the memory verdict, per-operation counts, errors and latencies with their ratio to
   the baseline, and exits non-zero if anything failed or memory was not flat.

Errors: any HTTP status but 200, a transport error, GraphQL `errors`, a result of another type
than the success one (RateLimited included), a socket closed by the server or an `error`
message on it, a missing/duplicate/out-of-order delivery, ERROR lines in the server's log.

Memory is "flat" when, after a warm-up of duration/5 (10-60 s), the median RSS of the last
window (the last minute; a quarter of the measured time when shorter) is at most --max-ratio
(1.10) times the median of the first window after warm-up (30 s, or a quarter); and, when at
least two minutes are measured, the least-squares slope of RSS over the measured time is at
most --max-slope (1%) of that baseline per minute and the live heap (memory blocks in use
after a full collection) at the end is at most --max-heap-ratio (1.10) times the one at the
start. RSS alone cannot tell a leak from cyclic garbage that CPython has not collected yet
(after gc.freeze at start-up its first full collection comes late); the live heap can.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from chat import (  # bench/ is here
    PROTOCOL,
    LoopLag,
    Processes,
    Summary,
    bounded,
    cpu_seconds,
    cpu_share,
    server_log_report,
    until,
    uvicorn_server,
)
from http_api import BenchError, server_env, start_database
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapport.seed import DEMO_PASSWORD, generate  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

MB = 1024 * 1024
# All clients share 127.0.0.1: the per-address limits are raised far above the soak's load.
# The others (per account, per connection) keep the server's defaults, which are meant for
# people and which one soak client stays under (at the default rate a client acts about every
# 5 s: about 4 messages and 2 likes a minute, a login every 2 minutes, at most 18
# subscriptions per socket); hitting one is an error.
RATE_LIMITS = {
    "login_per_address": "1000000/minute",
    "register_per_address": "1000000/minute",
    "websocket_connections_per_address": "1000000/minute",
    # A soak client lists about 1,400 people an hour (a page of 10 every 25 s): more than the
    # 600 a person is allowed, on purpose, so that an hour-long run keeps reading.
    "recommendations_per_hour": "1000000/hour",
}
# Weights of the actions; a swipe without candidates fetches a page instead, a chat without a
# conversation swipes instead, an unmatch by someone with a single conversation chats instead
# (so unmatches keep the number of conversations, and of subscriptions, about level while
# swipes make new matches).
MIX = {"baseline": 10, "login": 4, "recommendations": 20, "swipe": 30, "chat": 33, "unmatch": 3}
MAX_WATCHED = 17  # conversations a client subscribes to (the server allows 20 per socket)

LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  __typename ... on AuthPayload { token me { id } } } }"""
LOGOUT = "mutation { logout { __typename } }"
LIKE = """mutation($id: ID!) { like(userId: $id) { __typename
  ... on SwipePayload { match { id } } } }"""
PASS = """mutation($id: ID!) { pass(userId: $id) { __typename } }"""
RECOMMENDATIONS = """query($a: String) { recommendations(first: 10, after: $a) { __typename
  ... on RecommendationConnection { nodes { user { id displayName } score }
    pageInfo { hasNextPage endCursor } } } }"""
MATCHES = """{ matches(status: ACTIVE, first: 50) { __typename
  ... on MatchConnection { nodes { id user { id } } } } }"""
UNMATCH = """mutation($m: ID!) { unmatch(matchId: $m) { __typename ... on Match { status } } }"""
CONVERSATIONS = """{ conversations(first: 50) { __typename
  ... on ConversationConnection { nodes { id user { id } } } } }"""
SEND = """mutation($c: ID!, $b: String!, $k: String!) {
  sendMessage(conversationId: $c, body: $b, clientMessageId: $k) {
    __typename ... on Message { id } } }"""
NOTIFICATIONS = """subscription($a: ID) { notifications(after: $a) {
  __typename ... on Notification { id kind actorId conversationId } } }"""
ADDED = """subscription($c: ID!, $a: ID) { messageAdded(conversationId: $c, after: $a) {
  __typename ... on Message { id body } } }"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--duration", type=float, default=300, help="seconds of load (300)")
    p.add_argument("--clients", type=int, default=200, help="concurrent clients (200)")
    p.add_argument("--people", type=int, default=1000, help="people seeded (1000)")
    p.add_argument("--rate", type=float, default=40, help="actions/s, all clients (40)")
    p.add_argument("--connections", type=int, default=64, help="HTTP connections (64)")
    p.add_argument("--sample", type=float, default=None, help="seconds between samples")
    p.add_argument("--report", type=float, default=None, help="seconds between rows")
    p.add_argument("--max-ratio", type=float, default=1.10, help="flat: RSS ratio bound")
    p.add_argument(
        "--max-slope", type=float, default=1.0, help="flat: RSS slope bound, %% of baseline/min"
    )
    p.add_argument(
        "--max-heap-ratio", type=float, default=1.10, help="flat: live heap growth bound"
    )
    p.add_argument("--seed", type=int, default=0, help="which synthetic people (0)")
    p.add_argument(
        "--mix",
        type=lambda text: {k: float(v) for k, v in (kv.split("=") for kv in text.split(","))},
        default=MIX,
        help="weights of the actions, e.g. chat=1,baseline=1 (default: MIX)",
    )
    p.add_argument(
        "--rate-limits",
        type=json.loads,
        default={},
        help='JSON object over RATE_LIMITS, e.g. \'{"messages_per_minute": "1/minute"}\' '
        "(to see a limit counted as an error)",
    )
    args = p.parse_args()
    if not 0 < args.duration <= 3600 or args.rate <= 0 or (args.sample or 1) <= 0:
        p.error("--duration must be in (0, 3600], --rate and --sample positive")
    if set(args.mix) - set(MIX) or not sum(args.mix.values()) > 0:
        p.error(f"--mix takes positive weights of {', '.join(MIX)}")
    if args.clients < 2 or args.people < args.clients:
        p.error("--clients must be at least 2 and --people at least --clients")
    args.rate_limits = {**RATE_LIMITS, **args.rate_limits}
    args.sample = args.sample or min(max(args.duration / 60, 1), 5)
    args.report = args.report or max(args.sample, round(args.duration / 10))
    args.warmup = min(max(args.duration / 5, 10), 60)
    return args


# --- bookkeeping ----------------------------------------------------------------------------


@dataclass
class Conversation:
    id: str
    members: tuple[int, int]  # client indexes
    sent: set[int] = field(default_factory=set)  # ids of the messages sent in it
    received: dict[int, list[int]] = field(default_factory=dict)  # client -> ids, in order
    sending: int = 0  # sendMessage requests in flight
    ended: bool = False  # unmatched (or being unmatched): no more sends, no new subscriptions


@dataclass
class Client:
    index: int
    email: str
    user_id: str = ""
    token: str = ""
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    last_notification: str = "0"
    watched: dict[str, Conversation] = field(default_factory=dict)
    last_received: dict[str, int] = field(default_factory=dict)
    candidates: list[str] = field(default_factory=list)
    cursor: str | None = None
    swiped: set[str] = field(default_factory=set)
    likes: int = 0  # likes that have not made a match (yet)


@dataclass
class Stats:
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)  # events that are not requests

    def ok(self, op: str, seconds: float) -> None:
        self.latencies.setdefault(op, []).append((time.perf_counter(), seconds))

    def error(self, op: str, kind: str, detail: Any) -> None:
        key = f"{op}: {kind}"
        self.errors[key] += 1
        self.examples.setdefault(key, str(detail)[:300])

    def requests_between(self, start: float, end: float) -> list[float]:
        """Latencies of the requests answered in [start, end) (deliveries aside)."""
        return [
            s
            for op, lat in self.latencies.items()
            if op != "delivery"
            for t, s in lat
            if start <= t < end
        ]


@dataclass
class Sample:
    t: float  # perf_counter
    rss: float  # MB
    anon: float
    fds: int
    threads: int
    cpu: float  # seconds
    blocks: float  # sys.getallocatedblocks() in the server (nan until the probe wrote)
    objects: float  # len(gc.get_objects()) in the server


# Put first on the server's PYTHONPATH as sitecustomize, so the server is `rapport serve` as
# ever plus: one thread writing the interpreter's own figures every few seconds (about 5 ms
# each time), which RSS cannot tell apart: memory blocks in use (Python objects and strings;
# allocator fragmentation does not change it) and objects the collector tracks (those created
# since start-up's gc.freeze); and, on SIGUSR1, a full collection followed by the same two
# figures: the live heap, without the cyclic garbage that waits for CPython's next full
# collection (the soak asks twice: as the load starts and once it is over).
PROBE = """import gc, os, signal, sys, threading, time


def _figures():
    return f"{sys.getallocatedblocks()} {len(gc.get_objects())}\\n"


def _probe(path, every):
    while True:
        with open(path, "a") as f:
            f.write(_figures())
        time.sleep(every)


def _collect(signum, frame):
    gc.collect()
    with open(os.environ["SOAK_PROBE_LIVE"], "a") as f:
        f.write(_figures())


if os.environ.get("SOAK_PROBE"):
    signal.signal(signal.SIGUSR1, _collect)
    threading.Thread(
        target=_probe,
        args=(os.environ["SOAK_PROBE"], float(os.environ["SOAK_PROBE_EVERY"])),
        name="soak-probe",
        daemon=True,
    ).start()
"""


async def live_heap(pid: int, probe: Path) -> tuple[float, float]:
    """Have the server run a full collection (SIGUSR1: see PROBE); its blocks and objects."""
    path = probe.with_suffix(".live")
    seen = len(path.read_text().splitlines()) if path.exists() else 0
    os.kill(pid, signal.SIGUSR1)
    for _ in range(200):
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) > seen:
            blocks, objects = lines[-1].split()
            return float(blocks), float(objects)
        await asyncio.sleep(0.05)
    raise BenchError("the server did not answer SIGUSR1 with its live heap")


def sample(pid: int, probe: Path) -> Sample:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    try:
        blocks, objects = (float(v) for v in probe.read_text().splitlines()[-1].split())
    except (OSError, IndexError, ValueError):
        blocks = objects = float("nan")
    return Sample(
        t=time.perf_counter(),
        rss=int(status["VmRSS"].split()[0]) / 1024,
        anon=int(status["RssAnon"].split()[0]) / 1024,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(status["Threads"]),
        cpu=cpu_seconds(pid),
        blocks=blocks,
        objects=objects,
    )


# --- the soak -------------------------------------------------------------------------------


class Soak:
    def __init__(
        self, args: argparse.Namespace, base_url: str, http: aiohttp.ClientSession
    ) -> None:
        self.args = args
        self.http = http
        self.ws_url = base_url.replace("http://", "ws://") + "/graphql"
        self.rng = random.Random(args.seed)
        specs = generate(args.clients, args.seed)
        self.clients = [Client(i, s.email) for i, s in enumerate(specs)]
        self.by_user: dict[str, int] = {}
        self.conversations: dict[str, Conversation] = {}
        self.busy_pairs: set[frozenset[str]] = set()  # a swipe between the two is in flight
        self.matched: set[frozenset[str]] = set()
        self.stats = Stats()
        self.stopping = False
        self.seq = 0
        self.delivered = asyncio.Event()  # set at each message a subscription receives
        self.sent_at: dict[int, float] = {}  # sendMessage number -> when it was sent

    # -- requests

    async def call(
        self,
        op: str,
        query: str,
        variables: dict[str, Any] | None,
        token: str | None,
        expect: str,
    ) -> dict[str, Any] | None:
        """POST one operation; its one root field's result, or None after counting the error."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.perf_counter()
        try:
            async with self.http.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            ) as response:
                status, body = response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.stats.error(op, type(exc).__name__, exc)
            return None
        elapsed = time.perf_counter() - started
        if status != 200:
            self.stats.error(op, f"HTTP {status}", body)
            return None
        if body.get("errors"):
            self.stats.error(op, "GraphQL errors", body["errors"])
            return None
        data = body.get("data") or {}
        result = data if "__typename" in data else next(iter(data.values()), None)
        typename = result.get("__typename") if isinstance(result, dict) else None
        if typename != expect:
            self.stats.error(op, f"{typename} result", result)
            return None
        self.stats.ok(op, elapsed)
        return result

    async def login(self, c: Client) -> bool:
        variables = {"i": {"email": c.email, "password": DEMO_PASSWORD}}
        result = await self.call("login", LOGIN, variables, None, "AuthPayload")
        if result is None:
            return False
        c.token, c.user_id = result["token"], result["me"]["id"]
        self.by_user[c.user_id] = c.index
        return True

    # -- websockets

    async def open_socket(self, c: Client) -> None:
        """Connect with the client's token, then subscribe from the last ids seen."""
        started = time.perf_counter()
        try:
            ws = await connect(
                self.ws_url, subprotocols=[PROTOCOL], open_timeout=30, max_queue=None
            )
            await ws.send(json.dumps({"type": "connection_init", "payload": {"token": c.token}}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
        except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
            self.stats.error("socket open", type(exc).__name__, exc)
            return
        if ack.get("type") != "connection_ack":
            self.stats.error("socket open", "no connection_ack", ack)
            await ws.close()
            return
        self.stats.ok("socket open", time.perf_counter() - started)
        c.ws = ws
        await self.subscribe(c, "n", NOTIFICATIONS, {"a": c.last_notification})
        for conversation in list(c.watched.values()):
            await self.watch_on_socket(c, conversation)
        c.reader = asyncio.create_task(self.read(c, ws))

    async def subscribe(self, c: Client, sid: str, query: str, variables: dict[str, Any]) -> None:
        if c.ws is None:
            return
        payload = {"query": query, "variables": variables}
        try:
            await c.ws.send(json.dumps({"id": sid, "type": "subscribe", "payload": payload}))
            self.stats.counts["subscribe"] += 1
        except ConnectionClosed as exc:
            self.stats.error("subscribe", "socket closed", exc)

    async def watch_on_socket(self, c: Client, conversation: Conversation) -> None:
        after = str(c.last_received.get(conversation.id, 0))
        await self.subscribe(c, f"c{conversation.id}", ADDED, {"c": conversation.id, "a": after})

    async def close_socket(self, c: Client) -> None:
        ws, reader, c.ws, c.reader = c.ws, c.reader, None, None
        if ws is not None:
            await ws.close()
        if reader is not None:
            await reader

    async def read(self, c: Client, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    await self.on_next(c, str(message.get("id")), message.get("payload") or {})
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind != "pong":
                    self.stats.error("socket", f"server sent {kind}", message)
            if c.ws is ws:
                self.stats.error("socket", "closed by the server", ws.close_code)
        except ConnectionClosed as exc:
            if c.ws is ws:
                self.stats.error("socket", "closed by the server", exc)
        except (WebSocketException, ValueError, KeyError) as exc:
            self.stats.error("socket", type(exc).__name__, exc)

    async def on_next(self, c: Client, sid: str, payload: dict[str, Any]) -> None:
        now = time.perf_counter()
        if payload.get("errors"):
            self.stats.error(f"subscription {sid[0]}", "GraphQL errors", payload["errors"])
            return
        root = "notifications" if sid == "n" else "messageAdded"
        result = (payload.get("data") or {}).get(root) or {}
        expect = "Notification" if sid == "n" else "Message"
        if result.get("__typename") != expect:
            self.stats.error(root, f"{result.get('__typename')} result", payload)
            return
        if sid == "n":
            self.stats.counts["notifications received"] += 1
            c.last_notification = result["id"]
            if result["kind"] == "NEW_MATCH" and result.get("conversationId"):
                other = self.by_user.get(result.get("actorId") or "")
                if other is not None:
                    await self.watch(c, str(result["conversationId"]), other)
            return
        conversation = self.conversations[sid[1:]]
        message_id = int(result["id"])
        conversation.received.setdefault(c.index, []).append(message_id)
        c.last_received[conversation.id] = message_id
        self.delivered.set()
        _, seq, sender, _ = result["body"].split(" ", 3)
        sent = self.sent_at.get(int(seq))
        if int(sender) != c.index and sent is not None:
            self.stats.ok("delivery", now - sent)

    async def watch(self, c: Client, conversation_id: str, other: int) -> None:
        """Start following a conversation of the client's (known from a match or a
        notification; idempotent)."""
        known = self.conversations.get(conversation_id)
        if conversation_id in c.watched or (known is not None and known.ended):
            return
        members = (min(c.index, other), max(c.index, other))
        conversation = self.conversations.setdefault(
            conversation_id, Conversation(conversation_id, members)
        )
        if conversation.members != members:
            self.stats.error("conversations", "members differ", (conversation, members))
            return
        c.watched[conversation_id] = conversation
        await self.watch_on_socket(c, conversation)

    # -- actions

    async def act(self, c: Client, op: str) -> None:
        if op == "unmatch" and len(c.watched) < 2:
            op = "chat"
        if op == "chat" and not c.watched:
            op = "swipe"
        if op == "swipe" and not self.pick(c):
            op = "recommendations"
        if op == "baseline":
            await self.call("baseline", "{ __typename }", None, None, "Query")
        elif op == "login":
            await self.relogin(c)
        elif op == "recommendations":
            await self.recommendations(c)
        elif op == "swipe":
            await self.swipe(c)
        elif op == "unmatch":
            await self.unmatch(c)
        else:
            await self.chat(c)

    def pick(self, c: Client) -> str | None:
        while c.candidates:
            target = c.candidates[-1]
            pair = frozenset((c.user_id, target))
            if target in c.swiped or pair in self.matched:
                c.candidates.pop()
            elif pair in self.busy_pairs:
                return None
            else:
                return target
        return None

    async def relogin(self, c: Client) -> None:
        old = c.token
        if not await self.login(c):
            return
        await self.close_socket(c)
        await self.open_socket(c)
        await self.call("logout", LOGOUT, None, old, "LogoutPayload")

    async def recommendations(self, c: Client) -> None:
        result = await self.call(
            "recommendations", RECOMMENDATIONS, {"a": c.cursor}, c.token, "RecommendationConnection"
        )
        if result is None:
            return
        ids = [n["user"]["id"] for n in result["nodes"]]
        self.stats.counts["candidates shown"] += len(ids)
        c.candidates = [i for i in reversed(ids) if i not in c.swiped]
        info = result["pageInfo"]
        c.cursor = info["endCursor"] if info["hasNextPage"] else None

    async def swipe(self, c: Client) -> None:
        target = c.candidates.pop()
        pair = frozenset((c.user_id, target))
        like = self.rng.random() < 0.6 and len(c.watched) + c.likes < MAX_WATCHED
        self.busy_pairs.add(pair)
        try:
            c.swiped.add(target)
            query, op = (LIKE, "like") if like else (PASS, "pass")
            result = await self.call(op, query, {"id": target}, c.token, "SwipePayload")
            if result is None or not like:
                return
            if not result.get("match"):
                c.likes += 1
                return
            self.matched.add(pair)
            self.stats.counts["matches made by swipes"] += 1
            other = self.by_user[target]
            self.clients[other].likes = max(self.clients[other].likes - 1, 0)
            found = await self.call(
                "conversations", CONVERSATIONS, None, c.token, "ConversationConnection"
            )
            ids = [n["id"] for n in (found or {}).get("nodes", []) if n["user"]["id"] == target]
            if found is not None and len(ids) != 1:
                self.stats.error("conversations", "new match's conversation not listed", found)
            for conversation_id in ids:
                await self.watch(c, conversation_id, other)
        finally:
            self.busy_pairs.discard(pair)

    async def unmatch(self, c: Client) -> None:
        """End one of the client's matches: once every message sent in the conversation has
        reached both members, both stop their subscription to it (`complete`), then `unmatch`."""
        conversation = self.rng.choice(list(c.watched.values()))
        conversation.ended = True  # nobody sends in it from now on
        members = [self.clients[m] for m in conversation.members]
        other = members[1] if members[0] is c else members[0]

        def caught_up() -> bool:
            return not conversation.sending and all(
                set(conversation.received.get(m, [])) >= conversation.sent
                for m in conversation.members
            )

        if not await until(caught_up, self.delivered, 15):
            self.stats.error("unmatch", "messages not delivered within 15 s", conversation.id)
        stop = json.dumps({"id": f"c{conversation.id}", "type": "complete"})
        for member in members:
            member.watched.pop(conversation.id, None)
            if member.ws is not None:
                with suppress(ConnectionClosed):
                    await member.ws.send(stop)
        found = await self.call("matches", MATCHES, None, c.token, "MatchConnection")
        ids = [n["id"] for n in (found or {}).get("nodes", []) if n["user"]["id"] == other.user_id]
        if found is not None and len(ids) != 1:
            self.stats.error("matches", "the match is not listed", found)
        for match_id in ids:
            if await self.call("unmatch", UNMATCH, {"m": match_id}, c.token, "Match"):
                self.stats.counts["unmatches"] += 1

    async def chat(self, c: Client) -> None:
        open_ones = [conv for conv in c.watched.values() if not conv.ended]
        if not open_ones:
            return
        conversation = self.rng.choice(open_ones)
        self.seq += 1
        head = f"soak {self.seq} {c.index} "
        body = head + "x" * (60 - len(head))
        variables = {"c": conversation.id, "b": body, "k": f"soak-{self.seq}"}
        self.sent_at[self.seq] = time.perf_counter()
        conversation.sending += 1
        try:
            result = await self.call("sendMessage", SEND, variables, c.token, "Message")
        finally:
            conversation.sending -= 1
        if result is not None:
            conversation.sent.add(int(result["id"]))
        self.delivered.set()  # `caught_up` in unmatch() looks at `sending` too

    async def client_loop(self, c: Client, deadline: float) -> None:
        mean_pause = self.args.clients / self.args.rate
        ops, weights = list(self.args.mix), list(self.args.mix.values())
        rng = random.Random(f"{self.args.seed}:{c.index}")
        while True:
            pause = rng.expovariate(1 / mean_pause)
            if time.perf_counter() + pause >= deadline:
                return
            await asyncio.sleep(pause)
            await self.act(c, rng.choices(ops, weights)[0])

    # -- set-up

    async def set_up(self) -> None:
        started = time.perf_counter()
        await bounded(8, [partial(self.login, c) for c in self.clients])
        if len(self.by_user) != len(self.clients):
            raise BenchError(f"set-up logins failed: {self.error_lines()}")
        print(f"  {len(self.clients)} clients signed in in {time.perf_counter() - started:.1f} s")

        async def pair(a: Client, b: Client) -> None:
            await self.call("like", LIKE, {"id": b.user_id}, a.token, "SwipePayload")
            await self.call("like", LIKE, {"id": a.user_id}, b.token, "SwipePayload")
            for c in (a, b):
                c.swiped.add((b if c is a else a).user_id)
            self.matched.add(frozenset((a.user_id, b.user_id)))

        pairs = list(zip(self.clients[0::2], self.clients[1::2], strict=False))
        await bounded(16, [partial(pair, a, b) for a, b in pairs])

        async def listed(c: Client) -> None:
            found = await self.call(
                "conversations", CONVERSATIONS, None, c.token, "ConversationConnection"
            )
            for node in (found or {}).get("nodes", []):
                await self.watch(c, node["id"], self.by_user[node["user"]["id"]])

        await bounded(16, [partial(listed, c) for c in self.clients])
        await bounded(50, [partial(self.open_socket, c) for c in self.clients])
        if self.stats.errors:
            raise BenchError(f"set-up failed: {self.error_lines()}")
        print(
            f"  {len(pairs)} pairs matched, {len(self.clients)} sockets subscribed, in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        self.stats = Stats()  # the soak's figures start now

    def error_lines(self) -> list[str]:
        return [f"{n} x {k} (e.g. {self.stats.examples[k]})" for k, n in self.stats.errors.items()]

    # -- the end

    def undelivered(self) -> int:
        return sum(
            len(set(conv.sent) - set(conv.received.get(member, [])))
            for conv in self.conversations.values()
            for member in conv.members
        )

    def check_deliveries(self) -> list[str]:
        problems = []
        for conv in self.conversations.values():
            want = sorted(conv.sent)
            for member in conv.members:
                got = conv.received.get(member, [])
                if got != want:
                    missing = set(want) - set(got)
                    problems.append(
                        f"conversation {conv.id}, client {member}: {len(missing)} missing, "
                        f"{len(got) - len(set(got))} duplicate, in order: {got == sorted(got)}, "
                        f"unexpected: {sorted(set(got) - set(want))[:5]}"
                    )
        return problems


# --- the run --------------------------------------------------------------------------------


def slope_per_minute(samples: list[Sample], key: str) -> float:
    if len(samples) < 3:
        return float("nan")
    xs = [s.t / 60 for s in samples]
    ys = [getattr(s, key) for s in samples]
    return statistics.linear_regression(xs, ys).slope


async def sampler(
    pid: int, probe: Path, every: float, samples: list[Sample], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        samples.append(sample(pid, probe))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def reporter(
    soak: Soak, samples: list[Sample], t0: float, every: float, stop: asyncio.Event
) -> None:
    print(
        f"\n{'t s':>5} {'RSS MB':>8} {'anon MB':>8} {'blocks k':>9} {'gc objs k':>9} "
        f"{'fds':>5} {'thr':>4} {'srv CPU':>8} "
        f"{'reqs/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}",
        flush=True,
    )
    last_t, last = t0, samples[-1]
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        now, s = time.perf_counter(), samples[-1]
        lat = Summary.of(soak.stats.requests_between(last_t, now))
        cpu = 100 * (s.cpu - last.cpu) / max(s.t - last.t, 1e-9)
        print(
            f"{now - t0:>5.0f} {s.rss:>8.1f} {s.anon:>8.1f} {s.blocks / 1e3:>9.1f} "
            f"{s.objects / 1e3:>9.1f} {s.fds:>5} {s.threads:>4} "
            f"{cpu:>7.0f}% {lat.count / max(now - last_t, 1e-9):>7.1f} {lat.p50:>7.1f} "
            f"{lat.p99:>7.1f} {sum(soak.stats.errors.values()):>7}",
            flush=True,
        )
        last_t, last = now, s


SERIES = {  # what memory_verdict compares: sample field -> (name, unit, scale)
    "rss": ("server RSS", "MB", 1.0),
    "anon": ("anonymous RSS", "MB", 1.0),
    "blocks": ("Python heap blocks", "k", 1e-3),
    "objects": ("objects tracked by gc", "k", 1e-3),
}


@dataclass(frozen=True)
class Growth:
    name: str
    unit: str
    baseline: float
    last: float
    ratio: float
    slope: float  # unit per minute
    slope_pct: float  # % of the baseline per minute


@dataclass
class Memory:
    series: dict[str, Growth]
    judged_slope: bool
    problems: list[str]

    @property
    def flat(self) -> bool:
        return not self.problems


def memory_verdict(
    args: argparse.Namespace, samples: list[Sample], t0: float, live: list[tuple[float, float]]
) -> Memory:
    measured = args.duration - args.warmup
    start, end = t0 + args.warmup, t0 + args.duration
    window = [s for s in samples if s.t >= start] or samples[-1:]
    head = [s for s in window if s.t <= start + min(30, measured / 4)] or window[:1]
    tail = [s for s in window if s.t >= end - min(60, measured / 4)] or window[-1:]
    series = {}
    for key, (name, unit, scale) in SERIES.items():
        before = statistics.median(getattr(s, key) for s in head) * scale
        after = statistics.median(getattr(s, key) for s in tail) * scale
        slope = slope_per_minute(window, key) * scale
        series[key] = Growth(name, unit, before, after, after / before, slope, 100 * slope / before)
    for key, name, first, last in zip(
        ("live_blocks", "live_objects"),
        ("live heap blocks", "live objects (gc)"),
        live[0],
        live[-1],
        strict=True,
    ):
        slope = (last - first) / (args.duration / 60)  # per minute of load
        series[key] = Growth(
            name, "k", first / 1e3, last / 1e3, last / first, slope / 1e3, 100 * slope / first
        )
    judged = measured >= 120
    rss, heap = series["rss"], series["live_blocks"]
    problems = []
    if not rss.ratio <= args.max_ratio:
        problems.append(f"RSS {rss.ratio:.3f}x > {args.max_ratio:g}x")
    if judged and not rss.slope_pct <= args.max_slope:
        problems.append(f"RSS slope {rss.slope_pct:+.2f}%/min > {args.max_slope:g}")
    if judged and not heap.ratio <= args.max_heap_ratio:
        problems.append(f"live heap {heap.ratio:.3f}x > {args.max_heap_ratio:g}x")
    return Memory(series, judged, problems)


def report(soak: Soak, args: argparse.Namespace, memory: Memory, seconds: float) -> None:
    stats = soak.stats
    measured = args.duration - args.warmup
    print(
        f"\nMemory of the server (warm-up {args.warmup:.0f} s; baseline = median of the first "
        f"{min(30, measured / 4):.0f} s after it = 1.00x; last = median of the last "
        f"{min(60, measured / 4):.0f} s; slope = least squares over the {measured:.0f} s after "
        "the warm-up)"
    )
    print(f"  {'':<24} {'baseline':>10} {'last':>10} {'ratio':>7} {'slope/min':>10} {'%/min':>7}")
    for g in memory.series.values():
        print(
            f"  {g.name:<24} {g.baseline:>8.1f}{g.unit:<2} {g.last:>8.1f}{g.unit:<2} "
            f"{g.ratio:>6.3f}x {g.slope:>+8.2f}{g.unit:<2} {g.slope_pct:>+6.2f}%"
        )
    print(
        "  (blocks in use and gc objects include cyclic garbage awaiting a full collection; the "
        "live rows were read after one, as the load started and after it ended)"
    )
    print(
        f"  flat means: RSS last <= {args.max_ratio:g}x baseline, and "
        + (
            f"RSS slope <= {args.max_slope:g}% of the baseline per minute, and live heap "
            f"blocks at the end <= {args.max_heap_ratio:g}x at the start"
            if memory.judged_slope
            else "(under two minutes measured) neither the slope nor the live heap is judged"
        )
    )
    print(f"  memory flat: {'YES' if memory.flat else 'NO (' + '; '.join(memory.problems) + ')'}")

    base = Summary.of([s for _, s in stats.latencies.get("baseline", [])])
    print(f"\nOperations over {seconds:.0f} s (latency of successful ones; ratio to the baseline)")
    print(
        f"{'operation':<18} {'ok':>7} {'errors':>6} {'per s':>6} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'p50 x':>6} {'p99 x':>6}"
    )
    order = ["baseline", "login", "logout", "socket open", "recommendations", "like", "pass"]
    order += ["conversations", "sendMessage", "delivery", "matches", "unmatch"]
    for op in order + sorted(set(stats.latencies) - set(order)):
        lat = Summary.of([s for _, s in stats.latencies.get(op, [])])
        errors = sum(n for k, n in stats.errors.items() if k.startswith(f"{op}:"))
        print(
            f"{op:<18} {lat.count:>7} {errors:>6} {lat.count / seconds:>6.1f} {lat.p50:>7.2f} "
            f"{lat.p95:>7.2f} {lat.p99:>7.2f} {lat.max:>7.1f} {lat.p50 / base.p50:>6.1f} "
            f"{lat.p99 / base.p99:>6.1f}"
        )
    print("(delivery: sendMessage sent -> the other member's subscription received it)")
    print("events: " + ", ".join(f"{k} {n}" for k, n in sorted(stats.counts.items())))
    if stats.errors:
        print(f"\nERRORS ({sum(stats.errors.values())}):")
        for line in soak.error_lines():
            print("  " + line)
    else:
        print("\nerrors: 0")


async def run_async(
    args: argparse.Namespace, base_url: str, pid: int, procs: Processes, probe: Path
) -> tuple[Soak, Memory, float]:
    connector = aiohttp.TCPConnector(limit=args.connections, keepalive_timeout=2)
    timeout = aiohttp.ClientTimeout(total=60)
    samples: list[Sample] = []
    stop = asyncio.Event()
    lag = LoopLag()
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as http:
        soak = Soak(args, base_url, http)
        print("setting up through the API ...", flush=True)
        await soak.set_up()
        live = [await live_heap(pid, probe)]
        lag.start()
        t0 = time.perf_counter()
        samples.append(sample(pid, probe))
        tasks = [
            asyncio.create_task(sampler(pid, probe, args.sample, samples, stop)),
            asyncio.create_task(reporter(soak, samples, t0, args.report, stop)),
        ]
        cpu_before = procs.sample()
        await asyncio.sleep(0)
        deadline = t0 + args.duration
        await asyncio.gather(*(soak.client_loop(c, deadline) for c in soak.clients))
        seconds = time.perf_counter() - t0
        cpu_after = procs.sample()
        stop.set()
        await asyncio.gather(*tasks)
        await lag.stop()
        await until(lambda: not soak.undelivered(), soak.delivered, 15)
        live.append(await live_heap(pid, probe))
        await asyncio.gather(*(soak.close_socket(c) for c in soak.clients))
    loop_lag = Summary.of(lag.between(t0, t0 + seconds))
    print(f"\nCPU (% of one core) during the load: {cpu_share(cpu_before, cpu_after, seconds)}")
    print(f"client event-loop lag (5 ms sleeps): p50 {loop_lag.p50:.1f} ms, p99 {loop_lag.p99:.1f}")
    for problem in soak.check_deliveries():
        soak.stats.error("delivery", "not exactly once in order", problem)
    messages = sum(len(c.sent) for c in soak.conversations.values())
    print(
        f"chat: {len(soak.conversations)} conversations, {messages} messages, each checked at "
        "both members' subscriptions (exactly once, in order, across reconnects)"
    )
    return soak, memory_verdict(args, samples, t0, live), seconds


def server_log_errors(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [ln for ln in lines if "ERROR" in ln or "Traceback" in ln]


def seed_people(args: argparse.Namespace, database_url: str) -> None:
    started = time.perf_counter()
    command = [str(Path(sys.executable).parent / "rapport"), "seed", "--users", str(args.people)]
    out = subprocess.run(
        [*command, "--seed", str(args.seed)],
        env=server_env(database_url, None),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if out.returncode != 0:
        raise BenchError(f"rapport seed failed:\n{out.stdout}\n{out.stderr}")
    print(f"  {out.stdout.splitlines()[0]} ({time.perf_counter() - started:.0f} s with start-up)")


def run(args: argparse.Namespace) -> int:
    import uvloop

    print(
        f"soak: {args.duration:g} s, {args.clients} clients of {args.people} people, "
        f"{args.rate:g} actions/s in all, mix {args.mix}; one uvicorn worker (`rapport serve`, "
        f"production settings, private Redis), embedded PostgreSQL; {os.cpu_count()} CPUs "
        "shared by the server, PostgreSQL, Redis and this client"
    )
    print(f"RAPPORT_RATE_LIMITS={json.dumps(args.rate_limits)} (the others: defaults)", flush=True)
    database_url, pgdata = start_database()
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    print(f"seeding {args.people} people with `rapport seed` ...", flush=True)
    seed_people(args, database_url)
    with RedisServer() as redis, tempfile.TemporaryDirectory(prefix="rapport-soak-") as tmp:
        log_path = Path(tmp) / "server.log"
        try:
            (Path(tmp) / "sitecustomize.py").write_text(PROBE)
            probe = Path(tmp) / "probe.txt"
            env = {
                "RAPPORT_RATE_LIMITS": json.dumps(args.rate_limits),
                "PYTHONPATH": tmp,
                "SOAK_PROBE": str(probe),
                "SOAK_PROBE_LIVE": str(probe.with_suffix(".live")),
                "SOAK_PROBE_EVERY": str(args.sample),
            }
            with uvicorn_server(database_url, redis.url, log_path, env) as (base_url, pid):
                redis_pid = redis._process.pid if redis._process else 0
                procs = Processes(server=pid, redis=redis_pid, postmaster=postmaster)
                print(f"server pid {pid} at {base_url}", flush=True)
                soak, memory, seconds = uvloop.run(
                    asyncio.wait_for(
                        run_async(args, base_url, pid, procs, probe), args.duration + 300
                    )
                )
        finally:
            server_log_report(log_path)
        for line in server_log_errors(log_path):
            soak.stats.error("server log", "ERROR", line)
    report(soak, args, memory, seconds)
    errors = sum(soak.stats.errors.values())
    ok = not errors and memory.flat
    print(
        f"\nSOAK {'PASSED' if ok else 'FAILED'}: {errors} errors, memory "
        f"{'flat' if memory.flat else 'NOT flat'} (RSS {memory.series['rss'].ratio:.3f}x, "
        f"{memory.series['rss'].slope:+.2f} MB/min; live heap "
        f"{memory.series['live_blocks'].ratio:.3f}x)"
    )
    return 0 if ok else 1


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))

    def hard_cap(*_: Any) -> None:
        raise BenchError("hard cap reached (set-up, load and wind-down took too long)")

    signal.signal(signal.SIGALRM, hard_cap)
    signal.alarm(int(args.duration) + 1500)  # seeding, set-up, load, drain, reports
    try:
        sys.exit(run(args))
    except (BenchError, TimeoutError) as exc:
        sys.exit(f"SOAK FAILED: {exc!r}")


if __name__ == "__main__":
    main()
