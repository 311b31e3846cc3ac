"""GraphiQL in a real browser, offline: Debian's headless chromium opens /graphql on a live
server, runs a query from GraphiQL's editor, and every request it makes stays on 127.0.0.1.

The page keeps Strawberry's `integrity` hashes, so a local asset that differs from the file
Strawberry pinned is refused by the browser and shows up here as a console error."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import async_playwright

from rapport.graphiql import ASSET_PREFIX
from tests.test_interests import SET
from tests.test_profiles import CREATE, profile_input

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
QUERY = "{ interests { __typename ... on InterestCountConnection { edges { node { name userCount } } } } }"
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { ... on AuthPayload { token } } }"
TIMEOUT_MS = 20_000


async def seed_interests(base: str, names: list[str]) -> None:
    """One person with a profile and interests, through the public API."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:

        async def gql(query: str, variables: dict, token: str | None = None) -> dict:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            body = {"query": query, "variables": variables}
            reply = (await http.post("/graphql", json=body, headers=headers)).json()
            assert "errors" not in reply, reply
            return reply["data"]

        email = f"browser-{uuid.uuid4().hex[:10]}@example.com"
        account = {"email": email, "password": "correct horse battery staple"}
        token = (await gql(REGISTER, {"i": account}))["register"]["token"]
        profile = await gql(CREATE, {"i": profile_input()}, token)
        assert profile["createProfile"]["__typename"] == "OwnProfile", profile
        interests = await gql(SET, {"n": names}, token)
        assert interests["setInterests"]["__typename"] == "InterestsPayload", interests


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium; a failure, not a skip, when missing (CI installs it)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium")
    return CHROMIUM


@pytest.mark.browser
async def test_graphiql_runs_a_query_offline(
    chromium: Path, live_server: str, tmp_path: Path
) -> None:
    await seed_interests(live_server, ["chess", "climbing"])

    requests: list[str] = []
    failed: list[str] = []
    bad_status: list[str] = []
    errors: list[str] = []

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            context.on("request", lambda r: requests.append(r.url))
            context.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            context.on(
                "response",
                lambda r: (
                    bad_status.append(f"{r.status} {r.url}")
                    if r.status != 200 and (ASSET_PREFIX in r.url or r.status >= 400)
                    else None
                ),
            )
            page.on("websocket", lambda ws: requests.append(ws.url))
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on(
                "console",
                lambda m: (
                    errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
                ),
            )

            response = await page.goto(f"{live_server}/graphql", wait_until="networkidle")
            assert response is not None and response.status == 200
            assert "text/html" in (await response.header_value("content-type") or "")

            # networkidle: the assets have loaded and GraphiQL has fetched the schema.
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
            await page.screenshot(path=str(tmp_path / "graphiql.png"))
        finally:
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
        }
    }, shown

    elsewhere = [url for url in requests if urlsplit(url).hostname != "127.0.0.1"]
    assert not elsewhere, f"requests left the machine: {elsewhere}"
    assets = {urlsplit(url).path for url in requests if ASSET_PREFIX in url}
    assert len(assets) == 7, f"expected GraphiQL's 7 local assets, saw {sorted(assets)}"
    assert not failed, f"failed requests: {failed}"
    assert not bad_status, f"unexpected statuses: {bad_status}"
    assert not errors, f"browser errors: {errors}"
