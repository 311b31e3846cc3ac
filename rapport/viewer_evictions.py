"""Viewer-cache evictions and token revocations shared by every process through Redis (README:
"Several processes").

Each process keeps its own viewer cache (resolvers/viewer_cache.py) and its own websockets
(rapport/revocations.py). When one evicts a user — after the commit of a logout, password
change, suspension, profile edit, any mutation — it publishes the user's id on one channel
before the mutation answers, and every other process evicts that user too as the message
arrives, so a revoked token stops working everywhere at once. A revocation (logout,
logoutEverywhere, changePassword, suspendUser, deleteAccount) is the same announcement naming
the tokens revoked: every process evicts the user and closes the websockets those tokens
authenticated. What keeps it correct when messages go missing:

- the subscription is confirmed before the process serves anything;
- a GAP from the pub/sub hub (Redis reconnected, or this process fell behind) clears the whole
  local cache and re-checks every live websocket's token in the database, since announcements
  may have been lost;
- if the listener ever stops, the cache is switched off rather than left unrefreshed;
- an announcement Redis could not take is logged by the hub, and the cache's TTL
  (RAPPORT_VIEWER_CACHE_TTL_S) bounds how long another process may use the old entry (a
  websocket there ends at its next subscribe, which checks the token).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from rapport.pubsub import GAP, Hub, Subscription
from rapport.revocations import Revocation, Revocations

log = logging.getLogger("rapport.viewer_cache")

CHANNEL = "rapport:viewer-evictions"


@asynccontextmanager
async def shared_evictions(revocations: Revocations, hub: Hub) -> AsyncIterator[None]:
    """While entered, the viewer cache (if on) announces its evictions on `hub`, revocations
    are announced there too, and everyone else's are applied here."""
    origin = uuid.uuid4().hex  # this process: its own announcements come back to it
    cache = revocations.cache

    async def announce(user_id: uuid.UUID) -> None:
        await hub.publish(CHANNEL, {"user": str(user_id), "from": origin})

    async def announce_revocation(revocation: Revocation) -> None:
        await hub.publish(CHANNEL, revocation.to_message() | {"from": origin})

    async with hub.subscribe(CHANNEL) as subscription:
        listener = asyncio.create_task(_listen(revocations, subscription, origin))
        if cache.enabled:
            cache.announce = announce
        revocations.announce = announce_revocation
        try:
            yield
        finally:
            cache.announce = revocations.announce = None
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener


async def _listen(revocations: Revocations, subscription: Subscription, origin: str) -> None:
    cache = revocations.cache
    rechecks: set[asyncio.Task[int]] = set()
    try:
        async for item in subscription:
            if item is GAP:
                cache.clear()
                log.info("viewer cache cleared: evictions from other processes may be lost")
                recheck = asyncio.create_task(revocations.recheck())  # off the listener's path
                rechecks.add(recheck)
                recheck.add_done_callback(_recheck_done(rechecks))
                continue
            if item.get("from") == origin:
                continue
            try:
                user_id = uuid.UUID(str(item["user"]))
                revocation = Revocation.from_message(item)
            except (KeyError, ValueError):
                log.warning("skipped a malformed viewer eviction: %r", item)
                continue
            if revocation is not None:
                revocations.apply(revocation)
            else:
                cache.evict_user(user_id)
    finally:
        for recheck in rechecks:
            recheck.cancel()
        if cache.enabled:  # the hub closed (shutdown) or this failed: stop trusting the cache
            cache.enabled = False
            cache.clear()


def _recheck_done(rechecks: set[asyncio.Task[int]]) -> Callable[[asyncio.Task[int]], None]:
    def done(task: asyncio.Task[int]) -> None:
        rechecks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("re-checking websockets' tokens failed", exc_info=task.exception())

    return done
