"""Notifications: stored in the same transaction as what caused them, listed newest first,
marked read, and announced after commit on the person's channel (resolvers/effects.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, any_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col

from models import Notification, NotificationKind
from models.base import utcnow
from rapport.db import OperationSession
from rapport.errors import Problems
from resolvers import events
from resolvers.operation import Operation
from resolvers.pagination import Page, newest_first, page_sizes, row_id, rows_after
from resolvers.visibility import blocked_between

REPLAY_BATCH = 100


async def notify(
    session: OperationSession,
    user_id: uuid.UUID,
    kind: NotificationKind,
    *,
    actor_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> Notification:
    """Store a notification in the caller's transaction (does not commit); once that commits,
    the person's subscriptions are told (one event per person however many were stored; none
    if it rolls back)."""
    notification = Notification(user_id=user_id, kind=kind, actor_id=actor_id, data=data or {})
    session.add(notification)
    await session.flush()
    session.after_commit(events.notified(user_id))
    return notification


def visible() -> ColumnElement[bool]:
    """Notifications caused by someone a block now stands between are hidden (kept, and
    shown again if the block is lifted)."""
    return or_(
        col(Notification.actor_id).is_(None),
        ~blocked_between(col(Notification.user_id), col(Notification.actor_id)),
    )


async def listing(
    op: Operation, *, unread_only: bool, first: int | None, after: str | None
) -> Page[Notification]:
    """The viewer's notifications (those they may see), newest first."""
    query = select(Notification).where(col(Notification.user_id) == op.viewer.id, visible())
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    return await newest_first(
        op.session,
        query,
        col(Notification.id),
        first,
        after,
        **page_sizes(op.resources.settings),
    )


async def unread_count(session: OperationSession, user_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                col(Notification.user_id) == user_id,
                col(Notification.read_at).is_(None),
                visible(),
            )
        )
        or 0
    )


async def mark_read(op: Operation, up_to: str | None) -> tuple[int, list[Notification], int]:
    """Mark the viewer's notifications read, all or up to a notification id; returns how many
    were marked, the newest of the marked ones the viewer may see (at most the largest page,
    newest first: what `notifications` lists, with their new readAt) and how many stay
    unread. Commits."""
    session, viewer = op.session, op.viewer
    shown = op.resources.settings.max_page_size
    problems = Problems()
    limit = row_id(problems, "upTo", up_to, "notification")
    problems.raise_if_any()
    statement = (
        update(Notification)
        .where(col(Notification.user_id) == viewer.id, col(Notification.read_at).is_(None))
        .values(read_at=utcnow())
        .returning(col(Notification.id))
    )
    if limit is not None:
        statement = statement.where(col(Notification.id) <= limit)
    ids = list((await session.execute(statement)).scalars())
    await session.commit()
    marked: list[Notification] = []
    if ids:
        query = (
            select(Notification)
            # One array parameter, not one per id: a backlog may exceed PostgreSQL's 32,767.
            .where(
                col(Notification.id) == any_(bindparam("ids", ids, ARRAY(BigInteger))), visible()
            )
            .order_by(col(Notification.id).desc())
            .limit(shown)
            .execution_options(populate_existing=True)
        )
        marked = list((await session.execute(query)).scalars())
    return len(ids), marked, await unread_count(session, viewer.id)


async def notifications_after(
    session: OperationSession, user_id: uuid.UUID, after_id: int, limit: int = REPLAY_BATCH
) -> list[Notification]:
    """For the subscription: the person's notifications after a cursor, oldest first."""
    query = select(Notification).where(col(Notification.user_id) == user_id, visible())
    return await rows_after(session, query, col(Notification.id), after_id, limit)


async def latest_id(session: OperationSession, user_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.coalesce(func.max(col(Notification.id)), 0)).where(
                col(Notification.user_id) == user_id
            )
        )
        or 0
    )
