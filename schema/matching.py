"""Matching: recommendations, like/pass/undo, matches, unmatch, interest requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from matching.scoring import explain
from models import (
    InterestRequest,
    InterestRequestStatus,
    Match,
    MatchOrigin,
    MatchStatus,
    Swipe,
    SwipeKind,
)
from rapport.rate_limits import Limit
from resolvers import blocks, chat, interest_requests, matching
from resolvers.interest_requests import Direction, Response
from schema.chat import ConversationType
from schema.errors import (
    AlreadyExists,
    AuthenticationRequired,
    NotAllowed,
    NotFound,
    RateLimited,
    ValidationError,
    expected_errors,
)
from schema.ids import Node, global_id
from schema.types import Connection, User, connection, parse_number, parse_user_id, person, today

SwipeKindEnum = strawberry.enum(SwipeKind, name="SwipeKind")
MatchOriginEnum = strawberry.enum(
    MatchOrigin, name="MatchOrigin", description="How a match formed."
)
MatchStatusEnum = strawberry.enum(MatchStatus, name="MatchStatus")
InterestRequestStatusEnum = strawberry.enum(InterestRequestStatus, name="InterestRequestStatus")
ResponseEnum = strawberry.enum(Response, name="InterestResponse")
DirectionEnum = strawberry.enum(Direction, name="InterestDirection")


@strawberry.type(description="One of your goals and the one of theirs closest in meaning.")
class AlignedGoal:
    yours: str = strawberry.field(description="A phrase of your goals, as you wrote it.")
    theirs: str = strawberry.field(description="A phrase of their goals, as they wrote it.")
    similarity: float = strawberry.field(description="Cosine similarity of the two (0.5..1).")


@strawberry.type(description="Why this person is recommended, in words and numbers.")
class Explanation:
    summary: str
    shared_interests: list[str] = strawberry.field(description="Rarest first.")
    aligned_goals: list[AlignedGoal] = strawberry.field(
        description="Which of your goals meet which of theirs, closest first (at most 3)."
    )
    goals_alignment: float = strawberry.field(
        description="Cosine similarity of your goals taken whole (-1..1)."
    )
    score_for_you: float = strawberry.field(description="How well they suit you.")
    score_for_them: float = strawberry.field(description="How well you suit them.")


@strawberry.type(
    description="Someone recommended to you. Its id is keyed by the person (yours only)."
)
class Recommendation:
    @strawberry.field
    def id(self) -> strawberry.ID:
        return global_id("Recommendation", self.user.profile.user_id)

    user: User
    score: float = strawberry.field(
        description="Harmonic mean of both directions, damped by popularity."
    )
    explanation: Explanation


@strawberry.type(name="Swipe")
class SwipeType(Node):
    row: strawberry.Private[Swipe]

    @classmethod
    def resolve_id(cls, root: SwipeType, *, info: Info) -> str:
        return str(root.row.id)

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        return await person(info, self.row.target_id)

    @strawberry.field
    def kind(self) -> SwipeKindEnum:  # type: ignore[valid-type]
        return self.row.kind

    @strawberry.field
    def note(self) -> str | None:
        return self.row.note

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def undone_at(self) -> datetime | None:
        return self.row.undone_at


@strawberry.type(name="Match")
class MatchType(Node):
    row: strawberry.Private[Match]
    viewer_id: strawberry.Private[uuid.UUID]

    @classmethod
    def resolve_id(cls, root: MatchType, *, info: Info) -> str:
        return str(root.row.id)

    @strawberry.field(description="The other person; null if their account is no longer active.")
    async def user(self, info: Info) -> User | None:
        return await person(info, matching.other(self.row, self.viewer_id))

    @strawberry.field(
        description="The conversation it opened, as `conversations` shows it to you (null if "
        "it is gone or no longer yours to see)."
    )
    async def conversation(self, info: Info) -> ConversationType | None:
        viewer = await info.context.require_viewer()
        assert self.row.id is not None  # a stored match
        view = await chat.conversation_of_match(info.context.session, viewer, self.row.id)
        return ConversationType(view=view, viewer_id=viewer.id) if view else None

    @strawberry.field
    def origin(self) -> MatchOriginEnum:  # type: ignore[valid-type]
        return self.row.origin

    @strawberry.field
    def status(self) -> MatchStatusEnum:  # type: ignore[valid-type]
        return self.row.status

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return self.row.ended_at

    @strawberry.field
    def ended_by_me(self) -> bool | None:
        return None if self.row.ended_by is None else self.row.ended_by == self.viewer_id


@strawberry.type(name="InterestRequest")
class InterestRequestType(Node):
    row: strawberry.Private[InterestRequest]

    @classmethod
    def resolve_id(cls, root: InterestRequestType, *, info: Info) -> str:
        return str(root.row.id)

    @strawberry.field
    async def sender(self, info: Info) -> User | None:
        return await person(info, self.row.sender_id)

    @strawberry.field
    async def receiver(self, info: Info) -> User | None:
        return await person(info, self.row.receiver_id)

    @strawberry.field
    def message(self) -> str:
        return self.row.message

    @strawberry.field
    def status(self) -> InterestRequestStatusEnum:  # type: ignore[valid-type]
        return self.row.status

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def responded_at(self) -> datetime | None:
        return self.row.responded_at


@strawberry.type
class BlockPayload:
    blocked: bool = strawberry.field(description="Whether a block now stands between you.")


@strawberry.type
class SwipePayload:
    swipe: SwipeType
    match: MatchType | None = strawberry.field(description="Set when this like made a match.")


@strawberry.type
class RespondPayload:
    request: InterestRequestType
    match: MatchType | None = strawberry.field(description="Set when the request was accepted.")


RecommendationsResult = Annotated[
    Connection[Recommendation]
    | ValidationError
    | NotAllowed
    | RateLimited
    | AuthenticationRequired,
    strawberry.union("RecommendationsResult"),
]
SwipeResult = Annotated[
    SwipePayload
    | ValidationError
    | NotFound
    | AlreadyExists
    | RateLimited
    | AuthenticationRequired,
    strawberry.union("SwipeResult"),
]
UndoSwipeResult = Annotated[
    SwipeType | NotAllowed | AuthenticationRequired, strawberry.union("UndoSwipeResult")
]
MatchesResult = Annotated[
    Connection[MatchType] | ValidationError | AuthenticationRequired,
    strawberry.union("MatchesResult"),
]
UnmatchResult = Annotated[
    MatchType | ValidationError | NotFound | NotAllowed | AuthenticationRequired,
    strawberry.union("UnmatchResult"),
]
SendInterestResult = Annotated[
    InterestRequestType
    | ValidationError
    | NotFound
    | AlreadyExists
    | RateLimited
    | AuthenticationRequired,
    strawberry.union("SendInterestResult"),
]
RespondResult = Annotated[
    RespondPayload | ValidationError | NotFound | NotAllowed | AuthenticationRequired,
    strawberry.union("RespondToInterestResult"),
]
CancelInterestResult = Annotated[
    InterestRequestType | ValidationError | NotFound | NotAllowed | AuthenticationRequired,
    strawberry.union("CancelInterestResult"),
]
BlockResult = Annotated[
    BlockPayload | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("BlockResult"),
]
InterestRequestsResult = Annotated[
    Connection[InterestRequestType] | ValidationError | AuthenticationRequired,
    strawberry.union("InterestRequestsResult"),
]


def _match(match: Match | None, viewer_id: uuid.UUID) -> MatchType | None:
    return MatchType(row=match, viewer_id=viewer_id) if match else None


def _recommendation(r: matching.Recommendation) -> Recommendation:
    return Recommendation(
        user=User(profile=r.profile),
        score=r.scored.score,
        explanation=Explanation(
            summary=explain(r.scored.shared_interests, r.aligned_goals, r.scored.goals_similarity),
            shared_interests=list(r.scored.shared_interests),
            aligned_goals=[
                AlignedGoal(yours=a.yours, theirs=a.theirs, similarity=a.similarity)
                for a in r.aligned_goals
            ],
            goals_alignment=round(r.scored.goals_similarity, 4),
            score_for_you=r.scored.for_viewer,  # rounded by the scorer (SCORE_DECIMALS)
            score_for_them=r.scored.for_candidate,
        ),
    )


@strawberry.type
class MatchingQueries:
    @strawberry.field(description="People who fit you and whom you fit, best first.")
    @expected_errors
    async def recommendations(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> RecommendationsResult:
        viewer = await info.context.require_viewer()
        sizes = info.context.page_sizes
        # Counted as the people asked for, before the list is read (README, Rate limits).
        shown = first if first is not None and 0 < first <= sizes["max_size"] else None
        await info.context.resources.rate_limits.hit(
            Limit.RECOMMENDATIONS_PER_HOUR, str(viewer.id), cost=shown or sizes["default_size"]
        )
        page = await matching.recommendations(
            info.context.session,
            info.context.resources.matcher,
            viewer,
            first=first,
            after=after,
            today=today(),
            **info.context.page_sizes,
        )
        return connection(page, _recommendation)

    @strawberry.field(description="Your matches, newest first, with their history.")
    @expected_errors
    async def matches(
        self,
        info: Info,
        status: MatchStatusEnum | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> MatchesResult:
        viewer = await info.context.require_viewer()
        page = await matching.matches(
            info.context.session,
            viewer,
            status=MatchStatus(status) if status else None,
            first=first,
            after=after,
            **info.context.page_sizes,
        )
        return connection(page, lambda m: MatchType(row=m, viewer_id=viewer.id))

    @strawberry.field(description="Interest requests you received or sent, newest first.")
    @expected_errors
    async def interest_requests(
        self,
        info: Info,
        direction: DirectionEnum = Direction.RECEIVED,  # type: ignore[valid-type]
        status: InterestRequestStatusEnum | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> InterestRequestsResult:
        viewer = await info.context.require_viewer()
        page = await interest_requests.listing(
            info.context.session,
            viewer,
            direction=Direction(direction),
            status=InterestRequestStatus(status) if status else None,
            first=first,
            after=after,
            **info.context.page_sizes,
        )
        return connection(page, lambda r: InterestRequestType(row=r))


@strawberry.type
class MatchingMutations:
    @strawberry.mutation(
        description="Like someone (with an optional note). A like back makes a match."
    )
    @expected_errors
    async def like(
        self, info: Info, user_id: strawberry.ID, note: str | None = None
    ) -> SwipeResult:
        viewer = await info.context.require_viewer()
        target = parse_user_id(user_id)
        limits = info.context.resources.rate_limits
        await limits.hit(Limit.LIKES_PER_MINUTE, str(viewer.id))
        await limits.hit(Limit.LIKES_PER_DAY, str(viewer.id))
        outcome = await matching.swipe(
            info.context.session,
            info.context.resources.matcher,
            viewer,
            target,
            SwipeKind.LIKE,
            note,
        )
        return SwipePayload(
            swipe=SwipeType(row=outcome.swipe), match=_match(outcome.match, viewer.id)
        )

    @strawberry.mutation(
        name="pass", description="Pass on someone: they leave your recommendations."
    )
    @expected_errors
    async def pass_(self, info: Info, user_id: strawberry.ID) -> SwipeResult:
        viewer = await info.context.require_viewer()
        outcome = await matching.swipe(
            info.context.session,
            info.context.resources.matcher,
            viewer,
            parse_user_id(user_id),
            SwipeKind.PASS,
        )
        return SwipePayload(swipe=SwipeType(row=outcome.swipe), match=None)

    @strawberry.mutation(
        description="Take back your latest like or pass (not one that made a match)."
    )
    @expected_errors
    async def undo_swipe(self, info: Info) -> UndoSwipeResult:
        viewer = await info.context.require_viewer()
        swipe = await matching.undo_swipe(
            info.context.session, info.context.resources.matcher, viewer
        )
        return SwipeType(row=swipe)

    @strawberry.mutation(description="End a match.")
    @expected_errors
    async def unmatch(self, info: Info, match_id: strawberry.ID) -> UnmatchResult:
        viewer = await info.context.require_viewer()
        match = await matching.unmatch(
            info.context.session,
            info.context.resources.matcher,
            viewer,
            parse_number(match_id, "matchId", "Match"),
        )
        return MatchType(row=match, viewer_id=viewer.id)

    @strawberry.mutation(
        description="Tell someone you'd like to meet them (message <= 280 characters)."
    )
    @expected_errors
    async def send_interest(
        self, info: Info, user_id: strawberry.ID, message: str = ""
    ) -> SendInterestResult:
        viewer = await info.context.require_viewer()
        target = parse_user_id(user_id)
        await info.context.resources.rate_limits.hit(
            Limit.INTEREST_REQUESTS_PER_DAY, str(viewer.id)
        )
        request = await interest_requests.send(
            info.context.session,
            info.context.resources.matcher,
            viewer,
            target,
            message,
        )
        return InterestRequestType(row=request)

    @strawberry.mutation(description="Accept (making a match) or reject a request you received.")
    @expected_errors
    async def respond_to_interest(
        self,
        info: Info,
        id: strawberry.ID,
        response: ResponseEnum,  # type: ignore[valid-type]
    ) -> RespondResult:
        viewer = await info.context.require_viewer()
        request, match = await interest_requests.respond(
            info.context.session,
            info.context.resources.matcher,
            viewer,
            parse_number(id, "id", "InterestRequest"),
            Response(response),
        )
        return RespondPayload(
            request=InterestRequestType(row=request), match=_match(match, viewer.id)
        )

    @strawberry.mutation(description="Withdraw a pending request you sent.")
    @expected_errors
    async def cancel_interest(self, info: Info, id: strawberry.ID) -> CancelInterestResult:
        viewer = await info.context.require_viewer()
        request = await interest_requests.cancel(
            info.context.session, viewer, parse_number(id, "id", "InterestRequest")
        )
        return InterestRequestType(row=request)

    @strawberry.mutation(
        description="Block someone: you vanish from each other everywhere (recommendations, "
        "profiles, matches, conversations, typing, receipts, presence, requests, "
        "notifications) until you unblock. They are not told."
    )
    @expected_errors
    async def block(self, info: Info, user_id: strawberry.ID) -> BlockResult:
        viewer = await info.context.require_viewer()
        await blocks.block(
            info.context.session, info.context.resources.matcher, viewer, parse_user_id(user_id)
        )
        return BlockPayload(blocked=True)

    @strawberry.mutation(description="Lift a block you made.")
    @expected_errors
    async def unblock(self, info: Info, user_id: strawberry.ID) -> BlockResult:
        viewer = await info.context.require_viewer()
        await blocks.unblock(
            info.context.session, info.context.resources.matcher, viewer, parse_user_id(user_id)
        )
        return BlockPayload(blocked=False)
