"""Who may see whom, stated once. A block hides two people from each other everywhere
(README: "Blocking and reporting"), and only active accounts (not suspended) are shown to
anyone. Both rules are views in the database (migration 0012: `block_pairs`, every block in
both directions; `active_users`), which the ORM queries here and the raw SQL paths (chat's
send, authentication, the candidate search) all read: one definition each."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.sql.selectable import Exists, Select

from rapport.errors import ErrorCode, FieldProblem, Invalid

BLOCK_PAIRS = sa.table("block_pairs", sa.column("person", sa.Uuid), sa.column("other", sa.Uuid))
ACTIVE_USERS = sa.table("active_users", sa.column("id", sa.Uuid))


def blocked_between(a: Any, b: Any) -> Exists:
    """Whether either of two people (ids or columns) blocks the other."""
    return exists().where(BLOCK_PAIRS.c.person == a, BLOCK_PAIRS.c.other == b)


def blocked_with(person: Any) -> Select[Any]:
    """Everyone a block stands between with `person`, either way."""
    return select(BLOCK_PAIRS.c.other).where(BLOCK_PAIRS.c.person == person)


def active_account(user_id: Any) -> ColumnElement[bool]:
    """Whether the account (an id or a column) exists and is active."""
    return exists().where(ACTIVE_USERS.c.id == user_id)


def not_yourself(viewer_id: uuid.UUID, target_id: uuid.UUID, field: str = "userId") -> None:
    """Actions on a person (like, pass, block, request, report, moderate) never target the
    viewer: a ValidationError on `field`."""
    if target_id == viewer_id:
        raise Invalid([FieldProblem(field, ErrorCode.CANNOT_TARGET_SELF, "That is you.")])
