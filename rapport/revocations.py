"""Revoked tokens reach live websockets (README: "Chat and real time", "Several processes").

A websocket authenticates once, with the token of its connection_init, and every operation on
it runs as that token. When tokens stop being valid — `logout` (that token), `logoutEverywhere`,
`suspendUser`, `deleteAccount` (every token of the person), `changePassword` (every token but the
one that changed it) — each socket authenticated with one of them is closed with 4403, the code
a socket gets at connection_init for a token that is not valid: one behaviour for the client,
whenever the token went away. Its subscriptions end first (nothing is delivered after the
revocation is applied); queries and mutations already running on it may finish.

How a revocation reaches every socket:

- The mutation calls `Revocations.revoked` after its transaction committed (never on rollback):
  with REDIS_URL it is announced on the viewer-eviction channel (rapport/viewer_evictions.py),
  then applied here: the viewer cache drops the person and this process's sockets end. Every
  other process applies it as the announcement arrives, in the same step as its cache eviction.
- A socket registers (`LiveSockets.hold`) right after connection_init authenticated it. A
  revocation applied between that authentication and the registration bumps
  `LiveSockets.generation`, and the socket then checks its token against the database again;
  each subscribe message also re-checks the token (through the viewer cache, which the same
  announcement evicts). So a socket opened with a token revoked a moment earlier ends too.
- A GAP on the channel (Redis reconnected, or this process fell behind: announcements may have
  been lost) makes the process check every live socket's token in one query (`recheck`), and
  so does a timer once a minute (app.py), for what nothing announced: an announcement Redis
  lost, tokens deleted by hand, tokens that expired.
- Without REDIS_URL there is one process, and `revoked` applies it locally only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from resolvers.viewer_cache import ViewerCache

log = logging.getLogger("rapport.revocations")

ALL_TOKENS = "*"


@dataclass(frozen=True, slots=True)
class Revocation:
    """Tokens of one person that stopped being valid: one token, or all of them but `keep`."""

    user_id: uuid.UUID
    token_id: uuid.UUID | None = None  # only this one; None: every token of the person...
    keep: uuid.UUID | None = None  # ...except this one (changePassword keeps the caller's)

    def covers(self, token_id: uuid.UUID) -> bool:
        if self.token_id is not None:
            return token_id == self.token_id
        return token_id != self.keep

    def to_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "user": str(self.user_id),
            "revoked": ALL_TOKENS if self.token_id is None else str(self.token_id),
        }
        if self.keep is not None:
            message["keep"] = str(self.keep)
        return message

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Revocation | None:
        """The revocation an eviction announcement carries (None: a plain eviction).
        ValueError if it is malformed."""
        revoked = message.get("revoked")
        if revoked is None:
            return None
        keep = message.get("keep")
        return cls(
            user_id=uuid.UUID(str(message["user"])),
            token_id=None if revoked == ALL_TOKENS else uuid.UUID(str(revoked)),
            keep=None if keep is None else uuid.UUID(str(keep)),
        )


class LiveSocket(Protocol):
    def revoked(self) -> None:
        """Its token was revoked: end it (without waiting: schedule the close)."""


class LiveSockets:
    """This process's authenticated websockets, by person and token."""

    def __init__(self) -> None:
        self._held: dict[uuid.UUID, dict[LiveSocket, uuid.UUID]] = {}
        # Bumped by every revocation applied here (and every recheck): a socket that read it
        # before authenticating and finds it changed once registered checks its token again.
        self.generation = 0

    @contextmanager
    def hold(self, socket: LiveSocket, user_id: uuid.UUID, token_id: uuid.UUID) -> Iterator[None]:
        self._held.setdefault(user_id, {})[socket] = token_id
        try:
            yield
        finally:
            held = self._held.get(user_id)
            if held is not None:
                held.pop(socket, None)
                if not held:
                    del self._held[user_id]

    def end(self, revocation: Revocation) -> int:
        """End the sockets the revocation covers; returns how many."""
        self.generation += 1
        held = self._held.get(revocation.user_id, {})
        ended = [socket for socket, token_id in held.items() if revocation.covers(token_id)]
        for socket in ended:
            socket.revoked()
        return len(ended)

    def tokens(self) -> dict[LiveSocket, uuid.UUID]:
        """Every live socket and its token."""
        return {s: t for held in self._held.values() for s, t in held.items()}

    def __len__(self) -> int:
        return sum(len(held) for held in self._held.values())


ValidTokens = Callable[[list[uuid.UUID]], Awaitable[set[uuid.UUID]]]


class Revocations:
    """What a mutation calls once tokens are revoked (see the module's docstring)."""

    def __init__(self, cache: ViewerCache, sockets: LiveSockets, valid_tokens: ValidTokens) -> None:
        self.cache = cache
        self.sockets = sockets
        self._valid_tokens = valid_tokens
        # Tells the other processes (set by rapport/viewer_evictions.py with REDIS_URL).
        self.announce: Callable[[Revocation], Awaitable[None]] | None = None

    async def revoked(self, revocation: Revocation) -> None:
        """After the commit that deleted the tokens: announce to the other processes (returns
        once sent), then end this process's sockets. Announced first: the caller's own
        socket may be one that ends, and ending it must not cut the announcement short."""
        try:
            if self.announce is not None:
                await self.announce(revocation)
        finally:
            self.apply(revocation)  # here even if the request was cancelled meanwhile

    def apply(self, revocation: Revocation) -> None:
        """In this process only: the cache forgets the person, the covered sockets end."""
        self.cache.evict_user(revocation.user_id)
        ended = self.sockets.end(revocation)
        if ended:
            log.info("closed %d websocket(s) of a revoked token", ended)

    async def recheck(self) -> int:
        """Revocations may have been missed: end every live socket whose token is no longer
        valid (one query). Returns how many ended."""
        self.sockets.generation += 1  # connections authenticating meanwhile check again too
        held = self.sockets.tokens()
        if not held:
            return 0
        valid = await self._valid_tokens(sorted(set(held.values())))
        ended = 0
        for socket, token_id in held.items():
            if token_id not in valid:
                socket.revoked()
                ended += 1
        if ended:
            log.info("closed %d websocket(s) whose token was revoked meanwhile", ended)
        return ended
