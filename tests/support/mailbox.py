"""Signing people up through the API in tests: register, read the code from the email
Rapport queued (its outbox table: no SMTP in tests), confirmRegistration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from rapport.mail import latest_body
from resolvers.accounts import code_in_email
from tests.support.database import raw_dsn

PASSWORD = "correct horse battery staple"  # the test accounts' password
REGISTER = """mutation($i: RegisterInput!) { register(input: $i) { __typename
  ... on RegistrationStarted { email } ... on ValidationError { errors { field code } } } }"""
CONFIRM = """mutation($i: ConfirmRegistrationInput!) { confirmRegistration(input: $i) {
  __typename ... on AuthPayload { token me { id email } }
  ... on ValidationError { errors { field code } } } }"""


def code_in(body: str | None) -> str:
    code = code_in_email(body)
    assert code, f"no sign-up code in {body!r}"
    return code


async def latest_email(source: asyncpg.Pool | str, email: str) -> str | None:
    """The body of the newest email to an address; `source`: a pool or a database URL."""
    if isinstance(source, str):
        conn = await asyncpg.connect(raw_dsn(source))
        try:
            return await latest_body(conn, email)
        finally:
            await conn.close()
    return await latest_body(source, email)


async def sign_up_code(source: asyncpg.Pool | str, email: str) -> str:
    return code_in(await latest_email(source, email))


def sign_up_code_sync(database_url: str, email: str) -> str:
    """For synchronous tests (Starlette's TestClient runs the app in its own thread)."""
    return asyncio.run(sign_up_code(database_url, email))


def _confirmed(answer: dict[str, Any]) -> dict[str, Any]:
    payload = (answer.get("data") or {}).get("confirmRegistration") or {}
    assert payload.get("__typename") == "AuthPayload", answer
    return dict(payload)


def _started(answer: dict[str, Any]) -> None:
    started = (answer.get("data") or {}).get("register") or {}
    assert started.get("__typename") == "RegistrationStarted", answer


def sign_up_sync(
    post: Callable[[dict[str, Any]], dict[str, Any]],
    database_url: str,
    email: str,
    password: str,
) -> dict[str, Any]:
    """Sign up through the API with a synchronous client: `post` sends one GraphQL request
    body and returns the JSON answer. Returns the AuthPayload {token me {id email}}."""
    account = {"email": email, "password": password}
    _started(post({"query": REGISTER, "variables": {"i": account}}))
    code = sign_up_code_sync(database_url, email)
    return _confirmed(post({"query": CONFIRM, "variables": {"i": {**account, "code": code}}}))


async def sign_up(
    post: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    source: asyncpg.Pool | str,
    email: str,
    password: str,
) -> dict[str, Any]:
    """The same with an asynchronous client."""
    account = {"email": email, "password": password}
    _started(await post({"query": REGISTER, "variables": {"i": account}}))
    code = await sign_up_code(source, email)
    return _confirmed(await post({"query": CONFIRM, "variables": {"i": {**account, "code": code}}}))


def sign_up_client(http: Any, email: str, password: str) -> dict[str, Any]:
    """Sign up through a Starlette TestClient (its app's own database)."""
    database_url = http.app.state.resources.settings.database_url
    return sign_up_sync(
        lambda body: http.post("/graphql", json=body).json(), database_url, email, password
    )
