"""Interests: the catalogue (with user counts and prefix search) and setting your own."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import interests
from resolvers.interests import InterestOrder
from resolvers.operation import Operation
from schema.context import Info
from schema.errors import NotFound, ValidationError, expected_errors
from schema.fields import viewer_mutation
from schema.types import Connection, OwnProfile, connection

InterestOrderEnum = strawberry.enum(InterestOrder, name="InterestOrder")


@strawberry.type(name="InterestCount", description="A tag and how many people have it.")
class InterestCountType:
    name: str
    user_count: int


@strawberry.type
class InterestsPayload:
    interests: list[str] = strawberry.field(description="Normalised, alphabetical.")
    profile: OwnProfile = strawberry.field(
        description="Your profile with its new interests (for a normalised client cache)."
    )


InterestsResult = Annotated[
    Connection[InterestCountType] | ValidationError, strawberry.union("InterestsResult")
]


@strawberry.type
class InterestQueries:
    @strawberry.field(description="Interests people have, with counts; `prefix` filters by start.")
    @expected_errors
    async def interests(
        self,
        info: Info,
        prefix: str | None = None,
        order_by: InterestOrderEnum = InterestOrder.POPULAR,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> InterestsResult:
        page = await interests.catalogue(
            info.context.session,
            prefix=prefix,
            order=InterestOrder(order_by),
            first=first,
            after=after,
            **info.context.page_sizes,
        )
        return connection(page, lambda i: InterestCountType(name=i.name, user_count=i.user_count))


@strawberry.type
class InterestMutations:
    @viewer_mutation(
        "SetInterestsResult",
        description="Replace your interests (trimmed, case-folded, de-duplicated; at most 30).",
    )
    async def set_interests(self, op: Operation, names: list[str]) -> InterestsPayload | NotFound:
        tags, profile = await interests.set_interests(op, names)
        return InterestsPayload(interests=tags, profile=OwnProfile(profile=profile))
