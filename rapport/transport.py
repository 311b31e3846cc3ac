"""graphql-transport-ws with Rapport's abuse limits: connections per client address and
subscribe messages per connection (README: "Rate limits"). A client over either limit is
closed with 4429, the protocol's "too many requests" code, and a reason saying when to retry.

Sockets that have connected but not sent `connection_init` yet cost the server memory and a
connection slot while telling it nothing (no token, so no account to hold to account): each
client address may have at most RAPPORT_MAX_UNINITIALISED_WEBSOCKETS_PER_ADDRESS of them per
process (`UninitialisedWebsockets`), one more is closed at once with 4429, and each is closed
with 4408 once RAPPORT_CONNECTION_INIT_TIMEOUT_S passes without it (Strawberry's
connection_init_wait_timeout). README: "Slow and idle clients"."""

from __future__ import annotations

import uuid
from typing import Any, Protocol, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from rapport import metrics
from rapport.rate_limits import Limit
from resolvers.errors import RateLimitedError
from schema.context import Context

TOO_MANY_REQUESTS = 4429


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
    """The view running the handler (app.RapportGraphQL)."""

    uninitialised_websockets: UninitialisedWebsockets


class LimitedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connection_key = uuid.uuid4().hex
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
            await super().handle()
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
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and not await self._allowed(
            Limit.SUBSCRIBES_PER_MINUTE, self._connection_key
        ):
            return
        await super().handle_subscribe(message)

    async def _allowed(self, limit: Limit, key: str) -> bool:
        try:
            await self.context.resources.rate_limits.hit(limit, key)
        except RateLimitedError as error:
            reason = f"Rate limited ({error.limit}): retry after {error.retry_after} s"
            await self.websocket.close(code=TOO_MANY_REQUESTS, reason=reason)
            return False
        return True
