"""The reference web client (examples/web) in Debian's headless chromium, against a real server
with RAPPORT_ENV=development: the client's build is served from an origin of its own and talks
to the API across origins. Two people, each in a browser context of their own, sign up (the
code read from the development-only outbox route), create profiles that fit each other, see
each other recommended with an explanation, like each other (a match), and chat: each sees
the other's messages arrive live, with no reload.

The build is made once per content of examples/web (its lock file, sources and config) into
var/web-client/ and reused while that content is unchanged. UPDATE_SCREENSHOTS=1 writes the
final screenshot to docs/web-client.png (the README shows it); otherwise it stays in tmp_path,
so that a test run never changes a committed file."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page, async_playwright, expect
from playwright.async_api import Error as PlaywrightError

from rapport.settings import PROJECT_ROOT
from tests.support.browser import CHROMIUM_ARGS
from tests.support.mailbox import PASSWORD, sign_up
from tests.support.people import CREATE, PREFS, SET_INTERESTS, profile_input, years_ago
from tests.support.servers import ServerProcess, running_server
from tests.support.static_site import static_site

WEB = PROJECT_ROOT / "examples" / "web"
BUILDS = PROJECT_ROOT / "var" / "web-client"
SCREENSHOT = PROJECT_ROOT / "docs" / "web-client.png"
# How long one step may take before the test fails (a bound on waiting, never a target).
TIMEOUT_MS = 30_000
LISBON: dict[str, Any] = {"city": "Lisbon", "latitude": 38.72, "longitude": -9.14}


def build_key() -> str:
    """What the build depends on: the lock file, the sources, the page and the config."""
    digest = hashlib.sha256()
    files = [WEB / "package-lock.json", WEB / "package.json", WEB / "index.html"]
    files += sorted(p for p in (WEB / "src").rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(WEB)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def web_build() -> Path:
    """examples/web built with vite (node_modules from `make setup`), reused while unchanged."""
    vite = WEB / "node_modules" / ".bin" / "vite"
    if shutil.which("node") is None or not vite.exists():
        pytest.fail("node and examples/web/node_modules are needed: run `make setup`")
    out = BUILDS / build_key()
    if (out / "index.html").is_file():
        return out
    BUILDS.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="build-", dir=BUILDS))
    done = subprocess.run(
        [str(vite), "build", "--outDir", str(scratch), "--emptyOutDir", "--logLevel", "warn"],
        cwd=WEB,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with suppress(OSError):  # another session built the same content meanwhile: use theirs
        scratch.rename(out)
    shutil.rmtree(scratch, ignore_errors=True)
    for old in BUILDS.iterdir():  # builds of content that has changed since
        if old != out and not old.name.startswith("build-"):
            shutil.rmtree(old, ignore_errors=True)
    return out


@pytest.fixture
def web_origin(web_build: Path) -> Iterator[str]:
    """The build served as static files from an origin of its own (another port)."""
    with static_site(web_build) as origin:
        yield origin


@pytest.fixture
def dev_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A real uvicorn with RAPPORT_ENV=development: the outbox route on, loopback origins
    allowed (CORS and websockets)."""
    with running_server(database_url, tmp_path / "server.log", RAPPORT_ENV="development") as s:
        yield s


async def third_person(server: ServerProcess) -> None:
    """Cleo, through the API: someone else Ada is recommended (Ben is not: he wants women), so
    that her page still shows a recommendation with its explanation after she matched Ben."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:

        async def post(body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            answer: dict[str, Any] = (
                await http.post("/graphql", json=body, headers=headers)
            ).json()
            assert "errors" not in answer, answer
            return answer

        email = f"cleo-{uuid.uuid4().hex[:8]}@example.com"
        token = (await sign_up(post, server.database_url, email, PASSWORD))["token"]
        profile = profile_input(
            displayName="Cleo",
            birthDate=years_ago(36),
            gender="MAN",
            intent="DATING",
            bio="Carpenter who bakes bread at dawn and reads science fiction on the tram.",
            goals="Train for a marathon together. Swap science fiction novels.",
            location=LISBON,
        )
        created = await post({"query": CREATE, "variables": {"i": profile}}, token)
        assert created["data"]["createProfile"]["__typename"] == "OwnProfile", created
        prefs = {"genders": ["WOMAN"], "intents": ["DATING"], "ageMin": 25, "ageMax": 45}
        await post({"query": PREFS, "variables": {"i": prefs}}, token)
        await post(
            {"query": SET_INTERESTS, "variables": {"n": ["science fiction", "baking"]}}, token
        )


class Watch:
    """What a page asked for and what went wrong, as its browser saw it."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.urls: list[str] = []
        self.sockets: list[str] = []
        self.errors: list[str] = []
        context.on("request", lambda r: self.urls.append(r.url))
        context.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} {r.failure}"))
        page.on("websocket", lambda ws: self.sockets.append(ws.url))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text}")

    def problems(self) -> list[str]:
        away = [u for u in self.urls + self.sockets if urlsplit(u).hostname != "127.0.0.1"]
        return [*(f"left the machine: {u}" for u in away), *self.errors]


async def sign_up_in_page(page: Page, email: str) -> None:
    await page.fill('[name="email"]', email)
    await page.fill('[name="password"]', PASSWORD)
    await page.click('[data-testid="sign-up"]')
    await page.locator('[name="displayName"]').wait_for(timeout=TIMEOUT_MS)


async def create_profile(page: Page, p: dict[str, Any], wants: str) -> None:
    await page.fill('[name="displayName"]', p["name"])
    await page.fill('[name="birthDate"]', p["birthDate"])
    await page.select_option('[name="gender"]', p["gender"])
    await page.select_option('[name="intent"]', "DATING")
    await page.fill('[name="bio"]', p["bio"])
    await page.fill('[name="goals"]', p["goals"])
    await page.fill('[name="interests"]', p["interests"])
    await page.fill('[name="city"]', LISBON["city"])
    await page.fill('[name="latitude"]', str(LISBON["latitude"]))
    await page.fill('[name="longitude"]', str(LISBON["longitude"]))
    for box in await page.locator('[name="want"]').all():
        if await box.get_attribute("value") != wants:
            await box.uncheck()
    await page.fill('[name="ageMin"]', "25")
    await page.fill('[name="ageMax"]', "45")
    await page.fill('[name="maxDistanceKm"]', "50")
    await page.click('[data-testid="save-profile"]')
    await page.locator("#recommendations").wait_for(timeout=TIMEOUT_MS)


ADA = {
    "name": "Ada",
    "birthDate": years_ago(31),
    "gender": "WOMAN",
    "bio": "Engineer who climbs on weekends and reads too much science fiction.",
    "goals": "I want to run my first marathon next spring. Find someone to climb with.",
    "interests": "bouldering, marathons, science fiction",
}
BEN = {
    "name": "Ben",
    "birthDate": years_ago(33),
    "gender": "MAN",
    "bio": "Teacher, trail runner and amateur astronomer.",
    "goals": "Looking for a partner to train for a marathon. Someone to go climbing with.",
    "interests": "Bouldering, marathons, astronomy",
}


async def recommendation(page: Page, name: str) -> Any:
    card = page.locator(f'[data-testid="recommendation"][data-name="{name}"]')
    await card.wait_for(timeout=TIMEOUT_MS)
    return card


async def open_chat(page: Page, name: str) -> None:
    await page.locator(f'[data-testid="match"][data-name="{name}"]').click(timeout=TIMEOUT_MS)
    await expect(page.locator("#chat-title")).to_have_text(f"Chat with {name}", timeout=TIMEOUT_MS)


async def send(page: Page, body: str) -> None:
    await page.fill('[name="body"]', body)
    await page.click('[data-testid="send"]')


async def sees(page: Page, body: str, mine: bool) -> None:
    line = page.locator(f'[data-testid="message"].{"mine" if mine else "theirs"}', has_text=body)
    await line.wait_for(timeout=TIMEOUT_MS)


