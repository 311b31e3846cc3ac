"""The typed per-operation context: resources, the request, one lazily opened AsyncSession,
the viewer (resolved once from the bearer token) and the DataLoaders."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeAlias

import strawberry
from starlette.requests import HTTPConnection
from starlette.responses import Response
from strawberry.dataloader import DataLoader

from rapport.db import OperationSession
from rapport.errors import AuthenticationRequiredError
from rapport.resources import Resources
from resolvers import accounts, chat, interests, matching, profiles
from resolvers.accounts import Viewer, Visit
from resolvers.chat import ConversationView
from resolvers.effects import ForgetViewer
from resolvers.operation import Operation
from resolvers.pagination import PageSizes, page_sizes
from resolvers.profiles import Person


@dataclass
class Loaders:
    """Batch loaders, one set per operation. Each takes the operation's session lazily."""

    context: Context

    @cached_property
    def profile(self) -> DataLoader[uuid.UUID, Person | None]:
        """Other people (active accounts only), e.g. in match lists."""

        async def load(ids: list[uuid.UUID]) -> list[Person | None]:
            return await profiles.people(self.context.resources.raw_pool, ids)

        return DataLoader(load_fn=load)

    @cached_property
    def interests(self) -> DataLoader[uuid.UUID, list[str]]:
        async def load(ids: list[uuid.UUID]) -> list[list[str]]:
            return await interests.interests_by_user(self.context.session, ids)

        return DataLoader(load_fn=load)

    @cached_property
    def match_conversation(self) -> DataLoader[int, ConversationView | None]:
        """The conversation each match opened, through `conversation` (None: gone or not the
        viewer's to see): a list of matches asks in one batch."""

        async def load(match_ids: list[int]) -> list[ConversationView | None]:
            opened = await matching.conversations_of(self.context.resources.raw_pool, match_ids)
            views = await self.conversation.load_many([opened[m] for m in match_ids if m in opened])
            by_id = {view.id: view for view in views if view is not None}
            return [by_id.get(opened[m]) if m in opened else None for m in match_ids]

        return DataLoader(load_fn=load, cache=False)

    @cached_property
    def conversation(self) -> DataLoader[int, ConversationView | None]:
        """The viewer's conversations as they are now (None: not theirs to see), e.g. those of
        the messages of a list. Each batch one statement on the raw pool (no session is held
        by a long-lived subscription), and nothing cached: a subscription selects them on
        every event for as long as it lives."""

        async def load(ids: list[int]) -> list[ConversationView | None]:
            viewer = await self.context.require_viewer()
            views = await chat.conversation_views(self.context.resources.raw_pool, viewer.id, ids)
            return [views.get(i) for i in ids]

        return DataLoader(load_fn=load, cache=False)


