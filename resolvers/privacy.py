"""The viewer's own data: everything Rapport holds about them as JSON (exportMyData), and
deleting their account (deleteAccount). README: "Privacy"."""

from __future__ import annotations

import base64
import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlmodel import SQLModel, col

from models import (
    AuthToken,
    Block,
    Conversation,
    ConversationMember,
    GoalPhrase,
    Interest,
    InterestRequest,
    Match,
    Message,
    Notification,
    Preferences,
    Profile,
    ProfileEmbedding,
    Report,
    Swipe,
    User,
    UserInterest,
)
from models.base import utcnow
from rapport.db import OperationSession
from rapport.errors import ErrorCode, Problems
from rapport.revocations import Revocation
from resolvers.accounts import password_guess
from resolvers.effects import profile_changed
from resolvers.operation import Operation

EXPORT_FORMAT = 1
# Every table that refers to a person is either in the export or named here with the reason
# it is not (tests/test_privacy.py fails when a new table is in neither).
EXPORTED_TABLES = frozenset(
    {
        "users", "auth_tokens", "profiles", "preferences", "user_interests",
        "profile_embeddings", "goal_phrases", "swipes", "matches", "interest_requests",
        "conversation_members", "messages", "notifications", "blocks", "reports",
    }
)  # fmt: skip
NOT_EXPORTED_TABLES = {
    "match_index": "a derived copy of the profile, for matching",
    "sign_in_addresses": "keyed hashes of client addresses: they say nothing to their owner",
}
# Secrets are never exported, not even their hashes.
_SECRET_COLUMNS = frozenset({"password_hash", "token_hash"})


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if hasattr(value, "tolist"):  # pgvector / numpy vectors
        return [float(v) for v in value.tolist()]
    return str(value)


def _row(row: SQLModel) -> dict[str, Any]:
    table = row.__table__  # type: ignore[attr-defined]
    return {
        c.name: _json(getattr(row, c.key, None))
        for c in table.columns
        if c.name not in _SECRET_COLUMNS
    }


async def _rows(
    session: OperationSession, model: type[SQLModel], *where: ColumnElement[bool], order: Any = None
) -> list[dict[str, Any]]:
    query = select(model).where(*where)
    if order is not None:
        query = query.order_by(order)
    return [_row(r) for r in (await session.execute(query)).scalars()]


async def export(op: Operation) -> dict[str, Any]:
    """Everything stored about the viewer, and everything they wrote. Not included: other
    people's reports about them (the reporters' safety), who liked or passed on them (other
    people's choices), and match_index, a derived copy of their profile for matching."""
    session, me = op.session, op.viewer.id
    mine_in_match = or_(col(Match.user_low) == me, col(Match.user_high) == me)
    conversations: list[dict[str, Any]] = []
    rows = await session.execute(
        select(Conversation, ConversationMember, Match)
        .join(ConversationMember, col(ConversationMember.conversation_id) == col(Conversation.id))
        .join(Match, col(Match.id) == col(Conversation.match_id))
        .where(col(ConversationMember.user_id) == me)
        .order_by(col(Conversation.id))
    )
    for conversation, member, match in rows.all():
        conversations.append(
            {
                **_row(conversation),
                "with_user_id": str(match.user_high if match.user_low == me else match.user_low),
                "my_last_read_id": member.last_read_id,
                "messages": await _rows(
                    session,
                    Message,
                    col(Message.conversation_id) == conversation.id,
                    order=col(Message.id),
                ),
            }
        )
    interests = (
        await session.execute(
            select(col(Interest.name))
            .join(UserInterest, col(UserInterest.interest_id) == col(Interest.id))
            .where(col(UserInterest.user_id) == me)
            .order_by(col(Interest.name))
        )
    ).scalars()
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _json(utcnow()),
        "account": (await _rows(session, User, col(User.id) == me))[0],
        "sessions": await _rows(session, AuthToken, col(AuthToken.user_id) == me),
        "profile": next(iter(await _rows(session, Profile, col(Profile.user_id) == me)), None),
        "preferences": next(
            iter(await _rows(session, Preferences, col(Preferences.user_id) == me)), None
        ),
        "interests": list(interests),
        "embeddings": await _rows(session, ProfileEmbedding, col(ProfileEmbedding.user_id) == me),
        "goal_phrases": await _rows(
            session, GoalPhrase, col(GoalPhrase.user_id) == me, order=col(GoalPhrase.position)
        ),
        "swipes": await _rows(session, Swipe, col(Swipe.swiper_id) == me, order=col(Swipe.id)),
        "matches": await _rows(session, Match, mine_in_match, order=col(Match.id)),
        "interest_requests": await _rows(
            session,
            InterestRequest,
            or_(col(InterestRequest.sender_id) == me, col(InterestRequest.receiver_id) == me),
            order=col(InterestRequest.id),
        ),
        "conversations": conversations,
        "notifications": await _rows(
            session, Notification, col(Notification.user_id) == me, order=col(Notification.id)
        ),
        "blocks": await _rows(session, Block, col(Block.blocker_id) == me),
        "reports_made": await _rows(
            session, Report, col(Report.reporter_id) == me, order=col(Report.id)
        ),
    }


async def delete_account(op: Operation, password: str) -> None:
    """Delete the account and everything personal, after checking the password (wrong
    guesses spend the same budget as failed logins). In one transaction: the user row goes
    and with it, by foreign keys, the profile (and photo URLs), preferences, interests,
    embeddings and goal phrases, tokens, swipes, blocks, interest requests, matches and so
    their conversations with every message in them (both members' messages: the other
    person sees the match and its conversation disappear, as after an unmatch by deletion),
    and the notifications it received; notifications it caused for others are deleted too.
    Reports keep their text for moderators without the person (ids become NULL)."""
    session, viewer, credentials = op.session, op.viewer, op.resources.credentials
    problems = Problems()
    user = await session.get_one(User, viewer.id)
    if not await password_guess(
        session, credentials, op.guesses, user.email, user.password_hash, password
    ):
        problems.add("password", ErrorCode.WRONG_PASSWORD, "The password is incorrect.")
    problems.raise_if_any()
    await session.execute(delete(Notification).where(col(Notification.actor_id) == viewer.id))
    await session.execute(delete(User).where(col(User.id) == viewer.id))
    session.after_commit(Revocation(viewer.id), *profile_changed(viewer.id))
    await session.commit()
