"""Blocking: two people stop seeing each other in matching (recommendations, likes, requests)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from models import Block, User
from rapport.errors import NotFoundError
from resolvers.effects import DropRanking, HideFromRanking
from resolvers.operation import Operation
from resolvers.visibility import not_yourself


async def block(op: Operation, target_id: uuid.UUID) -> None:
    """Idempotent. Works on any existing account, active or not."""
    session, viewer = op.session, op.viewer
    not_yourself(viewer.id, target_id)
    if await session.get(User, target_id) is None:
        raise NotFoundError("No such user.", field="userId", id=str(target_id))
    await session.execute(
        insert(Block).values(blocker_id=viewer.id, blocked_id=target_id).on_conflict_do_nothing()
    )
    session.after_commit(
        HideFromRanking(viewer.id, target_id), HideFromRanking(target_id, viewer.id)
    )
    await session.commit()


async def unblock(op: Operation, target_id: uuid.UUID) -> bool:
    """True if there was a block to lift."""
    session, viewer = op.session, op.viewer
    result = await session.execute(
        delete(Block).where(col(Block.blocker_id) == viewer.id, col(Block.blocked_id) == target_id)
    )
    if result.rowcount:
        session.after_commit(DropRanking(viewer.id), DropRanking(target_id))
    await session.commit()
    return bool(result.rowcount)
