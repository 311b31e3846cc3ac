"""Subscriptions' loops. Those that deliver stored rows (messages, notifications) subscribe to
their channel FIRST, then read PostgreSQL from the client's cursor, then, on every event or gap
on the channel, read again from the last row they delivered: nothing committed after the
cursor is skipped, nothing is delivered twice, and the order is the database's. A message
event carries the message and the id of the one before it: when that is the last delivered,
the message is delivered as it came, without a read (the common case in a live chat). A short
session per read; none is held while waiting. Typing and read receipts are ephemeral: they
pass straight from the channel.

`messages`, `notifications_of` and `signals` are what the subscriptions call: each takes the
operation (who, and the resources; never its session, which a subscription does not hold
open); the first two hold the viewer's presence while they live."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg

from models import Notification
from models.chat import MessageRow
from rapport.db import OperationSession
from rapport.errors import Problems
from rapport.presence import online_key, watching_key
from resolvers import accounts, notifications
from resolvers.channels import conversation_channel, user_channel
from resolvers.chat import REPLAY_BATCH, membership, message_id, messages_after
from resolvers.events import carried_message
from resolvers.operation import Operation
from resolvers.pagination import row_id

Sessions = Callable[[], AbstractAsyncContextManager[OperationSession]]
Row = TypeVar("Row", MessageRow, Notification)


class Subscriber(Protocol):
    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[Any]]: ...


def _event_type(event: Any) -> str | None:
    return event.get("type") if isinstance(event, dict) else None  # None: a gap


async def _rows_then_live(
    events: AsyncIterator[Any],
    read_after: Callable[[int], Awaitable[list[Row]]],
    last: int,
    batch: int,
    relevant: Callable[[Any], bool],
    carried: Callable[[dict[str, Any], int], Row | None] = lambda event, last: None,
) -> AsyncIterator[Row]:
    async def catch_up() -> AsyncIterator[Row]:
        nonlocal last
        while True:
            rows = await read_after(last)
            for row in rows:
                assert row.id is not None
                last = row.id
                yield row
            if len(rows) < batch:
                return

    async for row in catch_up():
        yield row
    async for event in events:
        if not relevant(event):
            continue
        if isinstance(event, dict):
            if isinstance(event.get("id"), int) and event["id"] <= last:
                continue  # already delivered by an earlier read
            if (next_row := carried(event, last)) is not None:  # the very next row: no read
                assert next_row.id is not None
                last = next_row.id
                yield next_row
                continue
        async for row in catch_up():  # something new, or a gap: read what is there
            yield row


async def message_stream(
    sessions: Sessions,
    pool: asyncpg.Pool,
    hub: Subscriber,
    viewer_id: uuid.UUID,
    conversation_id: int,
    after: int | None,
) -> AsyncGenerator[MessageRow, None]:
    """Every message of the conversation after `after` (a message id; None: from now on), in
    order, exactly once, then each new one as it is committed. Raises NotFoundError at once if
    the viewer is not a member."""
    async with hub.subscribe(conversation_channel(conversation_id)) as events:
        async with sessions() as session:
            m = await membership(session, viewer_id, conversation_id)
        start = after if after is not None else (m.conversation.last_message_id or 0)

        async def read_after(last: int) -> list[MessageRow]:
            return await messages_after(pool, conversation_id, last)

        stream = _rows_then_live(
            events,
            read_after,
            start,
            REPLAY_BATCH,
            lambda e: _event_type(e) in (None, "message"),
            carried_message,
        )
        async for message in stream:
            yield message


async def notification_stream(
    sessions: Sessions, hub: Subscriber, viewer_id: uuid.UUID, after: int | None
) -> AsyncGenerator[Notification, None]:
    """The viewer's notifications after `after` (None: from now on), then each new one."""
    async with hub.subscribe(user_channel(viewer_id)) as events:
        if after is None:
            async with sessions() as session:
                after = await notifications.latest_id(session, viewer_id)

        async def read_after(last: int) -> list[Notification]:
            async with sessions() as session:
                return await notifications.notifications_after(session, viewer_id, last)

        stream = _rows_then_live(
            events,
            read_after,
            after,
            notifications.REPLAY_BATCH,
            lambda e: _event_type(e) in (None, "notification"),
        )
        async for notification in stream:
            yield notification


@dataclass(frozen=True, slots=True)
class Signal:
    """Typing or a read receipt from the other member."""

    kind: str  # "typing" | "read"
    user_id: uuid.UUID
    up_to: int | None = None


async def signal_stream(
    sessions: Sessions, hub: Subscriber, viewer_id: uuid.UUID, conversation_id: int, kind: str
) -> AsyncGenerator[Signal, None]:
    """The other member's typing (kind "typing") or read receipts (kind "read") as they come;
    nothing is stored and nothing replayed. Raises NotFoundError if the viewer is not a
    member."""
    async with hub.subscribe(conversation_channel(conversation_id)) as events:
        async with sessions() as session:
            await membership(session, viewer_id, conversation_id)
        async for event in events:
            if _event_type(event) != kind or event.get("user") == str(viewer_id):
                continue
            up_to = event.get("upTo")
            yield Signal(kind, uuid.UUID(event["user"]), up_to if isinstance(up_to, int) else None)


async def messages(
    op: Operation, conversation_id: int, after: str | None
) -> AsyncGenerator[MessageRow, None]:
    """`message_stream` for the viewer, `after` as clients send it (a message id). While it
    lives the viewer is online and watching the conversation (so a message sent to them
    there stores no notification: they see it)."""
    problems = Problems()
    after_id = message_id(problems, "after", after)
    problems.raise_if_any()
    r, viewer_id = op.resources, op.viewer.id
    stream = message_stream(r.sessionmaker, r.raw_pool, r.hub, viewer_id, conversation_id, after_id)
    async with (
        online(op),
        r.presence.hold(watching_key(viewer_id, conversation_id)),
        aclosing(stream),
    ):
        async for message in stream:
            yield message


async def notifications_of(op: Operation, after: str | None) -> AsyncGenerator[Notification, None]:
    """`notification_stream` for the viewer, `after` as clients send it (a notification id).
    While it lives the viewer is online."""
    problems = Problems()
    after_id = row_id(problems, "after", after, "notification")
    problems.raise_if_any()
    r = op.resources
    stream = notification_stream(r.sessionmaker, r.hub, op.viewer.id, after_id)
    async with online(op), aclosing(stream):
        async for notification in stream:
            yield notification


def signals(op: Operation, conversation_id: int, kind: str) -> AsyncGenerator[Signal, None]:
    """`signal_stream` for the viewer (it does not mark them online)."""
    r = op.resources
    return signal_stream(r.sessionmaker, r.hub, op.viewer.id, conversation_id, kind)


@asynccontextmanager
async def online(op: Operation) -> AsyncIterator[None]:
    """The viewer is online while a subscription lives; when it ends, their last-seen time is
    recorded."""
    resources, user_id = op.resources, op.viewer.id
    try:
        async with resources.presence.hold(online_key(user_id)):
            yield
    finally:
        # Deferred: the subscription is usually ending because its task was cancelled.
        resources.defer(_seen(resources.sessionmaker, user_id))


async def _seen(sessions: Sessions, user_id: uuid.UUID) -> None:
    async with sessions() as session:
        await accounts.seen(session, user_id)
