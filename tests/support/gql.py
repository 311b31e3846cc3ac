"""The schema executed in process (Gql, what the `gql` fixture gives) and a Viewer for
resolver-level tests (make_viewer)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from rapport.resources import Resources
from resolvers.accounts import Viewer
from schema import schema
from schema.context import Context
from tests.support.mailbox import CONFIRM, PASSWORD, REGISTER, sign_up_code


@dataclass
class Gql:
    """Schema-level execution: `await gql(query, variables, token=...)` returns data, and
    fails the test on any GraphQL error (expected failures are data, not errors)."""

    resources: Resources

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        context = Context(resources=self.resources, token=token)
        return await schema.execute(query, variable_values=variables, context_value=context)

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        result = await self.raw(query, variables, token)
        assert result.errors is None, result.errors
        return result.data

    async def register(self, email: str | None = None, password: str = PASSWORD) -> str:
        """Sign up as a client does (register, the emailed code, confirmRegistration); the
        new account's token."""
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        started = await self(REGISTER, {"i": {"email": email, "password": password}})
        assert started["register"]["__typename"] == "RegistrationStarted", started
        code = await sign_up_code(self.resources.raw_pool, email)
        data = await self(CONFIRM, {"i": {"email": email, "code": code, "password": password}})
        assert data["confirmRegistration"]["__typename"] == "AuthPayload", data
        return data["confirmRegistration"]["token"]


async def make_viewer(resources: Resources, user_id: uuid.UUID) -> Viewer:
    """A Viewer for resolver-level tests (as authentication would build it)."""
    from models import Profile, User

    async with resources.sessionmaker() as session:
        user = await session.get_one(User, user_id)
        profile = await session.get(Profile, user_id)
    return Viewer(user=user, token_id=uuid.uuid4(), profile=profile)
