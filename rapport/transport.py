"""graphql-transport-ws with Rapport's abuse limits and revocation.

Limits: connections per client address and subscribe messages per connection (README: "Rate
limits"). A client over either limit is closed with 4429, the protocol's "too many requests"
code, and a reason saying when to retry.

Sockets that have connected but not sent `connection_init` yet cost the server memory and a
connection slot while telling it nothing (no token, so no account to hold to account): each
client address may have at most RAPPORT_MAX_UNINITIALISED_WEBSOCKETS_PER_ADDRESS of them per
process (`UninitialisedWebsockets`), one more is closed at once with 4429, and each is closed
with 4408 once RAPPORT_CONNECTION_INIT_TIMEOUT_S passes without it (Strawberry's
connection_init_wait_timeout). README: "Slow and idle clients".

Revocation (rapport/revocations.py): once connection_init authenticated the socket, it is
registered under its person and token; when that token is revoked, in any process, its
subscriptions are cancelled, queries and mutations running on it may finish, and it is closed
with 4403, as a socket whose token is not valid is at connection_init. Each subscribe message
checks the token again first (a revocation this process may not have heard of yet)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import ExitStack, suppress
from typing import Any, Protocol, cast

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)

from rapport import metrics
from rapport.errors import RateLimitedError
from rapport.persisted import PersistedQueryRefused
from rapport.rate_limits import Limit
from resolvers import accounts
from schema.context import Context

log = logging.getLogger("rapport.revocations")

TOO_MANY_REQUESTS = 4429
FORBIDDEN = 4403
REVOKED_REASON = "Forbidden: the token was revoked"
# How long queries and mutations already running on a revoked socket may take to finish.
CALLS_GRACE_S = 5.0


class UninitialisedWebsockets:
    """How many websockets each client address has open without connection_init yet, in
    this process; `enter` refuses one past `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def enter(self, address: str) -> bool:
        count = self._open.get(address, 0)
        if count >= self.limit:
            return False
        self._open[address] = count + 1
        return True

    def leave(self, address: str) -> None:
        count = self._open.pop(address) - 1
        if count:
            self._open[address] = count


class CountsUninitialised(Protocol):
    """The view running the handler (rapport/graphql_endpoint.py GraphQLWebsockets)."""

    uninitialised_websockets: UninitialisedWebsockets


class LimitedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connection_key = uuid.uuid4().hex
        self._held = ExitStack()  # the registration in LiveSockets, once authenticated
        self._held_token: uuid.UUID | None = None
        self._ending: asyncio.Task[None] | None = None
        self._uninitialised = cast(CountsUninitialised, self.view).uninitialised_websockets
        self._address = self.context.client_address or "unknown"
        self._counted = False  # among this address's uninitialised websockets

    async def handle(self) -> None:
        metrics.WEBSOCKETS.inc()
        try:
            if not self._uninitialised.enter(self._address):
                metrics.SLOW_CLIENTS.labels("uninitialised_websockets").inc()
                reason = (
                    "Too many websockets waiting for connection_init from this address "
                    f"(at most {self._uninitialised.limit})"
                )
                await self.websocket.close(code=TOO_MANY_REQUESTS, reason=reason)
                return
            self._counted = True
            with self._held:
                await super().handle()
            if self._ending is not None:
                with suppress(Exception, asyncio.CancelledError):
                    await self._ending
        finally:
            self._initialised()
            metrics.WEBSOCKETS.dec()

    def _initialised(self) -> None:
        """No longer among its address's uninitialised websockets (once only)."""
        if self._counted:
            self._counted = False
            self._uninitialised.leave(self._address)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self._initialised()
        if not self.connection_init_received and not await self._allowed(
            Limit.WEBSOCKET_CONNECTIONS_PER_ADDRESS, self._address
        ):
            return
        sockets = self.context.resources.revocations.sockets
        generation = sockets.generation  # read before authenticating: see below
        await super().handle_connection_init(message)
        viewer = self.context.connected_as
        if self.connection_acknowledged and viewer is not None and self._held_token is None:
            self._held.enter_context(sockets.hold(self, viewer.id, viewer.token_id))
            self._held_token = viewer.token_id
            if sockets.generation != generation and not await self._token_valid():
                # A revocation was applied between authentication (maybe from a cache entry it
                # evicted) and registration: the token may be one of those it covered.
                self.revoked()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self._ending is not None:
            return  # closing: nothing more runs on this socket
        if self.connection_acknowledged:
            if not await self._allowed(Limit.SUBSCRIBES_PER_MINUTE, self._connection_key):
                return
            if not await self._still_authenticated():
                self.revoked()
                return
            if not await self._document_resolved(message):
                return
        await super().handle_subscribe(message)

    async def _document_resolved(self, message: SubscribeMessage) -> bool:
        """Persisted queries and trusted documents, as over HTTP (rapport/persisted.py): a
        refusal is an `error` message with its code; the socket stays open."""
        payload: Any = message["payload"]
        request = GraphQLRequestData(
            query=payload.get("query"),
            variables=None,
            operation_name=payload.get("operationName"),
            extensions=payload.get("extensions"),
        )
        try:
            await self.context.resources.persisted.resolve(request)
        except PersistedQueryRefused as refused:
            error: Any = {"message": refused.message, "extensions": {"code": refused.code}}
            answer = ErrorMessage(id=message["id"], type="error", payload=[error])
            await self.send_message(answer)
            return False
        if request.query is not None:
            payload["query"] = request.query
        return True

    async def _token_valid(self) -> bool:
        """The socket's token, checked in the database (not the viewer cache)."""
        r, token = self.context.resources, self.context.token
        found = (
            None if token is None else await accounts.authenticate(r.raw_pool, r.credentials, token)
        )
        return found is not None and found[0].token_id == self._held_token

    async def _still_authenticated(self) -> bool:
        """The socket's token, as an operation would authenticate it (viewer cache first). If
        that fails (the database is unreachable), the operation runs and meets the same error
        on its own: the socket is not closed for it."""
        try:
            viewer = await self.context.viewer()
        except Exception:
            log.warning("could not re-check a websocket's token", exc_info=True)
            return True
        finally:
            await self.context.close()
        return viewer is not None and viewer.token_id == self._held_token

    def revoked(self) -> None:
        """The socket's token was revoked (LiveSockets, or a check here): end the socket."""
        if self._ending is None:
            self._ending = asyncio.get_running_loop().create_task(self._end_revoked())

    async def _end_revoked(self) -> None:
        calls = []
        for operation_id, operation in list(self.operations.items()):
            if _is_subscription(operation.query, operation.operation_name):
                await self.cleanup_operation(operation_id)  # cancels it
            if operation.task is not None:
                calls.append(operation.task)
        if calls:  # cancelled subscriptions run their finally blocks; calls may finish
            await asyncio.wait(calls, timeout=CALLS_GRACE_S)
        with suppress(Exception):
            await self.websocket.close(code=FORBIDDEN, reason=REVOKED_REASON)

    async def _allowed(self, limit: Limit, key: str) -> bool:
        try:
            await self.context.resources.rate_limits.hit(limit, key)
        except RateLimitedError as error:
            reason = f"Rate limited ({error.limit}): retry after {error.retry_after} s"
            await self.websocket.close(code=TOO_MANY_REQUESTS, reason=reason)
            return False
        return True


def _is_subscription(query: str, operation_name: str | None) -> bool:
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION
