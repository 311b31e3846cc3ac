"""Work that follows a commit, and only a commit: the one route for it.

A rule registers effects while its transaction is open (`session.after_commit(...)`, see
rapport/db.py OperationSession); once the commit succeeds they run here, in order and each
once, before the operation answers; a rollback drops them. A rule on the raw asyncpg pool
(chat's send path) returns the same effects for its caller to run after its own commit.

Every effect is a small frozen value: what to do, not how, so registering one costs nothing
and two registrations of the same effect run once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rapport.revocations import Revocation
from resolvers.channels import NOTIFIED, user_channel

log = logging.getLogger("rapport.effects")


@dataclass(frozen=True, slots=True, eq=False)
class Publish:
    """An event on a pub/sub channel (resolvers/events.py builds them). Each is its own
    event: two equal-looking ones both go out."""

    channel: str
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notify:
    """Something new was stored for a person: their `notifications` subscriptions read from
    their cursor. One per person per commit, however many rows were stored."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ForgetViewer:
    """A person's cached viewer (token, account, profile) is stale: drop it, in every process."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class DropRanking:
    """A person's cached recommendations are stale: rebuilt on their next request."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class DropRankingsShowing:
    """Every cached ranking that shows this person is stale (their profile changed)."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class HideFromRanking:
    """`candidate` leaves `viewer`'s cached recommendations (a swipe, a block, a request)."""

    viewer: uuid.UUID
    candidate: uuid.UUID


@dataclass(frozen=True, slots=True)
class EmailQueued:
    """An email row was committed to the outbox: deliver it now (or log where it is)."""

    to: str
    subject: str
    body: str


def profile_changed(user_id: uuid.UUID) -> tuple[DropRanking, DropRankingsShowing]:
    """Their own recommendations and every list that holds them are out of date."""
    return DropRanking(user_id), DropRankingsShowing(user_id)


class _Hub(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> bool: ...


class _Rankings(Protocol):
    async def drop(self, viewer: uuid.UUID) -> None: ...
    async def drop_containing(self, candidate: uuid.UUID) -> None: ...
    async def remove(self, viewer: uuid.UUID, candidate: uuid.UUID) -> None: ...


class _Viewers(Protocol):
    async def forget_user(self, user_id: uuid.UUID) -> None: ...


class _Outbox(Protocol):
    def queued(self, to: str, subject: str, body: str) -> None: ...


class _Revocations(Protocol):
    async def revoked(self, revocation: Revocation) -> None: ...


class Effects:
    """Runs effects against the process's resources. The commit has happened: a failing
    effect is logged and the others still run (every event names a cursor in PostgreSQL, so
    a lost one costs a subscriber a re-read, never data; a lost eviction ends with its TTL)."""

    def __init__(
        self,
        hub: _Hub,
        rankings: _Rankings,
        viewers: _Viewers,
        revocations: _Revocations,
        outbox: _Outbox | None = None,
    ) -> None:
        self.hub = hub
        self.rankings = rankings
        self.viewers = viewers
        self.revocations = revocations
        self.outbox = outbox  # set once the outbox exists (it needs the sessionmaker)

    async def run(self, effects: Sequence[Hashable]) -> None:
        """Each effect once, in order, with two exceptions. A `Revocation` (rapport/
        revocations.py: tokens deleted) evicts its person's cached viewer in every process
        itself, so a `ForgetViewer` of the same person is not sent as a second message. And
        revocations run last: ending this process's sockets may end the one this operation
        came on, which must not cut the other effects short."""
        unique = list(dict.fromkeys(effects))
        revoked = [e for e in unique if isinstance(e, Revocation)]
        covered = {r.user_id for r in revoked}
        for effect in unique:
            if isinstance(effect, Revocation) or (
                isinstance(effect, ForgetViewer) and effect.user_id in covered
            ):
                continue
            await self._run_one(effect)
        for revocation in revoked:
            await self._run_one(revocation)

    async def _run_one(self, effect: Hashable) -> None:
        try:
            await self._run(effect)
        except Exception:
            log.exception("effect failed after commit: %r", effect)

    async def _run(self, effect: Hashable) -> None:
        match effect:
            case Publish(channel=channel, message=message):
                await self.hub.publish(channel, message)
            case Notify(user_id=user_id):
                await self.hub.publish(user_channel(user_id), NOTIFIED)
            case ForgetViewer(user_id=user_id):
                await self.viewers.forget_user(user_id)
            case HideFromRanking(viewer=viewer, candidate=candidate):
                await self.rankings.remove(viewer, candidate)
            case DropRanking(user_id=user_id):
                await self.rankings.drop(user_id)
            case DropRankingsShowing(user_id=user_id):
                await self.rankings.drop_containing(user_id)
            case Revocation():
                await self.revocations.revoked(effect)
            case EmailQueued(to=to, subject=subject, body=body):
                if self.outbox is not None:
                    self.outbox.queued(to, subject, body)
            case _:
                raise TypeError(f"not an effect: {effect!r}")
