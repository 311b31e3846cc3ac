"""Viewer-cache evictions shared by every process through Redis (README: "Several processes").

Each process keeps its own viewer cache (resolvers/viewer_cache.py). When one evicts a user —
after the commit of a logout, password change, suspension, profile edit, any mutation — it
publishes the user's id on one channel before the mutation answers, and every other process
evicts that user too as the message arrives, so a revoked token stops working everywhere at
once. What keeps it correct when messages go missing:

- the subscription is confirmed before the process serves anything;
- a GAP from the pub/sub hub (Redis reconnected, or this process fell behind) clears the whole
  local cache, since announcements may have been lost;
- if the listener ever stops, the cache is switched off rather than left unrefreshed;
- an announcement Redis could not take is logged by the hub, and the cache's TTL
  (RAPPORT_VIEWER_CACHE_TTL_S) bounds how long another process may use the old entry.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from rapport.pubsub import GAP, Hub, Subscription
from resolvers.viewer_cache import ViewerCache

log = logging.getLogger("rapport.viewer_cache")

CHANNEL = "rapport:viewer-evictions"


@asynccontextmanager
async def shared_evictions(cache: ViewerCache, hub: Hub) -> AsyncIterator[None]:
    """While entered, `cache` announces its evictions on `hub` and applies everyone else's."""
    origin = uuid.uuid4().hex  # this process: its own announcements come back to it

    async def announce(user_id: uuid.UUID) -> None:
        await hub.publish(CHANNEL, {"user": str(user_id), "from": origin})

    async with hub.subscribe(CHANNEL) as subscription:
        listener = asyncio.create_task(_listen(cache, subscription, origin))
        cache.announce = announce
        try:
            yield
        finally:
            cache.announce = None
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener


async def _listen(cache: ViewerCache, subscription: Subscription, origin: str) -> None:
    try:
        async for item in subscription:
            if item is GAP:
                cache.clear()
                log.info("viewer cache cleared: evictions from other processes may be lost")
                continue
            if item.get("from") == origin:
                continue
            try:
                user_id = uuid.UUID(str(item["user"]))
            except (KeyError, ValueError):
                log.warning("skipped a malformed viewer eviction: %r", item)
                continue
            cache.evict_user(user_id)
    finally:
        if cache.enabled:  # the hub closed (shutdown) or this failed: stop trusting the cache
            cache.enabled = False
            cache.clear()
