"""GET /dev/outbox/latest (rapport/dev_outbox.py): in development, the latest sign-up code
queued for an address, to clients on this machine; in test and production, 404."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from rapport.dev_outbox import PATH
from tests.support.mailbox import PASSWORD, REGISTER, sign_up_code
from tests.support.settings import make_settings

LOOPBACK = ("127.0.0.1", 50000)
Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_client(database_url: str, encoder: Any) -> Client:
    """`async with app_client(env, client=(host, port)) as http`: the real ASGI app."""
    from app import create_app

    @asynccontextmanager
    async def open_client(
        env: str, client: tuple[str, int] = LOOPBACK
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(make_settings(database_url, env=env), encoder)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app, client=client)
            async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as h:
                yield h

    return open_client


async def register(http: httpx.AsyncClient, email: str) -> None:
    body = {"query": REGISTER, "variables": {"i": {"email": email, "password": PASSWORD}}}
    answer = (await http.post("/graphql", json=body)).json()
    assert answer["data"]["register"]["__typename"] == "RegistrationStarted", answer


async def test_development_gives_the_latest_code_for_an_address(
    app_client: Client, database_url: str
) -> None:
    async with app_client("development") as http:
        missing = await http.get(PATH, params={"email": "nobody@example.com"})
        assert missing.status_code == 404 and "no sign-up code" in missing.json()["error"]
        assert (await http.get(PATH)).status_code == 400

        await register(http, "Ada@Example.com")
        first = await http.get(PATH, params={"email": " ada@example.COM "})
        assert first.status_code == 200, first.text
        assert first.json() == {
            "email": "ada@example.com",
            "code": await sign_up_code(database_url, "ada@example.com"),
        }
        await register(http, "ada@example.com")  # asking again: a new code, and it is the one
        again = (await http.get(PATH, params={"email": "ada@example.com"})).json()
        assert again["code"] == await sign_up_code(database_url, "ada@example.com")


async def test_development_answers_only_this_machine(app_client: Client) -> None:
    for client in (("192.0.2.7", 50000), ("testclient", 50000)):
        async with app_client("development", client=client) as http:
            await register(http, "ada@example.com")
            answer = await http.get(PATH, params={"email": "ada@example.com"})
            assert answer.status_code == 404, (client, answer.text)
            assert "code" not in answer.text


@pytest.mark.parametrize("env", ["test", "production"])
async def test_no_route_outside_development(app_client: Client, env: str) -> None:
    async with app_client(env) as http:
        await register(http, "ada@example.com")
        answer = await http.get(PATH, params={"email": "ada@example.com"})
        assert answer.status_code == 404 and "code" not in answer.text
        assert (await http.get("/dev/outbox/latest")).status_code == 404
