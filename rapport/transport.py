"""graphql-transport-ws with Rapport's abuse limits: connections per client address and
subscribe messages per connection (README: "Rate limits"). A client over either limit is
closed with 4429, the protocol's "too many requests" code, and a reason saying when to retry."""

from __future__ import annotations

import uuid
from typing import Any

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


class LimitedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connection_key = uuid.uuid4().hex

    async def handle(self) -> None:
        metrics.WEBSOCKETS.inc()
        try:
            await super().handle()
        finally:
            metrics.WEBSOCKETS.dec()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if not self.connection_init_received:
            address = self.context.client_address or "unknown"
            if not await self._allowed(Limit.WEBSOCKET_CONNECTIONS_PER_ADDRESS, address):
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
