"""Interest requests: a direct "I'd like to meet you" with a message, answered by the receiver;
accepting makes the match."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from models import InterestRequest, InterestRequestStatus, Match, MatchOrigin, NotificationKind
from models.base import utcnow
from models.matching import MAX_NOTE
from rapport.db import OperationSession
from rapport.errors import AlreadyExists, ErrorCode, NotAllowedError, NotFoundError, Problems
from rapport.rate_limits import Limit
from resolvers import validation
from resolvers.accounts import Viewer
from resolvers.effects import HideFromRanking
from resolvers.matching import create_match, lock_pair, match_refs, prepare_pair_action
from resolvers.notifications import notify
from resolvers.operation import Operation
from resolvers.pagination import Page, newest_first, page_sizes
from resolvers.visibility import blocked_between


class Response(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class Direction(StrEnum):
    RECEIVED = "received"
    SENT = "sent"


async def send(op: Operation, receiver_id: uuid.UUID, message: str) -> InterestRequest:
    """Tell someone the viewer would like to meet them (spends `interest_requests_per_day`)."""
    session, viewer = op.session, op.viewer
    await op.hit(Limit.INTEREST_REQUESTS_PER_DAY)
    problems = Problems()
    cleaned = (
        validation.text(problems, "message", message, max_length=MAX_NOTE, multiline=True) or ""
    )
    problems.raise_if_any()
    await prepare_pair_action(session, viewer, receiver_id, "userId")
    request_id = (
        await session.execute(
            insert(InterestRequest)
            .values(
                sender_id=viewer.id,
                receiver_id=receiver_id,
                message=cleaned,
                status=InterestRequestStatus.PENDING,
            )
            .on_conflict_do_nothing(
                index_elements=["sender_id", "receiver_id"],
                index_where=text("status = 'pending'"),
            )
            .returning(col(InterestRequest.id))
        )
    ).scalar_one_or_none()
    if request_id is None:
        raise AlreadyExists("You already have a pending request to this person.", field="userId")
    request = await session.get_one(InterestRequest, request_id)
    await notify(
        session,
        receiver_id,
        NotificationKind.INTEREST_RECEIVED,
        actor_id=viewer.id,
        data={"requestId": request_id},
    )
    session.after_commit(
        HideFromRanking(viewer.id, receiver_id), HideFromRanking(receiver_id, viewer.id)
    )
    await session.commit()
    return request


async def _own_pending(
    session: OperationSession, viewer: Viewer, request_id: int, *, as_receiver: bool
) -> InterestRequest:
    """The pending request, locked, if the viewer is its receiver (or sender); else refused.
    Someone else's request reads as unknown: its existence is not the viewer's business."""
    request = (
        await session.execute(
            select(InterestRequest).where(col(InterestRequest.id) == request_id).with_for_update()
        )
    ).scalar_one_or_none()
    if request is None or viewer.id not in (request.receiver_id, request.sender_id):
        raise NotFoundError("No such interest request.", field="id", id=str(request_id))
    if (request.receiver_id if as_receiver else request.sender_id) != viewer.id:
        who = "the person who received it can answer" if as_receiver else "the sender can cancel"
        raise NotAllowedError(ErrorCode.NOT_YOURS, f"Only {who}.")
    if request.status is not InterestRequestStatus.PENDING:
        raise NotAllowedError(
            ErrorCode.NOT_PENDING, f"This request is already {request.status.value}."
        )
    return request


async def respond(
    op: Operation, request_id: int, response: Response
) -> tuple[InterestRequest, Match | None]:
    """Accept (making the match) or reject a pending request the viewer received."""
    session, viewer = op.session, op.viewer
    request = await _own_pending(session, viewer, request_id, as_receiver=True)
    match = None
    if response is Response.ACCEPT:
        await lock_pair(session, request.sender_id, request.receiver_id)
        match = await create_match(
            session, request.sender_id, request.receiver_id, MatchOrigin.INTEREST_REQUEST
        )
        request.status = InterestRequestStatus.ACCEPTED
        await notify(
            session,
            request.sender_id,
            NotificationKind.INTEREST_ACCEPTED,
            actor_id=viewer.id,
            data={"requestId": request.id, **await match_refs(session, match)},
        )
    else:
        request.status = InterestRequestStatus.REJECTED
    request.responded_at = utcnow()
    await session.commit()
    return request, match


async def cancel(op: Operation, request_id: int) -> InterestRequest:
    """Withdraw a pending request the viewer sent."""
    session = op.session
    request = await _own_pending(session, op.viewer, request_id, as_receiver=False)
    request.status, request.responded_at = InterestRequestStatus.CANCELLED, utcnow()
    await session.commit()
    return request


async def listing(
    op: Operation,
    *,
    direction: Direction,
    status: InterestRequestStatus | None,
    first: int | None,
    after: str | None,
) -> Page[InterestRequest]:
    """Requests the viewer received or sent, newest first (none across a block)."""
    mine = col(
        InterestRequest.receiver_id
        if direction is Direction.RECEIVED
        else InterestRequest.sender_id
    )
    query = select(InterestRequest).where(
        mine == op.viewer.id,
        ~blocked_between(col(InterestRequest.sender_id), col(InterestRequest.receiver_id)),
    )
    if status is not None:
        query = query.where(col(InterestRequest.status) == status)
    sizes = page_sizes(op.resources.settings)
    return await newest_first(op.session, query, col(InterestRequest.id), first, after, **sizes)
