"""Password guesses (README, Rate limits): each guess is counted before its password is
checked, so a burst of concurrent guesses, over HTTP and websockets, gets no more checks
than the budget; and the budgets are keyed so that strangers cannot lock the owner out."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from asgi_lifespan import LifespanManager
from websockets.typing import Subprotocol

from rapport.settings import Settings
from tests.support.mailbox import PASSWORD, sign_up
from tests.support.redis_server import RedisServer
from tests.support.servers import running_server
from tests.support.settings import make_settings

RATES = {
    "login_per_address": "100000/minute",
    "login_per_account_and_address": "3 per 15 minutes",
    "login_per_account": "5 per 15 minutes",
    "confirm_registration_per_address": "2/minute",
    "websocket_connections_per_address": "1000/minute",
    "subscribes_per_minute": "1000/minute",
}
LOGIN = (
    "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) "
    "{ __typename ... on AuthPayload { token } ... on RateLimited { limit retryAfter } } }"
)
CONFIRM = (
    "mutation($e: String!, $c: String!) { confirmRegistration(input: "
    f'{{email: $e, code: $c, password: "{PASSWORD}"}}) '
    "{ __typename ... on RateLimited { limit } } }"
)
WRONG = "not the password"
CHANGE_PASSWORD = (
    "mutation($p: String!) { changePassword(input: "
    '{currentPassword: $p, newPassword: "a new password!"}) { __typename '
    "... on ValidationError { errors { code } } ... on RateLimited { limit } } }"
)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, rate_limits=RATES)


class Addresses:
    """Clients of one in-process app, each from its own client address."""

    def __init__(self, app: Any, database_url: str) -> None:
        self.app = app
        self.database_url = database_url
        self._clients: dict[str, httpx.AsyncClient] = {}

    def __call__(self, address: str) -> httpx.AsyncClient:
        if address not in self._clients:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
            self._clients[address] = httpx.AsyncClient(
                transport=transport, base_url="http://rapport.test"
            )
        return self._clients[address]

    async def login(self, address: str, email: str, password: str) -> dict[str, Any]:
        body = {"query": LOGIN, "variables": {"e": email, "p": password}}
        response = await self(address).post("/graphql", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"]["login"])

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


@pytest.fixture
async def addresses(settings: Settings, encoder: Any) -> AsyncIterator[Addresses]:
    from app import create_app

    async with LifespanManager(create_app(settings, encoder)) as manager:
        clients = Addresses(manager.app, str(settings.database_url))
        yield clients
        await clients.aclose()


async def account(addresses: Addresses, address: str) -> str:
    """An account signed up (and so signed in once) from `address`."""
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        return dict((await addresses(address).post("/graphql", json=body)).json())

    await sign_up(post, addresses.database_url, email, PASSWORD)
    return email


async def test_a_strangers_guesses_lock_only_the_strangers_address(addresses) -> None:
    owner = await account(addresses, "10.0.0.1")
    for _ in range(3):
        assert (await addresses.login("10.9.9.9", owner, WRONG))["__typename"] == (
            "InvalidCredentials"
        )
    # Past the budget even the right password is refused there: guessing cannot go on...
    refused = await addresses.login("10.9.9.9", owner, PASSWORD)
    assert refused["__typename"] == "RateLimited"
    assert refused["limit"] == "login_per_account_and_address"
    # ...but the owner, elsewhere, signs in; and from a new address too (the slower budget
    # across addresses has room: its sign-up and the stranger's guesses spent 4 of 5).
    assert (await addresses.login("10.0.0.1", owner, PASSWORD))["__typename"] == "AuthPayload"
    assert (await addresses.login("10.0.0.2", owner, PASSWORD))["__typename"] == "AuthPayload"


async def test_the_right_password_clears_its_addresss_count(addresses) -> None:
    owner = await account(addresses, "10.0.1.1")
    for _ in range(5):  # typos, each time followed by the right password: never locked
        await addresses.login("10.0.1.1", owner, WRONG)
        await addresses.login("10.0.1.1", owner, WRONG)
        assert (await addresses.login("10.0.1.1", owner, PASSWORD))["__typename"] == ("AuthPayload")


async def test_many_addresses_spend_the_account_budget_but_not_at_the_owners(addresses) -> None:
    owner = await account(addresses, "10.0.2.1")
    for n in range(5):  # one guess from each of many addresses
        await addresses.login(f"10.8.0.{n}", owner, WRONG)
    refused = await addresses.login("10.8.1.1", owner, WRONG)
    assert refused["__typename"] == "RateLimited" and refused["limit"] == "login_per_account"
    # A new address of the owner's waits too (README: what this costs)...
    assert (await addresses.login("10.0.2.2", owner, PASSWORD))["__typename"] == "RateLimited"
    # ...one it signed in from does not: the strangers cannot spend that budget.
    assert (await addresses.login("10.0.2.1", owner, PASSWORD))["__typename"] == "AuthPayload"


async def test_unknown_emails_are_limited_the_same_way(addresses) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    answers = [await addresses.login("10.0.3.1", nobody, WRONG) for _ in range(4)]
    assert [a["__typename"] for a in answers] == ["InvalidCredentials"] * 3 + ["RateLimited"]
    assert answers[3]["limit"] == "login_per_account_and_address"


async def test_confirm_registration_is_limited_per_address(addresses) -> None:
    codes = [{"e": f"c{n}-{uuid.uuid4().hex[:6]}@example.com", "c": "000000"} for n in range(3)]
    answers = []
    for variables in codes:  # a different address each time: only the per-address limit
        response = await addresses("10.0.4.1").post(
            "/graphql", json={"query": CONFIRM, "variables": variables}
        )
        answers.append(response.json()["data"]["confirmRegistration"])
    assert [a["__typename"] for a in answers] == ["ValidationError"] * 2 + ["RateLimited"]
    assert answers[2]["limit"] == "confirm_registration_per_address"


def password_checks(metrics_text: str) -> float:
    found = re.search(r"^rapport_password_checks_total (\S+)$", metrics_text, re.M)
    assert found, "rapport_password_checks_total missing from /metrics"
    return float(found.group(1))


async def ws_guesses(url: str, token: str, count: int, address: str) -> list[str]:
    """`count` concurrent wrong current passwords (changePassword: a stolen token must not
    become a way to guess the password) over one graphql-transport-ws socket. Sockets need a
    token; login over them is the same function. Answers: WRONG_PASSWORD or RateLimited."""
    async with websockets.connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        additional_headers={"X-Forwarded-For": address},
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connection_ack"
        for n in range(count):
            payload = {"query": CHANGE_PASSWORD, "variables": {"p": WRONG}}
            await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
        results: list[str] = []
        while len(results) < count:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "next":
                answer = message["payload"]["data"]["changePassword"]
                wrong = answer.get("errors") == [{"code": "WRONG_PASSWORD"}]
                results.append("InvalidCredentials" if wrong else answer["__typename"])
        return results


async def test_a_burst_of_concurrent_guesses_gets_no_more_checks_than_the_budget(
    database_url: str, tmp_path
) -> None:
    """Against a real uvicorn sharing a real Redis: hundreds of wrong guesses at once, from
    one address and then from hundreds, over HTTP and websockets. The password checks done
    (rapport_password_checks_total) never exceed the budget; the rest are RateLimited."""
    with (
        RedisServer() as redis,
        running_server(
            database_url,
            tmp_path / "server.log",
            REDIS_URL=redis.url,
            RAPPORT_RATE_LIMITS=json.dumps(RATES),
        ) as server,
    ):
        # No keep-alive: a connection reused just as uvicorn's keep-alive timeout closes it
        # would be a ReadError that says nothing about the limits.
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120, limits=limits) as http:

            async def post(body: dict[str, Any]) -> dict[str, Any]:
                return dict((await http.post("/graphql", json=body)).json())

            email = f"burst-{uuid.uuid4().hex[:8]}@example.com"
            token = (await sign_up(post, database_url, email, PASSWORD))["token"]
            before = password_checks((await http.get("/metrics")).text)

            async def guess(address: str) -> str:
                body = {"query": LOGIN, "variables": {"e": email, "p": WRONG}}
                response = await http.post(
                    "/graphql", json=body, headers={"X-Forwarded-For": address}
                )
                return str(response.json()["data"]["login"]["__typename"])

            one_address = await asyncio.gather(*(guess("10.7.0.1") for _ in range(250)))
            after_one = password_checks((await http.get("/metrics")).text)
            assert after_one - before <= 3  # login_per_account_and_address
            assert one_address.count("InvalidCredentials") == after_one - before
            assert one_address.count("RateLimited") == 250 - (after_one - before)

            spread = await asyncio.gather(
                *(guess(f"10.7.{n // 250 + 1}.{n % 250}") for n in range(250))
            )
            ws_url = server.base_url.replace("http", "ws", 1) + "/graphql"
            sockets = await asyncio.gather(
                *(ws_guesses(ws_url, token, 20, f"10.6.0.{n}") for n in range(8))
            )
            checks = password_checks((await http.get("/metrics")).text) - before
        assert checks <= 5  # login_per_account: the budget across addresses
        answers = list(one_address) + list(spread) + [a for s in sockets for a in s]
        assert answers.count("InvalidCredentials") == checks
        assert answers.count("RateLimited") == len(answers) - checks
