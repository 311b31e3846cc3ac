"""The one object every rule function takes: who acts, the operation's database session, and
the process's shared resources (in place of long argument lists ordered differently per
function)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rapport.db import OperationSession
from rapport.rate_limits import Limit
from resolvers.accounts import Guesses, Viewer

if TYPE_CHECKING:
    from rapport.resources import Resources


class SessionSource(Protocol):
    """Where the operation's session comes from, opened on first use (schema/context.py),
    and the client's address (None: in process, or an operators' tool)."""

    @property
    def session(self) -> OperationSession: ...

    @property
    def client_address(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Operation:
    viewer: Viewer
    resources: Resources
    source: SessionSource
    # False for operators' tools (seeding, import): no rate limit applies.
    limited: bool = True

    @classmethod
    def of_tool(cls, viewer: Viewer, resources: Resources, session: OperationSession) -> Operation:
        """An operation of an operators' tool on a session of its own, with no rate limits."""
        return cls(viewer, resources, _Held(session), limited=False)

    @property
    def session(self) -> OperationSession:
        """The operation's one session; what it registers with `after_commit` runs once its
        commit succeeded (resolvers/effects.py)."""
        return self.source.session

    @property
    def guesses(self) -> Guesses:
        """Where the operation's password guesses are counted (resolvers/accounts.py)."""
        return Guesses(self.resources.rate_limits, self.source.client_address)

    def after_commit(self, *effects: Hashable) -> None:
        self.session.after_commit(*effects)

    async def run(self, effects: Iterable[Hashable]) -> None:
        """Effects of work that committed outside the session (the raw asyncpg pool)."""
        await self.resources.effects.run(list(effects))

    async def hit(self, limit: Limit, cost: int = 1, key: str | None = None) -> None:
        """Spend `cost` of a rate limit, counted per viewer unless `key` says otherwise;
        raises RateLimitedError (nothing spent) when it is used up. Nothing for a tool."""
        if self.limited:
            await self.resources.rate_limits.hit(limit, key or str(self.viewer.id), cost)


@dataclass(frozen=True, slots=True)
class _Held:
    session: OperationSession
    client_address: str | None = None
