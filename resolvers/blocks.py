"""Blocking: two people stop seeing each other in matching (recommendations, likes, requests)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models import Block, User
from resolvers.accounts import Viewer
from resolvers.errors import ErrorCode, FieldProblem, Invalid, NotFoundError
from resolvers.matching import Matcher


async def block(
    session: AsyncSession, matcher: Matcher, viewer: Viewer, target_id: uuid.UUID
) -> None:
    """Idempotent. Works on any existing account, active or not."""
    if target_id == viewer.id:
        raise Invalid([FieldProblem("userId", ErrorCode.CANNOT_TARGET_SELF, "That is you.")])
    if await session.get(User, target_id) is None:
        raise NotFoundError("No such user.", field="userId", id=str(target_id))
    await session.execute(
        insert(Block).values(blocker_id=viewer.id, blocked_id=target_id).on_conflict_do_nothing()
    )
    await session.commit()
    await matcher.cache.remove(viewer.id, target_id)
    await matcher.cache.remove(target_id, viewer.id)


async def unblock(
    session: AsyncSession, matcher: Matcher, viewer: Viewer, target_id: uuid.UUID
) -> bool:
    """True if there was a block to lift."""
    result = await session.execute(
        delete(Block).where(col(Block.blocker_id) == viewer.id, col(Block.blocked_id) == target_id)
    )
    await session.commit()
    if result.rowcount:  # type: ignore[attr-defined]
        await matcher.cache.drop(viewer.id)
        await matcher.cache.drop(target_id)
    return bool(result.rowcount)  # type: ignore[attr-defined]
