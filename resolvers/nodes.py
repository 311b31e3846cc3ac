"""One object by its key, for `node(id:)` and `nodes(ids:)`: each answers only what the
viewer may see through the list or field that shows it (the same rules, the same blocks), and
None for anything else. None never says whether the object exists."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlmodel import col

from models import InterestRequest, Match, Notification, Report, Swipe, UserRole
from rapport.db import OperationSession
from resolvers.accounts import Viewer
from resolvers.notifications import visible as notification_visible
from resolvers.visibility import blocked_between


async def match(session: OperationSession, viewer: Viewer, match_id: int) -> Match | None:
    return (
        await session.execute(
            select(Match).where(
                col(Match.id) == match_id,
                (col(Match.user_low) == viewer.id) | (col(Match.user_high) == viewer.id),
                ~blocked_between(col(Match.user_low), col(Match.user_high)),
            )
        )
    ).scalar_one_or_none()


async def interest_request(
    session: OperationSession, viewer: Viewer, request_id: int
) -> InterestRequest | None:
    sender, receiver = col(InterestRequest.sender_id), col(InterestRequest.receiver_id)
    return (
        await session.execute(
            select(InterestRequest).where(
                col(InterestRequest.id) == request_id,
                (sender == viewer.id) | (receiver == viewer.id),
                ~blocked_between(sender, receiver),
            )
        )
    ).scalar_one_or_none()


async def notification(
    session: OperationSession, viewer: Viewer, notification_id: int
) -> Notification | None:
    return (
        await session.execute(
            select(Notification).where(
                col(Notification.id) == notification_id,
                col(Notification.user_id) == viewer.id,
                notification_visible(),
            )
        )
    ).scalar_one_or_none()


async def swipe(session: OperationSession, viewer: Viewer, swipe_id: int) -> Swipe | None:
    """The viewer's own swipes only (not across a block)."""
    return (
        await session.execute(
            select(Swipe).where(
                col(Swipe.id) == swipe_id,
                col(Swipe.swiper_id) == viewer.id,
                ~blocked_between(col(Swipe.swiper_id), col(Swipe.target_id)),
            )
        )
    ).scalar_one_or_none()


async def report(session: OperationSession, viewer: Viewer, report_id: int) -> Report | None:
    """Moderators see every report (as `reports` lists them)."""
    if viewer.user.role is not UserRole.MODERATOR:
        return None
    return await session.get(Report, report_id)


async def own_report(session: OperationSession, viewer: Viewer, report_id: int) -> Report | None:
    """The reporter's receipt of their own report."""
    row = await session.get(Report, report_id)
    return row if row is not None and row.reporter_id == viewer.id else None


def uuid_key(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key)
    except ValueError:
        return None


def int_key(key: str) -> int | None:
    """A row number: ASCII digits, within bigint."""
    if not (key.isascii() and key.isdigit()) or len(key) > 18:
        return None
    return int(key)
