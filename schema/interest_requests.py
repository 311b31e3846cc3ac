"""Interest requests: send, answer, cancel, list."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models import InterestRequest, InterestRequestStatus
from resolvers import interest_requests
from resolvers.interest_requests import Direction, Response
from resolvers.operation import Operation
from schema.context import Info
from schema.errors import AlreadyExists, NotAllowed, NotFound, RateLimited
from schema.fields import viewer_field, viewer_mutation
from schema.ids import Node
from schema.matching import MatchType, match_type
from schema.types import Connection, User, connection, parse_number, parse_user_id, person

InterestRequestStatusEnum = strawberry.enum(InterestRequestStatus, name="InterestRequestStatus")
ResponseEnum = strawberry.enum(Response, name="InterestResponse")
DirectionEnum = strawberry.enum(Direction, name="InterestDirection")


@strawberry.type(name="InterestRequest")
class InterestRequestType(Node):
    row: strawberry.Private[InterestRequest]

    @classmethod
    def resolve_id(cls, root: InterestRequestType, *, info: Info) -> str:
        return str(root.row.id)

    async def _sender(self, info: Info) -> User | None:
        return await person(info, self.row.sender_id)

    async def _receiver(self, info: Info) -> User | None:
        return await person(info, self.row.receiver_id)

    sender: User | None = strawberry.field(resolver=_sender)
    receiver: User | None = strawberry.field(resolver=_receiver)
    message: str
    status: InterestRequestStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    responded_at: datetime | None

    def __init__(self, row: InterestRequest) -> None:
        self.row = row
        self.message, self.status = row.message, row.status
        self.created_at, self.responded_at = row.created_at, row.responded_at


@strawberry.type
class RespondPayload:
    request: InterestRequestType
    match: MatchType | None = strawberry.field(description="Set when the request was accepted.")


@strawberry.type
class InterestRequestQueries:
    @viewer_field(
        "InterestRequestsResult",
        description="Interest requests you received or sent, newest first.",
    )
    async def interest_requests(
        self,
        op: Operation,
        direction: DirectionEnum = Direction.RECEIVED,  # type: ignore[valid-type]
        status: InterestRequestStatusEnum | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[InterestRequestType]:
        page = await interest_requests.listing(
            op,
            direction=Direction(direction),
            status=InterestRequestStatus(status) if status else None,
            first=first,
            after=after,
        )
        return connection(page, lambda r: InterestRequestType(row=r))


@strawberry.type
class InterestRequestMutations:
    @viewer_mutation(
        "SendInterestResult",
        description="Tell someone you'd like to meet them (message <= 280 characters).",
    )
    async def send_interest(
        self, op: Operation, user_id: strawberry.ID, message: str = ""
    ) -> InterestRequestType | NotFound | AlreadyExists | RateLimited:
        request = await interest_requests.send(op, parse_user_id(user_id), message)
        return InterestRequestType(row=request)

    @viewer_mutation(
        "RespondToInterestResult",
        description="Accept (making a match) or reject a request you received.",
    )
    async def respond_to_interest(
        self,
        op: Operation,
        id: strawberry.ID,
        response: ResponseEnum,  # type: ignore[valid-type]
    ) -> RespondPayload | NotFound | NotAllowed:
        request, match = await interest_requests.respond(
            op, parse_number(id, "id", "InterestRequest"), Response(response)
        )
        return RespondPayload(
            request=InterestRequestType(row=request), match=await match_type(op, match)
        )

    @viewer_mutation("CancelInterestResult", description="Withdraw a pending request you sent.")
    async def cancel_interest(
        self, op: Operation, id: strawberry.ID
    ) -> InterestRequestType | NotFound | NotAllowed:
        request = await interest_requests.cancel(op, parse_number(id, "id", "InterestRequest"))
        return InterestRequestType(row=request)
