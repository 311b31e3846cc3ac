"""A web app on another origin, in Debian's headless chromium, against a real uvicorn with
RAPPORT_CORS_ORIGINS listing it: the page (tests/clients/cross_origin.html, served from a port
of its own) signs up, mutates, queries and subscribes with graphql-ws's browser bundle; the
same page served from an origin not listed cannot read an answer (CORS) nor open a socket."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright

from tests.support.browser import CHROMIUM_ARGS, TIMEOUT_MS
from tests.support.mailbox import CONFIRM, PASSWORD, REGISTER, sign_up_code
from tests.support.node_clients import CLIENTS
from tests.support.notifications import INTEREST, NOTIFICATIONS, interest_from
from tests.support.over_http import gql, person
from tests.support.people import CREATE, profile_input
from tests.support.servers import running_server
from tests.support.static_site import static_site

ME = "{ me { __typename ... on Me { id email profile { displayName } } } }"


async def call(page: Page, api: str, query: str, variables: Any, token: str | None = None) -> Any:
    """A GraphQL request sent by the page's own fetch; the answer as the page read it."""
    return await page.evaluate(
        "([api, q, v, t]) => rapport.gql(api, q, v, t)", [api, query, variables, token]
    )


def data(answer: dict[str, Any], field: str) -> dict[str, Any]:
    assert answer["status"] == 200 and "errors" not in answer["body"], answer
    return dict(answer["body"]["data"][field])


async def test_a_listed_origin_uses_the_api_and_others_are_refused(
    database_url: str,
    tmp_path: Path,
    chromium: Path,
) -> None:
    if not (CLIENTS / "node_modules" / "graphql-ws").is_dir():
        pytest.fail("tests/clients/node_modules is missing: run `make setup`")
    log = tmp_path / "server.log"
    with (
        static_site(CLIENTS) as listed,
        static_site(CLIENTS) as unlisted,
        running_server(database_url, log, RAPPORT_CORS_ORIGINS=listed) as server,
    ):
        api, ws_url = server.base_url, server.base_url.replace("http", "ws", 1) + "/graphql"
        # Someone to show interest, outside the browser.
        other_token, other = await person(api, database_url)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
            )
            context = await browser.new_context()
            context.set_default_timeout(TIMEOUT_MS)
            console: list[str] = []
            page = await context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            await page.goto(f"{listed}/cross_origin.html")

            # Sign up (the code comes from the outbox, as the person would read it), mutate,
            # query: every answer readable by the page, X-Request-ID included.
            email = f"page-{uuid.uuid4().hex[:10]}@example.com"
            account = {"email": email, "password": PASSWORD}
            started = data(await call(page, api, REGISTER, {"i": account}), "register")
            assert started["__typename"] == "RegistrationStarted", started
            code = await sign_up_code(database_url, email)
            confirmed = await call(page, api, CONFIRM, {"i": {**account, "code": code}})
            auth = data(confirmed, "confirmRegistration")
            token, me_id = auth["token"], auth["me"]["id"]
            created = data(
                await call(page, api, CREATE, {"i": profile_input()}, token), "createProfile"
            )
            assert created["__typename"] == "OwnProfile", created
            me = await call(page, api, ME, {}, token)
            assert data(me, "me") == {
                "__typename": "Me",
                "id": me_id,
                "email": email,
                "profile": {"displayName": "Ada"},
            }
            assert me["requestId"], me  # an exposed header

            # Subscribe from the page; someone else's interest arrives in it.
            subscribed = await page.evaluate(
                "([u, t, q, v]) => rapport.subscribe(u, t, q, v)",
                [ws_url, token, NOTIFICATIONS, {"after": "0"}],
            )
            assert subscribed == "connected"
            sent = await gql(api, INTEREST, {"id": me_id}, other_token)
            assert sent["sendInterest"]["__typename"] == "InterestRequest", sent
            await page.wait_for_function("window.events.length > 0")
            events = await page.evaluate("window.events")
            assert events[0] == interest_from(other), events
            # A bare socket from the listed origin opens, and wants a token (4403).
            assert await page.evaluate("u => rapport.socket(u)", ws_url) == {
                "seen": ["open"],
                "code": 4403,
            }
            assert not console, console

            # The same page from an origin not listed: the preflight is refused, so fetch
            # fails; the handshake is refused (403), so the socket never opens.
            refused: list[ConsoleMessage] = []
            stranger = await context.new_page()
            stranger.on("console", lambda m: refused.append(m))
            await stranger.goto(f"{unlisted}/cross_origin.html")
            failed = await stranger.evaluate(
                """async (api) => {
                    try { await rapport.gql(api, "{ __typename }", {}); return "answered"; }
                    catch (error) { return String(error); }
                }""",
                api,
            )
            assert failed == "TypeError: Failed to fetch"
            socket = await stranger.evaluate("u => rapport.socket(u)", ws_url)
            assert socket == {"seen": ["error"], "code": 1006}
            await browser.close()
    texts = [m.text for m in refused]
    assert any(f"from origin '{unlisted}' has been blocked by CORS policy" in t for t in texts), (
        texts
    )
    assert any("Unexpected response code: 403" in t for t in texts), texts
    assert f"refused a websocket from origin '{unlisted}'" in log.read_text()
