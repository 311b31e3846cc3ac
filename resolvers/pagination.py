"""Cursor pagination shared by every list: opaque cursors, a capped page size, one extra row
fetched to know whether another page follows."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar

from sqlalchemy import Select

from rapport.db import OperationSession
from rapport.errors import ErrorCode, Problems
from rapport.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int
    after: list[Any] | None  # the decoded sort key of the last item already seen


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


class PageSizes(TypedDict):
    default_size: int
    max_size: int


def page_sizes(settings: Settings) -> PageSizes:
    """The list sizes clients may ask for, as `page_request` and `newest_first` take them."""
    return {"default_size": settings.default_page_size, "max_size": settings.max_page_size}


MAX_CURSOR_TEXT = 256
MAX_BIGINT = 2**63 - 1


def is_int_key(value: Any) -> bool:
    """A key part that PostgreSQL can take as a bigint (bools are not ints here)."""
    return type(value) is int and 0 <= value <= MAX_BIGINT


def is_number_key(value: Any) -> bool:
    return type(value) in (int, float) and abs(value) < 1e15


def is_text_key(value: Any) -> bool:
    return (
        type(value) is str
        and len(value) <= MAX_CURSOR_TEXT
        and "\x00" not in value
        and is_unicode(value)
    )


def is_unicode(value: str) -> bool:
    """False for a string holding a lone surrogate (which JSON allows and nothing else does)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def row_id(problems: Problems, field: str, value: str | None, what: str) -> int | None:
    """A row id as clients send it (ids that are also cursors: messages, notifications)."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        problems.add(field, ErrorCode.INVALID_CURSOR, f"{field} must be a {what} id.")
        return None
    return int(value)


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any] | None:
    if len(cursor) > 1024:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, list) else None


def page_request(
    problems: Problems,
    first: int | None,
    after: str | None,
    *,
    default_size: int,
    max_size: int,
    key_shape: Callable[[list[Any]], bool],
) -> PageRequest:
    size = default_size if first is None else first
    if not 1 <= size <= max_size:
        problems.add("first", ErrorCode.OUT_OF_RANGE, f"first must be between 1 and {max_size}.")
    key = None
    if after is not None:
        key = decode_cursor(after)
        if key is None or not key_shape(key):
            problems.add(
                "after", ErrorCode.INVALID_CURSOR, "This cursor was not issued by this list."
            )
            key = None
    return PageRequest(first=size, after=key)


def make_page(rows: list[T], request: PageRequest, key: Callable[[T], Sequence[Any]]) -> Page[T]:
    """`rows` must hold up to first + 1 rows, in order."""
    items = rows[: request.first]
    return Page(
        items=items,
        cursors=[encode_cursor(key(item)) for item in items],
        has_next_page=len(rows) > request.first,
        has_previous_page=request.after is not None,
    )


def newest_first_request(
    first: int | None, after: str | None, *, default_size: int, max_size: int
) -> PageRequest:
    """A page of a list by descending integer id (cursors: [id]), or ValidationError."""
    problems = Problems()
    request = page_request(
        problems,
        first,
        after,
        default_size=default_size,
        max_size=max_size,
        key_shape=lambda k: len(k) == 1 and is_int_key(k[0]),
    )
    problems.raise_if_any()
    return request


async def newest_first(
    session: OperationSession,
    query: Select[Any],
    id_column: Any,
    first: int | None,
    after: str | None,
    *,
    default_size: int,
    max_size: int,
) -> Page[Any]:
    """Page a query of rows by descending integer id (their creation order)."""
    request = newest_first_request(first, after, default_size=default_size, max_size=max_size)
    query = query.order_by(id_column.desc()).limit(request.first + 1)
    if request.after:
        query = query.where(id_column < request.after[0])
    rows = list((await session.execute(query)).scalars())
    return make_page(rows, request, lambda row: [row.id])


async def rows_after(
    session: OperationSession, query: Select[Any], id_column: Any, after_id: int, limit: int
) -> list[Any]:
    """The next `limit` rows of `query` after an id, oldest first (subscriptions catching up
    from a cursor)."""
    statement = query.where(id_column > after_id).order_by(id_column).limit(limit)
    return list((await session.execute(statement)).scalars())
