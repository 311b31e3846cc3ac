"""GraphiQL in a real browser, offline: Debian's headless chromium opens /graphql on a live
server, runs a query from GraphiQL's editor, and every request it makes stays on 127.0.0.1.

The page keeps Strawberry's `integrity` hashes, so a local asset that differs from the file
Strawberry pinned is refused by the browser and shows up here as a console error."""

from __future__ import annotations

import json
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page, Response, async_playwright
from playwright.async_api import Error as PlaywrightError

from rapport.graphiql import ASSET_PREFIX
from tests.support.browser import CHROMIUM_ARGS, TIMEOUT_MS
from tests.support.mailbox import sign_up
from tests.support.people import CREATE, SET_INTERESTS, profile_input

QUERY = "{ interests { __typename ... on InterestCountConnection { edges { node { name userCount } } } } }"


async def seed_interests(base: str, database_url: str, names: list[str]) -> None:
    """One person with a profile and interests, through the public API."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:

        async def gql(query: str, variables: dict, token: str | None = None) -> dict:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            body = {"query": query, "variables": variables}
            reply = (await http.post("/graphql", json=body, headers=headers)).json()
            assert "errors" not in reply, reply
            return reply["data"]

        async def post(body: dict) -> dict:
            return (await http.post("/graphql", json=body)).json()

        email = f"browser-{uuid.uuid4().hex[:10]}@example.com"
        token = (await sign_up(post, database_url, email, "correct horse battery staple"))["token"]
        profile = await gql(CREATE, {"i": profile_input()}, token)
        assert profile["createProfile"]["__typename"] == "OwnProfile", profile
        interests = await gql(SET_INTERESTS, {"n": names}, token)
        assert interests["setInterests"]["__typename"] == "InterestsPayload", interests


@dataclass
class Traffic:
    """What the page asked for and what went wrong, as the browser saw it."""

    urls: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # page errors and console errors

    def watch(self, context: BrowserContext, page: Page) -> None:
        context.on("request", lambda r: self.urls.append(r.url))
        context.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        context.on("response", self._response)
        page.on("websocket", lambda ws: self.urls.append(ws.url))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", self._console)

    def _response(self, response: Response) -> None:
        if response.status != 200 and (ASSET_PREFIX in response.url or response.status >= 400):
            self.bad_status.append(f"{response.status} {response.url}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":  # SRI mismatches and blocked loads are reported here
            self.errors.append(f"console.error: {message.text}")

    def problems(self) -> list[str]:
        elsewhere = [url for url in self.urls if urlsplit(url).hostname != "127.0.0.1"]
        assets = {urlsplit(url).path for url in self.urls if ASSET_PREFIX in url}
        return [
            *(f"request left the machine: {url}" for url in elsewhere),
            *([] if len(assets) == 7 else [f"expected 7 local assets, got {sorted(assets)}"]),
            *(f"request failed: {x}" for x in self.failed),
            *(f"unexpected status: {x}" for x in self.bad_status),
            *self.errors,
        ]


@pytest.mark.browser
async def test_graphiql_runs_a_query_offline(
    chromium: Path, live_server: str, database_url: str, tmp_path: Path
) -> None:
    await seed_interests(live_server, database_url, ["chess", "climbing"])
    traffic = Traffic()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        traffic.watch(context, page)
        try:
            # networkidle: the assets have loaded and GraphiQL has fetched the schema; anything
            # blocked, tampered with or fetched from elsewhere is known by now.
            response = await page.goto(f"{live_server}/graphql", wait_until="networkidle")
            assert response is not None and response.status == 200
            assert "text/html" in (await response.header_value("content-type") or "")
            assert not traffic.problems(), "\n".join(traffic.problems())

            editor = page.locator(".graphiql-query-editor .CodeMirror")
            await editor.wait_for(state="visible", timeout=TIMEOUT_MS)
            await page.evaluate(
                "q => document.querySelector('.graphiql-query-editor .CodeMirror')"
                ".CodeMirror.setValue(q)",
                QUERY,
            )
            await page.locator(".graphiql-execute-button").click(timeout=TIMEOUT_MS)
            await page.wait_for_function(
                "() => document.querySelector('.graphiql-response .CodeMirror')"
                "?.CodeMirror.getValue().includes('\"data\"')",
                timeout=TIMEOUT_MS,
            )
            shown = await page.evaluate(
                "() => document.querySelector('.graphiql-response .CodeMirror')"
                ".CodeMirror.getValue()"
            )
        finally:
            with suppress(PlaywrightError):  # kept on failure too; never hides the real error
                await page.screenshot(path=str(tmp_path / "graphiql.png"))
            await browser.close()

    assert json.loads(shown) == {
        "data": {
            "interests": {
                "__typename": "InterestCountConnection",
                "edges": [
                    {"node": {"name": "chess", "userCount": 1}},
                    {"node": {"name": "climbing", "userCount": 1}},
                ],
            }
        },
        # The query's cost, as GitHub reports it (README: Query limits): a connection of 20.
        "extensions": {"cost": {"nodes": 20, "maxNodes": 1000, "points": 1}},
    }, shown
    assert not traffic.problems(), "\n".join(traffic.problems())
