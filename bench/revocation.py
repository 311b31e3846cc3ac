"""Revocation benchmark: how long after a revoking mutation answers on one instance is a
websocket on another instance closed with 4403? (Issue 12 item 7: "within a second".)

Starts a throwaway embedded PostgreSQL, a private redis-server and two `rapport serve`
instances sharing both (and one secret key). Each round signs a person in twice; one token
holds `--sockets` websockets on instance A (each with a `notifications` subscription), then
`logout` (or `logoutEverywhere`, alternately) is sent to instance B over HTTP, and the time
from the mutation's answer to each socket's close frame is recorded. `--idle N` first opens
N websockets of other people on A, so the close is measured on a process that holds many.

Prints p50/p90/max of "close after answer" and of "close after the request was sent".

    .venv/bin/python bench/revocation.py [--rounds 30] [--sockets 3] [--idle 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from http_api import PASSWORD, graphql, rapport_server, register, start_database  # noqa: E402

from tests.support.redis_server import RedisServer  # noqa: E402

NOTIFICATIONS = "subscription { notifications { __typename } }"
LOGIN = """mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) {
  ... on AuthPayload { token } } }"""
WAIT_S = 60


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=30, help="revocations measured (30)")
    p.add_argument("--sockets", type=int, default=3, help="sockets of the revoked token (3)")
    p.add_argument("--idle", type=int, default=200, help="other people's sockets on A (200)")
    return p.parse_args()


async def open_socket(base: str, token: str) -> Any:
    url = base.replace("http://", "ws://") + "/graphql"
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    assert ack["type"] == "connection_ack", ack
    payload = {"query": NOTIFICATIONS}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    return ws


async def closed_at(ws: Any) -> tuple[float, int]:
    """When the server's close frame arrived, and its code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    except ConnectionClosed as closed:
        return time.perf_counter(), closed.rcvd.code if closed.rcvd else -1


def person(http: httpx.Client, database_url: str) -> tuple[str, str]:
    email = f"revoke-{secrets.token_hex(5)}@example.com"
    return email, register(http, email, database_url)


async def one_round(
    a: str, b: str, http_b: httpx.AsyncClient, token: str, sockets: int, mutation: str
) -> tuple[list[float], list[float]]:
    opened = [await open_socket(a, token) for _ in range(sockets)]
    # A ping answered: the subscribe before it has been read, the socket is registered.
    for ws in opened:
        await ws.send(json.dumps({"type": "ping"}))
        while json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["type"] != "pong":
            pass
    closes = [asyncio.create_task(closed_at(ws)) for ws in opened]
    sent = time.perf_counter()
    answer = await http_b.post(
        "/graphql",
        json={"query": f"mutation {{ {mutation} {{ __typename }} }}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    answered = time.perf_counter()
    assert answer.json()["data"][mutation]["__typename"] == "LogoutPayload", answer.text
    results = await asyncio.gather(*closes)
    for ws in opened:
        await ws.close()
    assert all(code == 4403 for _, code in results), results
    return [t - answered for t, _ in results], [t - sent for t, _ in results]


def summary(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return (
        f"{name}: p50 {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, max {ms[-1]:.1f} ms, "
        f"min {ms[0]:.1f} ms ({len(ms)} closes)"
    )


def seed(b: str, database_url: str, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Tokens for the idle sockets (20 people), and one per round (a second token of a new
    person: the one revoked)."""
    with httpx.Client(base_url=b, timeout=WAIT_S) as http:
        idle = [person(http, database_url)[1] for _ in range(min(args.idle, 20))]
        people = [person(http, database_url) for _ in range(args.rounds)]
        revoked = [
            str(graphql(http, LOGIN, {"e": email, "p": PASSWORD})["login"]["token"])
            for email, _ in people
        ]
    return idle, revoked


async def measure(
    a: str, b: str, idle_tokens: list[str], tokens: list[str], args: argparse.Namespace
) -> None:
    after_answer: list[float] = []
    after_send: list[float] = []
    async with AsyncExitStack() as stack, httpx.AsyncClient(base_url=b, timeout=WAIT_S) as http_b:
        for n in range(args.idle):  # other people's sockets (20 people, several sockets each)
            ws = await open_socket(a, idle_tokens[n % len(idle_tokens)])
            stack.push_async_callback(ws.close)
        for n, token in enumerate(tokens):
            mutation = "logout" if n % 2 == 0 else "logoutEverywhere"
            answer, send = await one_round(a, b, http_b, token, args.sockets, mutation)
            after_answer += answer
            after_send += send
    print(summary("close after the mutation answered", after_answer))
    print(summary("close after the mutation was sent", after_send))


def main() -> None:
    args = parse_args()
    print(
        f"Rapport revocation benchmark: {platform.python_version()}, {platform.machine()}, "
        f"rounds {args.rounds}, {args.sockets} socket(s) per revoked token, "
        f"{args.idle} other sockets on instance A"
    )
    database_url, _ = start_database()
    key = secrets.token_urlsafe(36)
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as tmp, RedisServer() as redis:
        directory = Path(tmp)
        with (
            rapport_server(database_url, redis.url, 1, directory / "a.log", key, None) as (a, _),
            rapport_server(database_url, redis.url, 1, directory / "b.log", key, None) as (b, _),
        ):
            idle, tokens = seed(b, database_url, args)
            asyncio.run(measure(a, b, idle, tokens, args))


if __name__ == "__main__":
    main()
