"""Chat benchmark: live message delivery through one uvicorn worker with real Redis — messages
per second sustained and delivery latency (mutation sent -> subscriber received), with a raw
Redis pub/sub round trip at the same rate as the baseline, measured in the same run.

Usage (from the repository root):

    .venv/bin/python bench/chat.py                         # 200 msg/s, 5 s warm-up, 30 s
    .venv/bin/python bench/chat.py --rate 200,400,600      # steps: the highest sustained rate
    .venv/bin/python bench/chat.py --duration 10 --warmup 3 --conversations 50
    .venv/bin/python bench/chat.py --send-over websocket  # sendMessage on the sender's socket

What it does, self-contained and cleaned up at exit:

1. starts a private redis-server (tests/support/redis_server.py: free loopback port, temp dir,
   nothing on disk; never the system Redis) and a throwaway embedded PostgreSQL, migrated;
2. starts ONE uvicorn worker (as bench/http_api.py: RAPPORT_ENV=production, request logging
   off) with REDIS_URL pointing at that redis-server, and waits for /readyz;
3. through the public API: registers 2 x --conversations people (default profile input, so
   everyone matches everyone), pairs them (2k likes 2k+1 and back: one conversation each);
4. opens one websocket (graphql-transport-ws) per person and subscribes to `messageAdded` of
   their conversation with `after: "0"` (the conversation is empty, so every message sent
   from now on must arrive exactly once, in order, whenever the subscription became live);
   then sends one priming message per conversation and waits until all subscribers have it;
5. per --rate step: the baseline first — a redis-py publisher and subscriber in this process
   against the same redis-server, one subscriber connection on all the conversations'
   channels (as the server has), publishing at the same rate; then the chat: sendMessage over
   HTTP (aiohttp, at most --connections connections; or, with --send-over websocket, as an
   operation on the sender's own socket) on a fixed open-loop schedule, round robin
   over the conversations, the two members taking turns. Each body carries its index; a
   message's latency is the time a subscriber received it minus the time its mutation was
   scheduled to be sent (open loop: a late send counts against the server or the client, it
   is not hidden);
6. after each step waits for delivery to finish and checks every subscriber received every
   message of its conversation exactly once and in message-id order; any missing, duplicate,
   out-of-order or unexpected message, failed mutation or subscription error fails the run;
7. prints achieved send rate, deliveries/s, p50/p95/p99/max of both, ratios to the baseline,
   CPU use of client, server, PostgreSQL and Redis, the client's event-loop lag (this client
   shares the 2 cores: if it is the bottleneck the output says so), and the target verdict:
   p99 <= 25 ms at 200 msg/s.

A step is "sustained" when the achieved send and delivery rates are within 3% of the target,
everything was delivered, and latency did not grow over the step (last third's p50 at most
twice the first third's plus 10 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
from http_api import (  # bench/ is here
    CLK_TCK,
    CONFIRM,
    PASSWORD,
    REGISTER,
    BenchError,
    children,
    cpu_seconds,
    py_spy,
    server_env,
    server_process,
    sign_up_code,
    sign_up_variables,
    start_database,
    summarise_stacks,
)
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.ids import number  # noqa: E402  (message ids are global ids)
from tests.support.people import profile_input  # noqa: E402  (everyone matches everyone)
from tests.support.redis_server import RedisServer  # noqa: E402

TARGET_P99_MS = 25.0
TARGET_RATE = 200.0
RETRIES = 2  # per send, after a connection error
PROTOCOL = Subprotocol("graphql-transport-ws")
T = TypeVar("T")

CREATE_PROFILE = """mutation($i: CreateProfileInput!) { createProfile(input: $i) {
  __typename } }"""
LIKE = """mutation($id: ID!) { like(userId: $id) { __typename
  ... on SwipePayload { match { id } } } }"""
CONVERSATIONS = "{ conversations { ... on ConversationConnection { nodes { id } } } }"
SEND = """mutation($c: ID!, $b: String!, $k: String!) {
  sendMessage(conversationId: $c, body: $b, clientMessageId: $k) {
    __typename ... on Message { id } } }"""
ADDED = """subscription($c: ID!, $a: ID) { messageAdded(conversationId: $c, after: $a) {
  __typename ... on Message { id body } ... on NotFound { code } } }"""


# --- arguments ----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument(
        "--rate",
        default="200",
        help="messages/s sent; a comma list runs steps in order, e.g. 200,400,600 (200)",
    )
    p.add_argument("--duration", type=float, default=30, help="measured seconds per step (30)")
    p.add_argument("--warmup", type=float, default=5, help="warm-up seconds per step (5)")
    p.add_argument(
        "--baseline-duration", type=float, default=10, help="Redis baseline seconds (10)"
    )
    p.add_argument("--conversations", type=int, default=250, help="conversations (250)")
    p.add_argument("--connections", type=int, default=32, help="HTTP connections (32)")
    p.add_argument(
        "--send-over",
        choices=("http", "websocket"),
        default="http",
        help="sendMessage as an HTTP POST (default), or as an operation on the sender's own "
        "graphql-transport-ws socket",
    )
    p.add_argument("--drain", type=float, default=15, help="max wait for deliveries, s (15)")
    p.add_argument("--body-size", type=int, default=80, help="message body characters (80)")
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=2000,
        help="stop a step as overloaded past this many unanswered sends (2000)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="also run everything against `rapport serve --workers N` after one worker, and "
        "compare (each run on a fresh set of people)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="folder: py-spy records the server (all its workers) during each measured step; "
        "per step, collapsed stacks and a summary of where the server's CPU went, by step of "
        "the hot path (HOT_PATH)",
    )
    args = p.parse_args()
    if args.workers is not None and args.workers < 2:
        p.error("--workers must be at least 2 (one worker is always measured)")
    args.rates = [float(r) for r in args.rate.split(",") if r.strip()]
    if not args.rates or min(args.rates) <= 0:
        p.error("--rate needs positive rates")
    if args.conversations < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--conversations and --duration must be positive, --warmup not negative")
    if args.body_size < 40:
        p.error("--body-size must be at least 40")
    return args


# Where a message's server CPU goes, for --profile: each py-spy sample is put in the first of
# these steps one of whose patterns a frame of its stack contains (so a rate-limit check inside
# sendMessage counts as the rate limit, not as sendMessage).
HOT_PATH: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sendMessage: authentication (token -> viewer)", ("Context.viewer ", "authenticate ")),
    ("sendMessage: rate limits (Redis)", ("RateLimits.hit ",)),
    ("sendMessage: recipient watching? (Redis)", ("Presence.held ",)),
    ("sendMessage: the send statement (PostgreSQL)", ("store_message ",)),
    ("sendMessage: publish and other effects", ("Effects.run ", "Hub.publish ")),
    (
        "deliveries: each subscription's GraphQL execution and websocket send",
        ("_send_result_stream ", "send_next ", "run_operation "),
    ),
    ("pub/sub: reading Redis, fanning out", ("RedisBackend.", "Hub.", "Subscription.")),
    ("Redis writes with no caller on the stack", ("_send_packed_command ",)),
    ("sendMessage: the rest (HTTP, parsing, execution, response)", ("run_asgi ",)),
    ("websocket frames in and out (uvicorn)", ("websockets_sansio_impl",)),
    ("the event loop itself (uvloop's C code: polling, callbacks)", ("^Runner.run ",)),
)


# --- processes ----------------------------------------------------------------------------


def uvicorn_server(
    database_url: str,
    redis_url: str,
    log_path: Path,
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> AbstractContextManager[tuple[str, int]]:
    """The server as `rapport serve` runs it (its websocket settings; `workers` processes), with
    REDIS_URL set and `env` over the benchmarks' settings; yields (base URL, pid) once /readyz
    answers and every worker has started."""
    return server_process(
        lambda port: [
            str(Path(sys.executable).parent / "rapport"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        {**server_env(database_url, None), "REDIS_URL": redis_url, **(env or {})},
        log_path,
        workers=workers,
    )


@dataclass
class Processes:
    """Whose CPU time is sampled around each measured window."""

    server: int
    redis: int
    postmaster: int

    def sample(self) -> dict[str, float]:
        pg = [self.postmaster, *children(self.postmaster)]
        return {
            "client": time.process_time(),
            # with --workers, the workers are children of the server process
            "uvicorn": sum(cpu_seconds(p) for p in (self.server, *children(self.server))),
            "postgres": sum(cpu_seconds(p) for p in pg),
            "redis": cpu_seconds(self.redis),
            "machine": machine_busy(),
        }


def machine_busy() -> float:
    """CPU seconds all processes of the machine spent busy (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def cpu_share(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    ours = [k for k in before if k != "machine"]
    parts = [f"{k} {100 * (after[k] - before[k]) / seconds:.0f}%" for k in ours]
    total = sum(after[k] - before[k] for k in ours) / seconds
    machine = (after["machine"] - before["machine"]) / seconds
    return (
        ", ".join(parts)
        + f"; other processes on the machine {100 * max(machine - total, 0):.0f}%; machine "
        f"busy {100 * machine:.0f}% of {100 * (os.cpu_count() or 1)}%"
    )


# --- statistics -----------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank; values sorted or not. NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Summary:
        ms = [s * 1000 for s in seconds]
        return cls(
            len(ms),
            percentile(ms, 50),
            percentile(ms, 95),
            percentile(ms, 99),
            max(ms, default=float("nan")),
        )

    def row(
        self, name: str, rate: str, baseline: Summary | None = None, *, base: bool = False
    ) -> str:
        ratio = (
            f"{self.p50 / baseline.p50:>7.1f}x {self.p99 / baseline.p99:>6.1f}x"
            if baseline
            else (f"{'1.0x':>8} {'1.0x':>7}" if base else "")
        )
        return (
            f"{name:<30} {self.count:>7} {rate:>9} {self.p50:>8.2f} {self.p95:>8.2f} "
            f"{self.p99:>8.2f} {self.max:>8.1f}   {ratio}"
        )


HEADER = (
    f"{'':<30} {'samples':>7} {'per s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
    f"{'max ms':>8}   {'p50/p99 vs baseline'}"
)


class LoopLag:
    """How late this process's event loop wakes from a 5 ms sleep: when the client is busy,
    everything it measures is late by about this much."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (time, lag seconds)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.samples.append((now, now - start - 0.005))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    def between(self, start: float, end: float) -> list[float]:
        return [lag for at, lag in self.samples if start <= at < end]


# --- set-up through the public API ---------------------------------------------------------


@dataclass
class Person:
    token: str
    id: str


@dataclass
class Conversation:
    index: int
    id: str
    members: tuple[Person, Person]


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise BenchError(f"{query.split('(')[0][:40]!r}: {response.status_code} {body}")
    return dict(body["data"])


async def bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def until(predicate: Callable[[], bool], changed: asyncio.Event, seconds: float) -> bool:
    """Wait (at most `seconds`) for `predicate`, checked each time `changed` is set."""
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while not predicate():
                changed.clear()
                await changed.wait()
    return predicate()


async def hashing(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """A sign-up step (it hashes a password), sent again while the server answers RateLimited:
    its bounded argon2 queue refuses what it cannot start soon (README, Rate limits), and a
    client told to come back later does."""
    for _ in range(600):
        data = await gql(client, query, variables)
        if next(iter(data.values()))["__typename"] != "RateLimited":
            break
        await asyncio.sleep(0.05)
    return data


async def set_up(client: httpx.AsyncClient, pairs: int, database_url: str) -> list[Conversation]:
    tag = secrets.token_hex(3)

    async def person(n: int) -> Person:
        email = f"chat-{tag}-{n}@example.com"
        data = await hashing(client, REGISTER, {"i": {"email": email, "password": PASSWORD}})
        if data["register"]["__typename"] != "RegistrationStarted":
            raise BenchError(f"register {n}: {data}")
        code = await sign_up_code(database_url, email)
        data = await hashing(client, CONFIRM, sign_up_variables(email, code))
        if data["confirmRegistration"]["__typename"] != "AuthPayload":
            raise BenchError(f"confirmRegistration {n}: {data}")
        p = Person(data["confirmRegistration"]["token"], data["confirmRegistration"]["me"]["id"])
        made = await gql(
            client,
            CREATE_PROFILE,
            {"i": profile_input(displayName=f"P{n}")},
            p.token,
        )
        if made["createProfile"]["__typename"] != "OwnProfile":
            raise BenchError(f"createProfile {n}: {made}")
        return p

    started = time.perf_counter()
    people = await bounded(16, [functools.partial(person, n) for n in range(2 * pairs)])
    print(
        f"  {len(people)} people registered with profiles in {time.perf_counter() - started:.1f} s"
    )

    async def pair(k: int) -> Conversation:
        a, b = people[2 * k], people[2 * k + 1]
        first = await gql(client, LIKE, {"id": b.id}, a.token)
        second = await gql(client, LIKE, {"id": a.id}, b.token)
        if first["like"]["__typename"] != "SwipePayload" or not second["like"].get("match"):
            raise BenchError(f"pair {k} did not match: {first} {second}")
        nodes = (await gql(client, CONVERSATIONS, token=a.token))["conversations"]["nodes"]
        if len(nodes) != 1:
            raise BenchError(f"pair {k}: expected one conversation, got {nodes}")
        return Conversation(k, nodes[0]["id"], (a, b))

    started = time.perf_counter()
    conversations = await bounded(16, [functools.partial(pair, k) for k in range(pairs)])
    print(f"  {pairs} matches/conversations opened in {time.perf_counter() - started:.1f} s")
    return conversations


# --- the run's bookkeeping ------------------------------------------------------------------


@dataclass
class Subscriber:
    conversation: int
    member: int
    received: list[tuple[int, int]] = field(default_factory=list)  # (message id, index)
    errors: list[str] = field(default_factory=list)
    ws: ClientConnection | None = None  # for --send-over websocket
    answers: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Sent:
    conversation: int
    phase: str
    scheduled: float  # when the schedule says it is sent: latencies count from here
    started: float = 0.0  # when this client got round to it (late: the client is busy)
    dispatched: float = 0.0  # when one of the --connections was free (late: server busy)
    answered: float = 0.0
    message_id: int | None = None
    error: str | None = None
    abandoned: bool = False  # still unanswered when the benchmark stopped waiting
    retries: int = 0  # sent again (same clientMessageId) after a connection failed


@dataclass
class Ledger:
    """Every message the run sends (by index) and every delivery."""

    subscribers: list[Subscriber]
    sent: dict[int, Sent] = field(default_factory=dict)
    confirmed: list[int] = field(default_factory=list)  # per conversation: successful sends
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    deliveries: list[float] = field(default_factory=list)  # receive times
    unknown: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # a delivery or an error

    def delivered(self, sub: Subscriber, payload: dict[str, Any], now: float) -> None:
        self.changed.set()
        result = payload.get("data", {}).get("messageAdded") if payload else None
        if not isinstance(result, dict) or result.get("__typename") != "Message":
            sub.errors.append(f"unexpected payload {payload}")
            return
        try:
            index = int(result["body"].split(" ", 2)[1])
            message_id = number(result["id"])
        except (KeyError, ValueError, IndexError):
            self.unknown.append(str(result))
            return
        sub.received.append((message_id, index))
        self.deliveries.append(now)
        sent = self.sent.get(index)
        if sent is None or sent.conversation != sub.conversation:
            self.unknown.append(f"subscriber of conversation {sub.conversation}: {result}")
            return
        self.latencies.setdefault(sent.phase, []).append((sent.scheduled, now - sent.scheduled))

    def caught_up(self) -> bool:
        return all(len(s.received) >= self.confirmed[s.conversation] for s in self.subscribers)

    def check(self) -> list[str]:
        """Problems: failed sends, and per subscriber missing/duplicate/out-of-order/unknown."""
        problems = [f"sendMessage #{i}: {s.error}" for i, s in self.sent.items() if s.error]
        expected: dict[int, set[int]] = {}
        unanswered = {i for i, s in self.sent.items() if s.abandoned}  # may or may not arrive
        for i, s in self.sent.items():
            if s.message_id is not None:
                expected.setdefault(s.conversation, set()).add(i)
        totals = {"missing": 0, "duplicate": 0, "out of order": 0, "unexpected": 0}
        for sub in self.subscribers:
            want = expected.get(sub.conversation, set())
            got = [i for _, i in sub.received]
            ids = [m for m, _ in sub.received]
            missing = want - set(got)
            duplicate = len(got) - len(set(got))
            disorder = sum(1 for a, b in itertools.pairwise(ids) if b <= a)
            unexpected = set(got) - want - unanswered
            for key, n in zip(
                totals, (len(missing), duplicate, disorder, len(unexpected)), strict=True
            ):
                totals[key] += n
            if missing or duplicate or disorder or unexpected:
                problems.append(
                    f"subscriber {sub.conversation}/{sub.member}: {len(missing)} missing "
                    f"(e.g. #{sorted(missing)[:5]}), {duplicate} duplicate, {disorder} out of "
                    f"order, {len(unexpected)} unexpected (e.g. #{sorted(unexpected)[:5]})"
                )
            problems += [f"subscriber {sub.conversation}/{sub.member}: {e}" for e in sub.errors]
        problems += [f"unrecognised delivery: {u}" for u in self.unknown]
        if any(totals.values()):
            problems.insert(0, "TOTALS: " + ", ".join(f"{n} {k}" for k, n in totals.items()))
        return problems


# --- subscribers ----------------------------------------------------------------------------


async def subscribe(
    ws_url: str,
    conversation: Conversation,
    sub: Subscriber,
    ledger: Ledger,
    opening: asyncio.Semaphore,
    closing: asyncio.Event,
) -> None:
    """One person's socket: init, subscribe to their conversation from the start, record."""
    person = conversation.members[sub.member]
    await opening.acquire()  # bounds how many sockets are being opened at once
    opened = False
    try:
        async with connect(ws_url, subprotocols=[PROTOCOL], open_timeout=30, max_queue=None) as ws:
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"token": person.token}})
            )
            ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if ack.get("type") != "connection_ack":
                raise BenchError(f"connection_init answered {ack}")
            variables = {"c": conversation.id, "a": "0"}
            payload = {"query": ADDED, "variables": variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            opening.release()
            opened = True
            sub.ws = ws
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                kind = message.get("type")
                answer = sub.answers.pop(message.get("id", "1"), None)
                if answer is not None:  # a sendMessage sent over this socket
                    if not answer.done():
                        answer.set_result(message)
                elif kind == "complete" and message.get("id") != "1":
                    pass  # the end of a sendMessage already answered
                elif kind == "next":
                    ledger.delivered(sub, message.get("payload"), now)
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind != "pong":
                    sub.errors.append(f"server sent {message}")
                    if kind in ("error", "complete"):
                        return
            if not closing.is_set():
                sub.errors.append("socket closed by the server")
    except ConnectionClosed as exc:
        if not closing.is_set():
            sub.errors.append(f"socket closed by the server: {exc}")
    except (OSError, TimeoutError, BenchError) as exc:
        sub.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        ledger.changed.set()
        if not opened:
            opening.release()


# --- senders --------------------------------------------------------------------------------


@dataclass
class StepResult:
    rate: float
    window: float
    achieved: float  # successful sendMessage answers/s in the window
    deliveries: float  # deliveries/s in the window (each message goes to 2 subscribers)
    latency: Summary
    thirds: list[Summary]
    http: Summary  # sendMessage round trip, from its dispatch
    start_lag: Summary  # when this client started the send - scheduled time
    slot_wait: Summary  # waiting for one of the HTTP connections (the server answering)
    abandoned: int  # sends still unanswered when the step stopped waiting
    retries: int  # sends repeated (same clientMessageId) after a connection error
    loop_lag: Summary
    cpu: str
    client_cpu: float  # share of one core
    server_cpu_ms: float  # uvicorn's CPU time per message answered in the window
    overloaded: bool
    drained: bool
    drain_s: float


class Sender:
    def __init__(
        self,
        client: aiohttp.ClientSession,
        connections: int,
        conversations: list[Conversation],
        ledger: Ledger,
        size: int,
        over_websocket: bool,
    ) -> None:
        self.client = client
        self.over_websocket = over_websocket
        # Sends beyond `connections` wait here, in order (a pool's own queue may cost CPU per
        # waiting request). aiohttp, not httpx, for the measured sends: httpx's pool spent
        # 90% of this client's CPU (py-spy) and made the client the bottleneck.
        self.slots = asyncio.Semaphore(connections)
        self.conversations = conversations
        self.ledger = ledger
        self.size = size
        self.next_index = 0  # global: conversation = index % N; members alternate per round
        self.tag = secrets.token_hex(4)

    async def send_over_websocket(self, sub: Subscriber, index: int, request: Any) -> Any:
        """sendMessage as an operation on the sender's own graphql-transport-ws socket
        (authenticated once, at connection_init): the answer's payload."""
        assert sub.ws is not None
        op = f"send-{index}"
        answer = sub.answers[op] = asyncio.get_running_loop().create_future()
        await sub.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": request}))
        message = await asyncio.wait_for(answer, 60)
        if message.get("type") != "next":
            raise ValueError(f"server answered {message}")
        return message.get("payload") or {}

    async def send(self, index: int, sent: Sent) -> None:
        n = len(self.conversations)
        conversation = self.conversations[sent.conversation]
        member = (index // n) % 2
        person = conversation.members[member]
        head = f"bench {index} t={sent.scheduled:.6f} "
        body = head + "x" * (self.size - len(head))
        sent.started = time.perf_counter()
        request = {
            "query": SEND,
            "variables": {"c": conversation.id, "b": body, "k": f"{self.tag}-{index}"},
        }
        headers = {"Authorization": f"Bearer {person.token}"}
        try:
            if self.over_websocket:
                sent.dispatched = time.perf_counter()
                sub = self.ledger.subscribers[2 * sent.conversation + member]
                status, data = 200, await self.send_over_websocket(sub, index, request)
            else:
                status, data = await self.send_over_http(sent, request, headers)
            result = (data.get("data") or {}).get("sendMessage") or {}
            if status != 200 or data.get("errors") or "id" not in result:
                sent.error = f"{status} {data}"
            else:
                sent.message_id = number(result["id"])
                self.ledger.confirmed[sent.conversation] += 1
        except (aiohttp.ClientError, ValueError, TimeoutError, ConnectionClosed) as exc:
            sent.error = f"{type(exc).__name__}: {exc}"
        except asyncio.CancelledError:
            sent.abandoned = True
            raise
        sent.answered = time.perf_counter()

    async def send_over_http(
        self, sent: Sent, request: Any, headers: dict[str, str]
    ) -> tuple[int, Any]:
        async with self.slots:
            sent.dispatched = time.perf_counter()
            for attempt in range(RETRIES + 1):
                try:
                    async with self.client.post(
                        "/graphql", json=request, headers=headers
                    ) as response:
                        return response.status, await response.json()
                except aiohttp.ClientConnectionError:
                    # As a real client would: send again with the same clientMessageId
                    # (e.g. a keep-alive connection the server closed as it was reused).
                    if attempt == RETRIES:
                        raise
                    sent.retries += 1
        raise AssertionError("unreachable")

    async def run(
        self, start: float, rate: float, plan: list[tuple[str, float]], max_in_flight: int
    ) -> bool:
        """Send on an open-loop schedule from `start`: phase by phase, `rate` messages/s for
        each phase's seconds. True if stopped early as overloaded."""
        in_flight: set[asyncio.Task[None]] = set()
        overloaded, offset = False, 0.0
        for phase, seconds in plan:
            for j in range(round(rate * seconds)):
                at = start + offset + j / rate
                delay = at - time.perf_counter()
                if delay > 0:  # when late, everything due goes out before the next wait
                    await asyncio.sleep(delay)
                index = self.next_index
                self.next_index += 1
                sent = Sent(index % len(self.conversations), phase, at)
                self.ledger.sent[index] = sent
                task = asyncio.create_task(self.send(index, sent))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                if len(in_flight) > max_in_flight:
                    overloaded = True
                    break
            offset += seconds
            if overloaded:
                break
        if in_flight:
            await asyncio.wait(in_flight, timeout=60)
        for task in in_flight:
            task.cancel()
        return overloaded


# --- the Redis baseline -------------------------------------------------------------------


async def redis_baseline(
    url: str, channels: list[str], rate: float, warmup: float, seconds: float
) -> tuple[Summary, float, int]:
    """Publish `rate` messages/s (open loop, round robin over `channels`) from one client and
    receive them on another subscribed to all the channels. (latency, received/s, lost)."""
    publisher, listener = Redis.from_url(url), Redis.from_url(url)
    pubsub = listener.pubsub()
    scheduled: dict[int, float] = {}
    latencies: list[tuple[float, float]] = []
    confirmed = asyncio.Event()
    arrived = asyncio.Event()

    async def read() -> None:
        subscribed = 0
        async for message in pubsub.listen():
            now = time.perf_counter()
            if message["type"] == "subscribe":
                subscribed += 1
                if subscribed == len(channels):
                    confirmed.set()
            elif message["type"] == "message":
                index = int(message["data"])
                latencies.append((scheduled[index], now - scheduled[index]))
                arrived.set()

    async def publish(channel: str, i: int) -> None:
        await publisher.publish(channel, str(i))

    try:
        await pubsub.subscribe(*channels)
        reader = asyncio.create_task(read())
        await asyncio.wait_for(confirmed.wait(), 15)
        in_flight: set[asyncio.Task[None]] = set()
        total = round(rate * (warmup + seconds))
        start = time.perf_counter() + 0.05
        window = (start + warmup, start + warmup + seconds)
        for i in range(total):
            at = start + i / rate
            if at > time.perf_counter():
                await asyncio.sleep(at - time.perf_counter())
            scheduled[i] = at
            task = asyncio.create_task(publish(channels[i % len(channels)], i))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=15)
        await until(lambda: len(latencies) >= total, arrived, 5)
        reader.cancel()
        with suppress(asyncio.CancelledError):
            await reader
    finally:
        await pubsub.aclose()
        await listener.aclose()
        await publisher.aclose()
    measured = [lat for at, lat in latencies if window[0] <= at < window[1]]
    return Summary.of(measured), len(measured) / seconds, total - len(latencies)


# --- a step ---------------------------------------------------------------------------------


@contextmanager
def profiled(args: argparse.Namespace, server: int, rate: float) -> Iterator[None]:
    """With --profile: py-spy on the server during the block, then its stacks and summary
    (by package, by step of HOT_PATH, top frames) in the folder, and the steps printed."""
    if args.profile is None:
        yield
        return
    stacks = args.profile / f"server-{rate:g}.txt"
    with py_spy(server, stacks, subprocesses=True):
        yield
    summary = summarise_stacks(stacks.read_text(), steps=HOT_PATH)
    (args.profile / f"server-{rate:g}-summary.txt").write_text(summary)
    steps = summary.split("by step (each sample once):\n", 1)[1].split("top ", 1)[0]
    print(f"server CPU by step at {rate:g}/s (py-spy samples):\n{steps}", end="", flush=True)


async def run_step(
    rate: float,
    args: argparse.Namespace,
    sender: Sender,
    ledger: Ledger,
    lag: LoopLag,
    procs: Processes,
) -> StepResult:
    measure = f"measure@{rate:g}"
    t0 = time.perf_counter() + 0.05
    start = t0 + args.warmup
    end = start + args.duration
    plan = [(f"warmup@{rate:g}", args.warmup), (measure, args.duration)]

    cpu: dict[str, Any] = {}

    async def sample_cpu() -> None:
        await asyncio.sleep(max(start - time.perf_counter(), 0))
        cpu["before"] = procs.sample()
        with profiled(args, procs.server, rate):
            await asyncio.sleep(max(end - time.perf_counter(), 0))
        cpu["after"] = procs.sample()

    sampler = asyncio.create_task(sample_cpu())
    overloaded = await sender.run(t0, rate, plan, args.max_in_flight)
    sent_done = time.perf_counter()
    drained = await until(ledger.caught_up, ledger.changed, args.drain)
    drain_s = time.perf_counter() - sent_done
    if not sampler.done():
        sampler.cancel()
        cpu.setdefault("after", procs.sample())
        cpu.setdefault("before", cpu["after"])
    window = min(end, sent_done) - start if overloaded else args.duration

    in_window = [s for s in ledger.sent.values() if s.phase == measure]
    # Answers in the window, whenever scheduled (an overloaded server is still answering
    # the warm-up's backlog): what the server achieved.
    answered = [
        s for s in ledger.sent.values() if s.message_id is not None and start <= s.answered < end
    ]
    samples = ledger.latencies.get(measure, [])
    thirds = [
        Summary.of(
            [
                lat
                for at, lat in samples
                if start + k * args.duration / 3 <= at < start + (k + 1) * args.duration / 3
            ]
        )
        for k in range(3)
    ]
    before, after = cpu["before"], cpu["after"]
    return StepResult(
        rate=rate,
        window=window,
        achieved=len(answered) / window,
        deliveries=sum(1 for t in ledger.deliveries if start <= t < end) / window,
        latency=Summary.of([lat for _, lat in samples]),
        thirds=thirds,
        http=Summary.of([s.answered - s.dispatched for s in in_window if s.answered]),
        start_lag=Summary.of([s.started - s.scheduled for s in in_window if s.started]),
        slot_wait=Summary.of([s.dispatched - s.started for s in in_window if s.dispatched]),
        abandoned=sum(1 for s in in_window if s.abandoned),
        retries=sum(s.retries for s in in_window),
        loop_lag=Summary.of(lag.between(start, end)),
        cpu=cpu_share(before, after, max(window, 1e-9)),
        client_cpu=(after["client"] - before["client"]) / max(window, 1e-9),
        server_cpu_ms=1000 * (after["uvicorn"] - before["uvicorn"]) / max(len(answered), 1),
        overloaded=overloaded,
        drained=drained,
        drain_s=drain_s,
    )


def sustained(r: StepResult, subscribers_per_message: float) -> tuple[bool, str]:
    reasons = []
    if r.overloaded:
        reasons.append("stopped early: too many unanswered sends")
    if r.abandoned:
        reasons.append(f"{r.abandoned} sends never answered")
    if r.achieved < 0.97 * r.rate:
        reasons.append(f"sent {r.achieved:.0f}/s < 97% of {r.rate:g}/s")
    if r.deliveries < 0.97 * r.rate * subscribers_per_message:
        reasons.append(f"delivered {r.deliveries / subscribers_per_message:.0f} msg/s < 97%")
    if not r.drained:
        reasons.append("deliveries still missing after the drain wait")
    first, last = r.thirds[0].p50, r.thirds[-1].p50
    if last > 2 * first + 10:
        reasons.append(f"latency growing (p50 {first:.1f} ms -> {last:.1f} ms over the step)")
    return not reasons, "; ".join(reasons) or "rates within 3%, latency flat, all delivered"


def print_step(
    r: StepResult, base: Summary, base_rate: float, base_lost: int, per_message: int
) -> None:
    print(f"\n=== {r.rate:g} messages/s: {r.window:.0f} s measured ===")
    print(HEADER)
    print(base.row("baseline: Redis PUBLISH->recv", f"{base_rate:.0f}", base=True))
    print(r.latency.row("chat: sendMessage->subscriber", f"{r.deliveries:.0f}", base))
    for k, third in enumerate(r.thirds):
        print(third.row(f"  third {k + 1} of the window", "", base))
    print(r.http.row("sendMessage HTTP round trip", f"{r.achieved:.0f}", base))
    print(r.start_lag.row("client: send start lateness", ""))
    print(r.slot_wait.row("waiting for a free connection", ""))
    print(r.loop_lag.row("client: event-loop lag (5 ms)", ""))
    print(
        f"sent {r.achieved:.1f} msg/s answered (target {r.rate:g}); delivered "
        f"{r.deliveries:.1f} deliveries/s = {r.deliveries / per_message:.1f} msg/s x "
        f"{per_message} subscribers; drain after last answer {r.drain_s:.2f} s; "
        f"baseline lost {base_lost}; sends retried after a connection error: {r.retries}"
    )
    print(f"CPU (% of one core): {r.cpu}")
    print(
        f"uvicorn CPU per message (its sendMessage + {per_message} deliveries): "
        f"{r.server_cpu_ms:.1f} ms -> one worker tops out near "
        f"{1000 / max(r.server_cpu_ms, 1e-9):.0f} msg/s"
    )
    ok, why = sustained(r, per_message)
    print(f"sustained: {'YES' if ok else 'NO'} ({why})")
    if r.abandoned:
        print(f"{r.abandoned} sends of the window were still unanswered when waiting stopped")
    late = r.start_lag.p99 > max(10.0, 0.1 * r.latency.p99)
    if r.client_cpu > 0.7 or r.loop_lag.p99 > 10 or late:
        print(
            f"WARNING: the client may be a bottleneck here (its CPU {100 * r.client_cpu:.0f}% "
            f"of a core, loop lag p99 {r.loop_lag.p99:.1f} ms, send start lateness p99 "
            f"{r.start_lag.p99:.1f} ms): part of the latency above is the client's."
        )


# --- the run --------------------------------------------------------------------------------


def print_header(args: argparse.Namespace) -> None:
    def ver(dist: str) -> str:
        try:
            return version(dist)
        except Exception:
            return "not installed"

    redis_version = subprocess.run(
        ["/usr/bin/redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split(" sha=")[0]
    print(
        f"python {platform.python_version()}, strawberry-graphql {ver('strawberry-graphql')}, "
        f"uvicorn {ver('uvicorn')} (uvloop {ver('uvloop')}), websockets {ver('websockets')}, "
        f"redis-py {ver('redis')}, aiohttp {ver('aiohttp')}; {redis_version}"
    )
    over = (
        f"HTTP with at most {args.connections} connections"
        if args.send_over == "http"
        else "each sender's own websocket"
    )
    print(
        f"CPUs: {os.cpu_count()}; "
        + ("one uvicorn worker" if args.workers is None else f"1, then {args.workers} workers")
        + " (RAPPORT_ENV=production, REDIS_URL = a "
        f"private redis-server), embedded PostgreSQL; this client is one asyncio process "
        f"(uvloop) sharing the cores. {args.conversations} conversations, "
        f"{2 * args.conversations} websocket subscribers, sendMessage over {over}; "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per "
        f"rate; baseline {args.baseline_duration:g} s",
        flush=True,
    )


@asynccontextmanager
async def subscribers_running(
    ws_url: str, conversations: list[Conversation], ledger: Ledger, closing: asyncio.Event
) -> AsyncIterator[list[asyncio.Task[None]]]:
    opening = asyncio.Semaphore(50)
    tasks = []
    for sub in ledger.subscribers:
        conversation = conversations[sub.conversation]
        tasks.append(
            asyncio.create_task(subscribe(ws_url, conversation, sub, ledger, opening, closing))
        )
    try:
        yield tasks
    finally:
        closing.set()
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=30)


async def prime(sender: Sender, ledger: Ledger, limit_s: float) -> float:
    """One message per conversation; wait until every subscriber has it."""
    started = time.perf_counter()
    sends = []
    for c in range(len(sender.conversations)):
        index = sender.next_index
        sender.next_index += 1
        ledger.sent[index] = Sent(c, "prime", time.perf_counter())
        sends.append(functools.partial(sender.send, index, ledger.sent[index]))
    await bounded(16, sends)

    def done() -> bool:
        return ledger.caught_up() or any(s.errors for s in ledger.subscribers)

    await until(done, ledger.changed, limit_s)
    if not ledger.caught_up():
        errors = [e for s in ledger.subscribers for e in s.errors]
        waiting = sum(
            1 for s in ledger.subscribers if len(s.received) < ledger.confirmed[s.conversation]
        )
        raise BenchError(
            f"subscriptions not all live after {time.perf_counter() - started:.0f} s: "
            f"{waiting} still waiting; errors: {errors[:5]}; {ledger.check()[:5]}"
        )
    return time.perf_counter() - started


Results = list[tuple["StepResult", "Summary", float, int]]


async def run_async(
    args: argparse.Namespace, base_url: str, redis_url: str, procs: Processes, database_url: str
) -> Results:
    lag = LoopLag()
    lag.start()
    setup_client = httpx.AsyncClient(base_url=base_url, timeout=60)
    async with setup_client:
        print("setting up through the API ...", flush=True)
        conversations = await set_up(setup_client, args.conversations, database_url)
    subscribers = [Subscriber(c.index, m) for c in conversations for m in (0, 1)]
    ledger = Ledger(subscribers, confirmed=[0] * len(conversations))
    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=60)
    closing = asyncio.Event()
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    results: list[tuple[StepResult, Summary, float, int]] = []
    async with (
        aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client,
        subscribers_running(ws_url, conversations, ledger, closing),
    ):
        sender = Sender(
            client,
            args.connections,
            conversations,
            ledger,
            args.body_size,
            over_websocket=args.send_over == "websocket",
        )
        if sender.over_websocket:  # every sender's socket must be open before it sends
            deadline = time.perf_counter() + 90
            while not all(sub.ws for sub in subscribers) and time.perf_counter() < deadline:
                if errors := [e for sub in subscribers for e in sub.errors]:
                    raise BenchError(f"opening sockets: {errors[:5]}")
                await asyncio.sleep(0.05)
        primed = await prime(sender, ledger, 90)
        print(
            f"  {len(subscribers)} subscriptions live (priming round delivered) in {primed:.1f} s"
        )
        if problems := ledger.check():
            raise BenchError("after priming: " + "; ".join(problems[:10]))
        channels = [f"bench:conversation:{c.index}" for c in conversations]
        for rate in args.rates:
            print(f"rate {rate:g}/s: Redis baseline ...", flush=True)
            base, base_rate, base_lost = await redis_baseline(
                redis_url, channels, rate, min(args.warmup, 2), args.baseline_duration
            )
            print(f"rate {rate:g}/s: chat ...", flush=True)
            result = await run_step(rate, args, sender, ledger, lag, procs)
            results.append((result, base, base_rate, base_lost))
            print_step(result, base, base_rate, base_lost, 2)
            if problems := ledger.check():
                print("\nCORRECTNESS FAILURES:")
                for line in problems[:40]:
                    print("  " + line)
                raise BenchError(
                    f"{len(problems)} correctness problems at {rate:g} msg/s (see above)"
                )
            print(
                f"correctness: {len(ledger.sent)} messages so far, each delivered exactly "
                f"once and in order to both members' subscriptions ({len(ledger.deliveries)} "
                "deliveries): OK",
                flush=True,
            )
            if result.overloaded:
                print("stopping: this rate overloaded the server/client; higher ones would too")
                break
    await lag.stop()
    summarise(results, args)
    return results


def summarise(
    results: list[tuple[StepResult, Summary, float, int]], args: argparse.Namespace
) -> None:
    print("\nSummary")
    print(
        f"{'rate':>6} {'sent/s':>8} {'msg/s dlv':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'base p99':>9} {'p99 vs base':>12}  sustained"
    )
    best = None
    for r, base, _, _ in results:
        ok, _ = sustained(r, 2)
        if ok:
            best = r.rate if best is None else max(best, r.rate)
        print(
            f"{r.rate:>6g} {r.achieved:>8.1f} {r.deliveries / 2:>10.1f} {r.latency.p50:>8.2f} "
            f"{r.latency.p99:>8.2f} {base.p99:>9.2f} {r.latency.p99 / base.p99:>11.1f}x  "
            f"{'yes' if ok else 'no'}"
        )
    if len(results) > 1:
        print(f"highest sustained rate tried: {best:g} msg/s" if best else "no rate sustained")
    at_target = [r for r, *_ in results if r.rate == TARGET_RATE]
    if at_target:
        r = at_target[0]
        ok, _ = sustained(r, 2)
        met = ok and r.latency.p99 <= TARGET_P99_MS
        print(
            f"Target p99 <= {TARGET_P99_MS:g} ms at {TARGET_RATE:g} msg/s: "
            f"{'MET' if met else 'NOT MET'} (p99 {r.latency.p99:.2f} ms, "
            f"{r.achieved:.1f} msg/s sent, {'sustained' if ok else 'NOT sustained'})"
        )
    else:
        print(
            f"Target p99 <= {TARGET_P99_MS:g} ms at {TARGET_RATE:g} msg/s: not measured "
            f"(no --rate {TARGET_RATE:g} step)"
        )


def server_log_report(log_path: Path) -> None:
    lines = log_path.read_text(errors="replace").splitlines()
    bad = [ln for ln in lines if any(w in ln for w in ("ERROR", "Traceback", "WARNING"))]
    print(f"server log: {len(lines)} lines, {len(bad)} warnings/errors")
    for line in bad[:10]:
        print("  " + line[:200])


def run(args: argparse.Namespace) -> int:
    import uvloop

    print_header(args)
    database_url, pgdata = start_database()
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    runs: dict[int, Results] = {}
    with (
        RedisServer() as redis_server,
        tempfile.TemporaryDirectory(prefix="rapport-chat-") as tmp,
    ):
        for workers in (1,) if args.workers is None else (1, args.workers):
            log_path = Path(tmp) / f"uvicorn-{workers}.log"
            try:
                with uvicorn_server(database_url, redis_server.url, log_path, workers=workers) as (
                    base_url,
                    pid,
                ):
                    redis_pid = redis_server._process.pid if redis_server._process else 0
                    procs = Processes(server=pid, redis=redis_pid, postmaster=postmaster)
                    print(
                        f"\n`rapport serve --workers {workers}` pid {pid} at {base_url}; "
                        f"redis-server pid {redis_pid} at {redis_server.url}; "
                        f"postgres pid {postmaster}",
                        flush=True,
                    )
                    runs[workers] = uvloop.run(
                        run_async(args, base_url, redis_server.url, procs, database_url)
                    )
            finally:
                server_log_report(log_path)
    if args.workers is not None:
        compare_workers(runs, args.workers)
    return 0


def compare_workers(runs: dict[int, Results], workers: int) -> None:
    print(f"\n1 worker against {workers}, per rate:")
    print(
        f"{'rate':>6} {'p50 ms':>15} {'p99 ms':>17} {'server CPU/msg ms':>19}  "
        f"sustained (1 / {workers})"
    )
    for (one, *_), (many, *_) in zip(runs[1], runs[workers], strict=False):
        print(
            f"{one.rate:>6g} {one.latency.p50:>7.2f} / {many.latency.p50:<6.2f} "
            f"{one.latency.p99:>8.2f} / {many.latency.p99:<7.2f} "
            f"{one.server_cpu_ms:>9.2f} / {many.server_cpu_ms:<8.2f}  "
            f"{'yes' if sustained(one, 2)[0] else 'no'} / "
            f"{'yes' if sustained(many, 2)[0] else 'no'}"
        )


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    try:
        sys.exit(run(args))
    except BenchError as exc:
        sys.exit(f"BENCHMARK FAILED: {exc}")


if __name__ == "__main__":
    main()
