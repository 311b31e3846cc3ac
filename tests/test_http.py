"""End to end over HTTP against the ASGI app: transport, bearer auth, errors, operations."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import httpx
import pytest

from alembic import command
from rapport import migrations
from rapport.graphiql import AssetsMissing, OfflineGraphiQL
from rapport.logging import configure_logging
from resolvers import profiles
from tests.support.mailbox import PASSWORD, sign_up
from tests.support.settings import make_settings

ME = "{ me { __typename ... on Me { email } } }"


async def post(
    client: httpx.AsyncClient, query: str, token: str | None = None, **kw
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json={"query": query, **kw}, headers=headers)


async def signed_up(client: httpx.AsyncClient, settings, email: str = "web@example.com") -> str:
    async def send(body: dict) -> dict:
        response = await client.post("/graphql", json=body)
        assert response.status_code == 200  # a Route, not a Mount: no 307 redirect
        return response.json()

    return (await sign_up(send, settings.database_url, email, PASSWORD))["token"]


async def test_register_then_me_with_bearer_header(client, settings) -> None:
    token = await signed_up(client, settings)
    me = await post(client, ME, token)
    assert me.json() == {"data": {"me": {"__typename": "Me", "email": "web@example.com"}}}
    for header in (f"Basic {token}", "Bearer", f"bearer {token}x"):
        other = await client.post("/graphql", json={"query": ME}, headers={"authorization": header})
        assert other.json()["data"]["me"]["__typename"] == "AuthenticationRequired"


async def test_graphql_syntax_errors_are_reported_not_masked(client) -> None:
    response = await post(client, "{ me { ")
    assert "Syntax Error" in response.json()["errors"][0]["message"]


async def test_unexpected_errors_are_masked_with_a_logged_correlation_id(
    client, settings, monkeypatch, caplog
) -> None:
    async def broken(*args, **kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(profiles, "public_profile", broken)
    token = await signed_up(client, settings)
    with caplog.at_level(logging.ERROR, logger="rapport.errors"):
        response = await post(
            client, '{ user(id: "00000000-0000-0000-0000-000000000000") { __typename } }', token
        )
    body = response.json()
    error = body["errors"][0]
    assert "hunter2" not in response.text
    assert error["message"].startswith("Internal server error.")
    correlation_id = error["extensions"]["correlationId"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert correlation_id.startswith(response.headers["x-request-id"])
    logged = [r for r in caplog.records if getattr(r, "correlation_id", None) == correlation_id]
    assert logged and "hunter2" in str(logged[0].exc_info[1])


async def test_request_id_is_echoed_or_assigned(client) -> None:
    given = await client.get("/healthz", headers={"x-request-id": "req-12345678"})
    assert given.headers["x-request-id"] == "req-12345678"
    junk = await client.get("/healthz", headers={"x-request-id": "bad id\n<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", junk.headers["x-request-id"])


async def test_health_and_readiness(client, database_url) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready",
        "revision": sorted(migrations.head_revisions()),
    }
    await asyncio.to_thread(command.downgrade, migrations.alembic_config(database_url), "base")
    pending = await client.get("/readyz")
    assert pending.status_code == 503 and pending.json()["status"] == "migrations pending"


async def test_access_log_has_one_line_per_request_with_timing(
    database_url, encoder, caplog
) -> None:
    from asgi_lifespan import LifespanManager

    from app import create_app

    app = create_app(make_settings(database_url, log_requests=True), encoder)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
        ) as http,
    ):
        with caplog.at_level(logging.INFO, logger="rapport.access"):
            await http.post("/graphql", json={"query": "{ __typename }"})
    lines = [r for r in caplog.records if r.name == "rapport.access"]
    assert len(lines) == 1
    record = lines[0]
    assert (record.method, record.path, record.status) == ("POST", "/graphql", 200)
    assert record.duration_ms >= 0 and record.request_id


def test_json_log_format(database_url) -> None:
    configure_logging(make_settings(database_url, log_format="json"))
    try:
        handler = next(h for h in logging.getLogger().handlers if getattr(h, "rapport", False))
        record = logging.getLogger("rapport.access").makeRecord(
            "rapport.access",
            logging.INFO,
            __file__,
            1,
            "GET / 200",
            (),
            None,
            extra={"status": 200, "duration_ms": 1.5},
        )
        line = json.loads(handler.format(record))
    finally:
        configure_logging(make_settings(database_url))
    assert line["message"] == "GET / 200" and line["status"] == 200 and line["duration_ms"] == 1.5
    assert line["level"] == "INFO" and line["logger"] == "rapport.access" and "time" in line


async def test_graphiql_page_is_served_with_local_assets_only(client) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert "unpkg.com" not in page.text and "cdn" not in page.text.lower()
    assets = re.findall(r'(?:src|href)="(/graphiql/assets/[^"]+)"', page.text)
    assert len(assets) == 7
    for path in assets:
        response = await client.get(path)
        assert response.status_code == 200 and len(response.content) > 500, path
    assert (
        await client.get("/graphiql/assets/react/package.json")
    ).status_code == 404  # only the 7 files


def test_graphiql_refuses_missing_assets(tmp_path) -> None:
    with pytest.raises(AssetsMissing, match="make setup"):
        OfflineGraphiQL.load(tmp_path)


async def test_subscriptions_over_http_are_refused_with_400(client) -> None:
    """Served over graphql-transport-ws only; over POST they are a client error, not a 500."""
    response = await client.post(
        "/graphql", json={"query": "subscription { notifications { __typename } }"}
    )
    assert response.status_code == 400, response.text
    assert "subscriptions are not allowed" in response.text
