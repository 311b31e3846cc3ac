"""Blocking and unblocking."""

from __future__ import annotations

import strawberry

from resolvers import blocks
from resolvers.operation import Operation
from schema.errors import NotFound
from schema.fields import viewer_mutation
from schema.types import parse_user_id


@strawberry.type
class BlockPayload:
    blocked: bool = strawberry.field(description="Whether a block now stands between you.")


@strawberry.type
class BlockMutations:
    @viewer_mutation(
        "BlockResult",
        description="Block someone: you vanish from each other everywhere (recommendations, "
        "profiles, matches, conversations, typing, receipts, presence, requests, "
        "notifications) until you unblock. They are not told.",
    )
    async def block(self, op: Operation, user_id: strawberry.ID) -> BlockPayload | NotFound:
        await blocks.block(op, parse_user_id(user_id))
        return BlockPayload(blocked=True)

    @viewer_mutation("BlockResult", description="Lift a block you made.")
    async def unblock(self, op: Operation, user_id: strawberry.ID) -> BlockPayload | NotFound:
        await blocks.unblock(op, parse_user_id(user_id))
        return BlockPayload(blocked=False)
