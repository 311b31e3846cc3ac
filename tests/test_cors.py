"""Other origins (RAPPORT_CORS_ORIGINS): the setting's parsing and defaults, CORS answers over
HTTP, and websocket handshakes from browsers of listed and unlisted origins against a real
uvicorn. The same in headless chromium: tests/test_cors_browser.py."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pydantic import ValidationError
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from rapport.cors import PREFLIGHT_MAX_AGE_S, vary_origin
from rapport.settings import Settings
from tests.support.servers import running_server
from tests.support.serving import one_line_error

STRONG = secrets.token_urlsafe(40)
VITE = "http://127.0.0.1:5173"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def parsed(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_default_is_loopback_outside_production_and_nobody_in_production() -> None:
    for env in ("development", "test"):
        origins = parsed(env=env, secret_key=STRONG).cors
        for page in (VITE, "http://localhost:3000", "https://localhost", "http://[::1]:8080"):
            assert origins.allows(page), (env, page)
        for page in ("http://localhost.evil.example", "http://127.0.0.2:5173", "null"):
            assert not origins.allows(page), (env, page)
    production = parsed(env="production", secret_key=STRONG).cors
    assert not production.allows(VITE) and production.describe() == "none"


def test_listed_origins_replace_the_default_and_are_normalised() -> None:
    s = parsed(cors_origins=" HTTPS://App.Example.com:443/ ,http://127.0.0.1:5173,")
    assert s.cors_origins == "https://app.example.com,http://127.0.0.1:5173"
    assert s.cors.allows("https://app.example.com") and s.cors.allows(VITE)
    assert not s.cors.allows("http://127.0.0.1:5174")  # the loopback default is replaced
    assert not s.cors.allows("http://app.example.com")  # another scheme is another origin
    assert not parsed(cors_origins="").cors.allows(VITE)  # empty: nobody


@pytest.mark.parametrize(
    "value",
    [
        "https://app.example.com/graphql",
        "https://app.example.com?x=1",
        "app.example.com",
        "ftp://files.example.com",
        "https://*.example.com",
        "null",
        "https://user@app.example.com",
    ],
)
def test_anything_but_an_origin_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        parsed(cors_origins=value)


def test_star_only_alone_and_never_in_production() -> None:
    assert parsed(cors_origins="*").cors.allows("https://anyone.example")
    with pytest.raises(ValidationError, match="give it alone"):
        parsed(cors_origins="*,https://app.example.com")
    with pytest.raises(ValidationError, match="refused when RAPPORT_ENV=production"):
        parsed(env="production", secret_key=STRONG, cors_origins="*")


def test_a_bad_origin_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    data = str(tmp_path / "data")  # nothing may start: no PostgreSQL either
    line = one_line_error(
        "serve", RAPPORT_CORS_ORIGINS="http://127.0.0.1:5173/app", RAPPORT_DATA_DIR=data
    )
    assert line == (
        "error: bad settings: RAPPORT_CORS_ORIGINS: 'http://127.0.0.1:5173/app' is not an "
        "origin: write scheme://host[:port], without a path (e.g. https://app.example.com, "
        "http://127.0.0.1:5173), or * alone"
    ), line
    assert not (tmp_path / "data" / "pgdata").exists()


async def answers(
    settings: Settings, *requests: tuple[str, dict[str, str]]
) -> list[httpx.Response]:
    """CORS answers of the app (the middleware answers preflights before any route, so no
    lifespan is needed for them); each request: (method, headers)."""
    from app import create_app

    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as http:
        return [await http.request(m, "/graphql", headers=h) for m, h in requests]


async def test_preflight_from_an_allowed_origin(settings: Settings) -> None:
    (ok,) = await answers(settings, ("OPTIONS", {"Origin": VITE, **PREFLIGHT}))
    assert ok.status_code == 200, ok.text
    assert ok.headers["access-control-allow-origin"] == VITE
    assert ok.headers["access-control-allow-methods"] == "GET, POST"
    allowed = {h.strip().lower() for h in ok.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "accept", "x-request-id"} <= allowed
    assert ok.headers["access-control-max-age"] == str(PREFLIGHT_MAX_AGE_S)
    assert "access-control-allow-credentials" not in ok.headers  # bearer tokens, no cookies
    assert "Origin" in ok.headers["vary"]


async def test_preflight_from_other_origins_is_refused(settings: Settings) -> None:
    listed = settings.model_copy(update={"cors_origins": "https://app.example.com"})
    for config, origin in ((settings, "https://evil.example"), (listed, VITE)):
        (refused,) = await answers(config, ("OPTIONS", {"Origin": origin, **PREFLIGHT}))
        assert refused.status_code == 400 and refused.text == "Disallowed CORS origin"
        assert "access-control-allow-origin" not in refused.headers
    (header,) = await answers(
        settings,
        ("OPTIONS", {"Origin": VITE, **PREFLIGHT, "Access-Control-Request-Headers": "cookie"}),
    )
    assert header.status_code == 400 and header.text == "Disallowed CORS headers"


async def test_answers_name_the_origin_and_expose_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    """Through the whole app: a cross-origin page can read the answer and its X-Request-ID;
    another origin's page gets the answer without the header (its browser withholds it)."""
    body = {"query": "{ __typename }"}
    ok = await client.post("/graphql", json=body, headers={"Origin": VITE})
    assert ok.json() == {"data": {"__typename": "Query"}}
    assert ok.headers["access-control-allow-origin"] == VITE
    assert ok.headers["access-control-expose-headers"] == "X-Request-ID"
    assert ok.headers["x-request-id"]
    other = await client.post("/graphql", json=body, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    big = await client.post("/graphql", content=b"x" * 2_000_000, headers={"Origin": VITE})
    assert big.status_code == 413 and big.headers["access-control-allow-origin"] == VITE


async def test_answers_without_origin_vary_on_it(client: httpx.AsyncClient) -> None:
    """Apps and scripts send no Origin: they get no CORS headers, only Vary: Origin (a shared
    cache keeps a browser's answer apart), after any Vary of the answer's own."""
    posted = await client.post("/graphql", json={"query": "{ __typename }"})
    assert posted.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in posted.headers
    got = await client.get("/graphql", params={"query": "{ __typename }"})
    assert got.headers.get_list("vary") == ["Authorization, Origin"]
    assert vary_origin([(b"vary", b"A"), (b"x", b"1"), (b"vary", b"B")]) == [
        (b"vary", b"A, B, Origin"),
        (b"x", b"1"),
    ]


async def handshake(url: str, origin: str | None) -> str:
    """Open a graphql-transport-ws socket sending `origin` (None: none, as apps do) and
    send connection_init without a token: 'closed 4403' once accepted, or the refusal."""
    headers = {"Origin": origin} if origin else {}
    try:
        async with websockets.connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            additional_headers=headers,
            origin=None,
        ) as ws:
            await ws.send('{"type": "connection_init", "payload": {}}')
            await ws.wait_closed()
            return f"closed {ws.close_code}"
    except InvalidStatus as refused:
        return f"refused {refused.response.status_code}"


