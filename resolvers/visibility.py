"""Who may see whom. A block hides two people from each other everywhere (README: "Blocking
and reporting"): every listing and lookup that shows one person to another filters with
`blocked_between`, the one definition of "a block stands between them"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, or_
from sqlalchemy.sql.selectable import Exists
from sqlmodel import col

from models import Block


def blocked_between(a: Any, b: Any) -> Exists:
    """Whether either of two people (ids or columns) blocks the other."""
    return exists().where(
        or_(
            and_(col(Block.blocker_id) == a, col(Block.blocked_id) == b),
            and_(col(Block.blocker_id) == b, col(Block.blocked_id) == a),
        )
    )
