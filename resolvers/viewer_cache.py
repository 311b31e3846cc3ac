"""A short-lived, per-process cache of authenticated viewers, keyed by token digest.

Authentication runs on every request; this cache lets a burst of requests with one token skip
the database. Every mutation evicts the acting viewer's entries (so logout, password changes
and profile edits show at once), a lookup that raced an eviction is not stored, and an entry is
never used past its token's expiry. With several processes (REDIS_URL), an eviction is also
announced to every other process before the mutation answers (rapport/viewer_evictions.py), and
a process that may have missed announcements drops everything. Changes made outside the API
(SQL by hand), or an announcement Redis lost, show within the TTL.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from cachetools import TTLCache

from models.base import utcnow
from resolvers.accounts import LAST_ACTIVE_RESOLUTION, Viewer


@dataclass(frozen=True, slots=True)
class _Entry:
    viewer: Viewer
    expires_at: datetime


class ViewerCache:
    def __init__(self, *, ttl_s: float, max_entries: int = 10_000) -> None:
        self.enabled = ttl_s > 0
        self._entries: TTLCache[bytes, _Entry] = TTLCache(maxsize=max_entries, ttl=max(ttl_s, 1e-3))
        # Bumped by every eviction. A lookup notes it before reading the database and may only
        # store its answer if nothing was evicted meanwhile (else a logout that committed
        # during the read could be undone by the late store).
        self.generation = 0
        # Tells the other processes about an eviction (set by rapport/viewer_evictions.py).
        self.announce: Callable[[uuid.UUID], Awaitable[None]] | None = None

    def get(self, digest: bytes) -> Viewer | None:
        if not self.enabled:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        now = utcnow()
        if (
            entry.expires_at <= now
            or now - entry.viewer.user.last_active_at > LAST_ACTIVE_RESOLUTION
        ):
            # Expired token, or time to record activity again: ask the database.
            self._entries.pop(digest, None)
            return None
        return entry.viewer

    def put(self, digest: bytes, viewer: Viewer, expires_at: datetime, generation: int) -> None:
        """Store unless an eviction happened since `generation` was read."""
        if self.enabled and generation == self.generation:
            self._entries[digest] = _Entry(viewer, expires_at)

    async def forget_user(self, user_id: uuid.UUID) -> None:
        """Drop every entry of one user (all their tokens), here and, once `announce` is set,
        in every other process (returns once the announcement is sent)."""
        self.evict_user(user_id)
        if self.announce is not None:
            await self.announce(user_id)

    def evict_user(self, user_id: uuid.UUID) -> None:
        """Drop every entry of one user in this process only."""
        self.generation += 1
        for digest in [d for d, e in self._entries.items() if e.viewer.id == user_id]:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        """Drop every entry (e.g. evictions from other processes may have been missed)."""
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