def test_websocket_handshakes_by_origin(database_url: str, tmp_path: Path) -> None:
    """Browsers send Origin on a websocket handshake (and CORS does not apply to it): a listed
    origin and the server's own are accepted, a client without Origin too, others are refused
    with 403 before the socket opens, and the log says which setting decides."""
    log = tmp_path / "server.log"
    with running_server(database_url, log, RAPPORT_CORS_ORIGINS=VITE) as server:
        url = server.base_url.replace("http", "ws", 1) + "/graphql"

        async def all_of_them() -> dict[str, str]:
            cases = {
                "listed": VITE,
                "same origin": server.base_url,
                "no origin": None,
                "unlisted loopback": "http://127.0.0.1:5174",
                "unlisted": "https://evil.example",
                "null": "null",
            }
            return {name: await handshake(url, origin) for name, origin in cases.items()}

        got = asyncio.run(all_of_them())
    # Accepted ones reach connection_init, which wants a token (4403).
    assert got == {
        "listed": "closed 4403",
        "same origin": "closed 4403",
        "no origin": "closed 4403",
        "unlisted loopback": "refused 403",
        "unlisted": "refused 403",
        "null": "refused 403",
    }
    text = log.read_text()
    assert "refused a websocket from origin 'https://evil.example'" in text
    assert "not in RAPPORT_CORS_ORIGINS (allowed: http://127.0.0.1:5173)" in text
    assert "allowed_origins" not in text  # Strawberry's own warning names its argument
