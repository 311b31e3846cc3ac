"""Interest tags: a person's set, and the catalogue everyone picks from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from models import Interest, Profile, UserInterest
from models.interests import MAX_INTEREST_LENGTH
from rapport.db import OperationSession
from rapport.errors import ErrorCode, NotFoundError, Problems
from resolvers import validation
from resolvers.effects import profile_changed
from resolvers.operation import Operation
from resolvers.pagination import Page, is_int_key, is_text_key, make_page, page_request

MAX_INTERESTS_PER_USER = 30


class InterestOrder(StrEnum):
    POPULAR = "popular"  # most people first, then by name
    NAME = "name"


@dataclass(frozen=True, slots=True)
class InterestCount:
    name: str
    user_count: int


async def set_interests(op: Operation, names: list[str]) -> tuple[list[str], Profile]:
    """Replace the viewer's interests with `names` (normalised, de-duplicated); returns them
    (alphabetical) and the viewer's profile as it now is."""
    session, viewer = op.session, op.viewer
    problems = Problems()
    tags = validation.tag_list(
        problems,
        "interests",
        names,
        max_items=MAX_INTERESTS_PER_USER,
        max_length=MAX_INTEREST_LENGTH,
    )
    problems.raise_if_any()
    # Lock the owner's profile row: concurrent setInterests calls by one person take turns,
    # so "replace the set" and the 30-tag cap hold.
    profile = await session.get(Profile, viewer.id, with_for_update=True)
    if profile is None:
        raise NotFoundError("Create your profile first.", field="input")
    if tags:
        await session.execute(
            insert(Interest)
            # sorted: concurrent inserts of overlapping new tags wait in one order, no cycle
            .values([{"name": t} for t in sorted(tags)])
            .on_conflict_do_nothing(index_elements=["name"])
        )
    ids: list[int] = sorted(
        i
        for i in (
            await session.execute(select(col(Interest.id)).where(col(Interest.name).in_(tags)))
        ).scalars()
        if i is not None
    )
    held = (
        await session.execute(
            select(col(UserInterest.interest_id)).where(col(UserInterest.user_id) == viewer.id)
        )
    ).scalars()
    # A trigger keeps interests.user_count, locking each interest row it touches: take those
    # locks up front in id order, so two people changing overlapping tags cannot deadlock.
    await session.execute(
        select(col(Interest.id))
        .where(col(Interest.id).in_(sorted(set(ids) | set(held))))
        .order_by(col(Interest.id))
        .with_for_update()
    )
    await session.execute(
        delete(UserInterest).where(
            col(UserInterest.user_id) == viewer.id,
            col(UserInterest.interest_id).not_in(ids),
        )
    )
    if ids:
        await session.execute(
            insert(UserInterest)
            .values([{"user_id": viewer.id, "interest_id": i} for i in ids])
            .on_conflict_do_nothing()
        )
    session.after_commit(*profile_changed(viewer.id))
    await session.commit()
    await session.refresh(profile)  # its trigger-kept fields (updated_at) as stored
    return sorted(tags), profile


def names_of(user_id: str) -> str:
    """SQL: the interest names of the person `user_id` names (an SQL expression), as a text[],
    alphabetically (as interests_by_user lists them), for the raw SQL reads of people."""
    names = "SELECT i.name FROM user_interests ui JOIN interests i ON i.id = ui.interest_id"
    return f"ARRAY({names} WHERE ui.user_id = {user_id} ORDER BY i.name)"


async def interests_by_user(
    session: OperationSession, user_ids: list[uuid.UUID]
) -> list[list[str]]:
    """Batch loader: each user's interest names, alphabetically."""
    rows = await session.execute(
        select(col(UserInterest.user_id), col(Interest.name))
        .join(Interest, col(Interest.id) == col(UserInterest.interest_id))
        .where(col(UserInterest.user_id).in_(user_ids))
        .order_by(Interest.name)
    )
    by_user: dict[uuid.UUID, list[str]] = {}
    for user_id, name in rows:
        by_user.setdefault(user_id, []).append(name)
    return [by_user.get(i, []) for i in user_ids]


def _key_shape(order: InterestOrder) -> Any:
    if order is InterestOrder.NAME:
        return lambda k: len(k) == 1 and is_text_key(k[0])
    return lambda k: len(k) == 2 and is_int_key(k[0]) and is_text_key(k[1])


async def catalogue(
    session: OperationSession,
    *,
    prefix: str | None,
    order: InterestOrder,
    first: int | None,
    after: str | None,
    default_size: int,
    max_size: int,
) -> Page[InterestCount]:
    """Interests that at least one person has, with how many, optionally by name prefix."""
    problems = Problems()
    request = page_request(
        problems,
        first,
        after,
        default_size=default_size,
        max_size=max_size,
        key_shape=_key_shape(order),
    )
    needle = validation.tag(prefix or "")
    if len(needle) > MAX_INTEREST_LENGTH:
        problems.add(
            "prefix", ErrorCode.TOO_LONG, f"prefix has at most {MAX_INTEREST_LENGTH} characters."
        )
    problems.raise_if_any()

    count = col(Interest.user_count)
    query = select(col(Interest.name), count).where(count > 0).limit(request.first + 1)
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(Interest.name).like(f"{escaped}%", escape="\\"))
    if order is InterestOrder.NAME:
        query = query.order_by(col(Interest.name))
        if request.after:
            query = query.where(col(Interest.name) > request.after[0])
    else:
        query = query.order_by(count.desc(), col(Interest.name))
        if request.after:
            last_count, last_name = request.after
            query = query.where(
                or_(count < last_count, and_(count == last_count, col(Interest.name) > last_name))
            )
    rows = [InterestCount(name, int(n)) for name, n in await session.execute(query)]
    if order is InterestOrder.NAME:
        return make_page(rows, request, lambda r: [r.name])
    return make_page(rows, request, lambda r: [r.user_count, r.name])
