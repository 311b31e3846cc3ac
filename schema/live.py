"""One way to write a subscription field for the signed-in viewer: sign them in, call the
rule's stream (resolvers/live.py) with the operation, map each item it yields. A refusal (a
`DomainError`: not signed in, an invalid argument, not found) is the subscription's one typed
event. The operation's session is never opened: each read of a stream takes a short session
of its own."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

from rapport.errors import DomainError
from resolvers.operation import Operation
from schema.context import Info
from schema.errors import to_graphql

T = TypeVar("T")


async def each(
    info: Info,
    stream: Callable[[Operation], AsyncGenerator[T, None]],
    item: Callable[[Operation, T], Any],
) -> AsyncIterator[Any]:
    """`item(op, x)` for each `x` of `stream(op)`; typed Any because each subscription's
    union differs. Arguments are best parsed inside `stream`: a sign-in error comes first."""
    try:
        op = info.context.operation(await info.context.require_viewer())
        async with aclosing(stream(op)) as items:
            async for x in items:
                yield item(op, x)
    except DomainError as error:
        yield to_graphql(error)