@pytest.mark.browser
async def test_two_people_sign_up_match_and_chat_live(
    chromium: Path,
    dev_server: ServerProcess,
    web_origin: str,
    tmp_path: Path,
) -> None:
    url = f"{web_origin}/?api={dev_server.base_url}/graphql"
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "web.png"

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        pages: list[Page] = []
        watches: list[Watch] = []
        for _ in range(2):
            context = await browser.new_context(viewport={"width": 1360, "height": 640})
            page = await context.new_page()
            watches.append(Watch(context, page))
            pages.append(page)
        ada, ben = pages
        try:
            for page, who in ((ada, "ada"), (ben, "ben")):
                await page.goto(url)
                # Marks this document: still there at the end means nothing reloaded it.
                await page.evaluate("window.sameDocument = true")
                await sign_up_in_page(page, f"{who}-{uuid.uuid4().hex[:8]}@example.com")
            await create_profile(ada, ADA, wants="MAN")
            await create_profile(ben, BEN, wants="WOMAN")
            # After both: Ada's list, empty when she saved her profile, was not cached
            # (README: Cache), so her next look builds it with Ben and Cleo.
            await third_person(dev_server)

            # Ben (who came second) sees Ada, with why; Ada refreshes and sees Ben and Cleo.
            ada_card = await recommendation(ben, "Ada")
            why = ada_card.locator('[data-testid="explanation"]')
            await expect(why).to_contain_text("Shared interests", timeout=TIMEOUT_MS)
            await expect(why).to_contain_text("bouldering")
            aligned = why.locator("li", has_text="↔ “Find someone to climb with.”")
            await expect(aligned).to_have_count(1)  # Ben's goal phrase met by one of Ada's
            await ada.click('[data-testid="refresh"]')
            await recommendation(ada, "Cleo")
            ben_card = await recommendation(ada, "Ben")

            await ben_card.locator('[data-testid="like"]').click()
            await expect(ada.locator("#status")).to_have_text("You liked Ben.", timeout=TIMEOUT_MS)
            await ada_card.locator('[data-testid="like"]').click()
            await expect(ben.locator("#status")).to_have_text(
                "It's a match with Ada!", timeout=TIMEOUT_MS
            )
            # Ada is told live (her notifications subscription), no reload.
            await open_chat(ada, "Ben")
            await open_chat(ben, "Ada")
            for page in pages:
                await expect(page.locator("body")).to_have_attribute(
                    "data-socket", "open", timeout=TIMEOUT_MS
                )

            await send(ada, "Hi Ben! Marathon training on Saturday?")
            await sees(ada, "Hi Ben!", mine=True)
            await sees(ben, "Hi Ben!", mine=False)
            await send(ben, "Yes! And bouldering after?")
            await sees(ada, "And bouldering after?", mine=False)
            await send(ada, "Deal. See you at the river at 8.")
            await sees(ben, "See you at the river", mine=False)

            for page in pages:
                assert await page.evaluate("window.sameDocument === true"), "the page reloaded"
                assert await page.locator('[data-testid="message"]').count() == 3
            await ada.locator("#status").evaluate("el => { el.textContent = '' }")
            shot.parent.mkdir(parents=True, exist_ok=True)
            await ada.screenshot(path=str(shot), full_page=True)
        finally:
            for i, page in enumerate(pages):
                with suppress(PlaywrightError):  # kept on failure too, for the log
                    await page.screenshot(path=str(tmp_path / f"page-{i}.png"))
            await browser.close()

    for watch in watches:
        assert not watch.problems(), "\n".join(watch.problems())
        # Every socket is the API's graphql-transport-ws one, on the server's origin.
        api_socket = dev_server.base_url.replace("http", "ws", 1) + "/graphql"
        assert watch.sockets and set(watch.sockets) == {api_socket}, watch.sockets
        assert any(u.startswith(f"{dev_server.base_url}/dev/outbox/latest") for u in watch.urls)