@dataclass
class Context:
    resources: Resources
    request: HTTPConnection | None = None
    response: Response | None = None
    token: str | None = None  # the bearer token sent with the request, if any
    # graphql-transport-ws: the connection_init payload (Strawberry sets it on this attribute)
    connection_params: dict[str, object] | None = None
    # graphql-transport-ws: who connection_init authenticated (the socket's token and person)
    connected_as: Viewer | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # For metrics: the __typename of the operation's first root field of a union type, and
    # the root field of a running subscription (schema/__init__.py RapportExecutionContext).
    outcome: str | None = None
    subscription_field: str | None = None
    # Set when the operation is a mutation (schema/__init__.py RapportExecutionContext): its
    # viewer's cached state is evicted after each commit.
    mutation: bool = False
    _session: OperationSession | None = None
    _viewer: asyncio.Future[Viewer | None] | None = None

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self)

    @property
    def page_sizes(self) -> PageSizes:
        """The list sizes clients may ask for, as resolvers' listing functions take them."""
        return page_sizes(self.resources.settings)

    @property
    def client_address(self) -> str | None:
        """The client's IP address (uvicorn puts a trusted proxy's X-Forwarded-For here when
        started with --forwarded-allow-ips); None when the schema runs in process."""
        if self.request is None or self.request.client is None:
            return None
        return self.request.client.host

    @property
    def session(self) -> OperationSession:
        """The operation's one session, opened on first use and closed when it ends."""
        if self._session is None:
            self._session = self.resources.sessionmaker()
        return self._session

    def operation(self, viewer: Viewer) -> Operation:
        """What the rule functions take (resolvers/operation.py)."""
        return Operation(viewer, self.resources, self)

    def visit(self) -> Visit:
        """What the rule functions for someone not signed in take (resolvers/accounts.py)."""
        return Visit(self.resources, self)

    async def viewer(self) -> Viewer | None:
        """Resolved once per operation, however many sibling fields ask at the same time: the
        first caller authenticates, the others wait for its answer."""
        if self.token is None:
            return None
        if self._viewer is not None:
            return await self._viewer
        digest = self.resources.credentials.token_digest(self.token)
        cached = self.resources.viewer_cache.get(digest)
        if cached is not None:
            self._viewer = asyncio.get_running_loop().create_future()
            self._viewer.set_result(cached)
            self._evict_after_commits(cached)
            return cached
        future = self._viewer = asyncio.get_running_loop().create_future()
        generation = self.resources.viewer_cache.generation
        try:
            found = await accounts.authenticate(
                self.resources.raw_pool, self.resources.credentials, self.token
            )
        except BaseException as exc:
            self._viewer = None
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it, nothing is logged twice
            raise
        viewer = None
        if found is not None:
            viewer, expires_at = found
            self.resources.viewer_cache.put(digest, viewer, expires_at, generation)
            self._evict_after_commits(viewer)
        future.set_result(viewer)
        return viewer

    def _evict_after_commits(self, viewer: Viewer) -> None:
        """A mutation may change what the cached viewer holds (its token, account, profile),
        so each of its commits evicts it, in every process, before the mutation answers."""
        if self.mutation:
            self.session.after_each_commit(ForgetViewer(viewer.id))

    async def require_viewer(self) -> Viewer:
        viewer = await self.viewer()
        if viewer is None:
            raise AuthenticationRequiredError()
        return viewer

    @property
    def opened_session(self) -> OperationSession | None:
        """The operation's session if it was opened (without opening one)."""
        return self._session

    def for_operation(self) -> Context:
        """A context of its own for one operation: same connection and token, fresh session,
        viewer and loaders. Websockets share one Context across concurrent operations; this
        keeps one operation from closing another's session mid-transaction. (Built field by
        field: dataclasses.replace inspects the class on every call, a few µs per operation.)"""
        return Context(
            resources=self.resources,
            request=self.request,
            response=self.response,
            token=self.token,
            connection_params=self.connection_params,
            connected_as=self.connected_as,
            request_id=self.request_id,
        )

    async def close(self) -> None:
        """End the operation's database use. On a websocket the context outlives operations:
        the next one authenticates again (so a revoked token or a changed profile shows at
        once) and reopens a session only if it needs one."""
        self._viewer = None
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


# What schema resolvers take: Strawberry's Info with Rapport's context, so that mypy checks
# every use of `info.context`.
Info: TypeAlias = strawberry.Info[Context, Any]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an 'Authorization: Bearer <token>' header (its value: `authorization`)."""
    return _after_bearer(authorization or "")


def _after_bearer(value: str) -> str | None:
    """'Bearer <token>' (any case) -> the token; anything else -> None."""
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# Where the common clients put the token in connection_init's payload (README: Clients,
# "Authenticating subscriptions"), tried in this order; headers: {"Authorization": ...} too.
CONNECTION_TOKEN_KEYS = ("token", "authToken", "Authorization", "authorization")


def connection_token(params: dict[str, object] | None) -> str | None:
    """The token of a graphql-transport-ws connection_init payload: the first of
    CONNECTION_TOKEN_KEYS, or of headers.Authorization, that holds text, with or without
    a "Bearer " prefix."""
    if not isinstance(params, dict):
        return None
    headers = params.get("headers")
    places = [params.get(key) for key in CONNECTION_TOKEN_KEYS]
    if isinstance(headers, dict):
        places += [headers.get("Authorization"), headers.get("authorization")]
    for value in places:
        if isinstance(value, str) and value.strip():
            value = value.strip()
            return _after_bearer(value) if value.lower().startswith("bearer ") else value
    return None
