"""Matching: recommendations, like/pass/undo, matches, unmatching."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from matching.scoring import explain
from models import Match, MatchOrigin, MatchStatus, Swipe, SwipeKind
from resolvers import matching
from resolvers.operation import Operation
from schema.chat import ConversationType
from schema.context import Info
from schema.errors import AlreadyExists, NotAllowed, NotFound, RateLimited
from schema.fields import viewer_field, viewer_mutation
from schema.ids import Node, global_id, node_id
from schema.types import Connection, User, connection, parse_number, parse_user_id, person, today

SwipeKindEnum = strawberry.enum(SwipeKind, name="SwipeKind")
MatchOriginEnum = strawberry.enum(
    MatchOrigin, name="MatchOrigin", description="How a match formed."
)
MatchStatusEnum = strawberry.enum(MatchStatus, name="MatchStatus")


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
    user: User
    score: float = strawberry.field(
        description="Harmonic mean of both directions, damped by popularity."
    )
    explanation: Explanation
    id: strawberry.ID


@strawberry.type(name="Swipe")
class SwipeType(Node):
    row: strawberry.Private[Swipe]

    @classmethod
    def resolve_id(cls, root: SwipeType, *, info: Info) -> str:
        return str(root.row.id)

    async def _user(self, info: Info) -> User | None:
        return await person(info, self.row.target_id)

    user: User | None = strawberry.field(resolver=_user)
    kind: SwipeKindEnum  # type: ignore[valid-type]
    note: str | None
    created_at: datetime
    undone_at: datetime | None

    def __init__(self, row: Swipe) -> None:
        self.row = row
        self.kind, self.note = row.kind, row.note
        self.created_at, self.undone_at = row.created_at, row.undone_at


@strawberry.type(name="Match")
class MatchType(Node):
    row: strawberry.Private[Match]
    viewer_id: strawberry.Private[uuid.UUID]
    id: strawberry.ID = node_id()

    @classmethod
    def resolve_id(cls, root: MatchType, *, info: Info) -> str:
        return str(root.row.id)

    async def _conversation(self, info: Info) -> ConversationType | None:
        assert self.row.id is not None  # a stored match
        view = await info.context.loaders.match_conversation.load(self.row.id)
        return ConversationType(view=view, viewer_id=self.viewer_id) if view else None

    user: User | None = strawberry.field(
        description="The other person; null if their account is no longer active."
    )
    conversation: ConversationType | None = strawberry.field(
        resolver=_conversation,
        description="The conversation it opened, as `conversations` shows it to you (null if "
        "it is gone or no longer yours to see).",
    )
    origin: MatchOriginEnum  # type: ignore[valid-type]
    status: MatchStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    ended_at: datetime | None
    ended_by_me: bool | None

    def __init__(self, view: matching.MatchView, viewer_id: uuid.UUID) -> None:
        row = self.row = view.match
        self.viewer_id = viewer_id
        self.id = global_id("Match", row.id)
        self.user = User(view.other) if view.other else None
        self.origin, self.status = row.origin, row.status
        self.created_at, self.ended_at = row.created_at, row.ended_at
        self.ended_by_me = None if row.ended_by is None else row.ended_by == viewer_id


@strawberry.type
class SwipePayload:
    swipe: SwipeType
    match: MatchType | None = strawberry.field(description="Set when this like made a match.")


async def match_type(op: Operation, match: Match | None) -> MatchType | None:
    """A match as its person sees it, if there is one (as `matches` lists it)."""
    return MatchType(await matching.view_of(op, match), op.viewer.id) if match else None


def _recommendation(r: matching.Recommendation) -> Recommendation:
    return Recommendation(
        id=global_id("Recommendation", r.profile.user_id),
        user=User(r.profile),
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
    @viewer_field(
        "RecommendationsResult",
        description="People who fit you and whom you fit, best first.",
    )
    async def recommendations(
        self, op: Operation, first: int | None = None, after: str | None = None
    ) -> Connection[Recommendation] | NotAllowed | RateLimited:
        page = await matching.recommendations(op, first=first, after=after, today=today())
        return connection(page, _recommendation)

    @viewer_field("MatchesResult", description="Your matches, newest first, with their history.")
    async def matches(
        self,
        op: Operation,
        status: MatchStatusEnum | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[MatchType]:
        page = await matching.matches(
            op, status=MatchStatus(status) if status else None, first=first, after=after
        )
        viewer_id = op.viewer.id  # once: an attribute of the account's ORM row
        return connection(page, lambda view: MatchType(view, viewer_id))


@strawberry.type
class MatchingMutations:
    @viewer_mutation(
        "SwipeResult",
        description="Like someone (with an optional note). A like back makes a match.",
    )
    async def like(
        self, op: Operation, user_id: strawberry.ID, note: str | None = None
    ) -> SwipePayload | NotFound | AlreadyExists | RateLimited:
        outcome = await matching.swipe(op, parse_user_id(user_id), SwipeKind.LIKE, note)
        return SwipePayload(
            swipe=SwipeType(row=outcome.swipe), match=await match_type(op, outcome.match)
        )

    @viewer_mutation(
        "SwipeResult",
        name="pass",
        description="Pass on someone: they leave your recommendations.",
    )
    async def pass_(
        self, op: Operation, user_id: strawberry.ID
    ) -> SwipePayload | NotFound | AlreadyExists | RateLimited:
        outcome = await matching.swipe(op, parse_user_id(user_id), SwipeKind.PASS)
        return SwipePayload(swipe=SwipeType(row=outcome.swipe), match=None)

    @viewer_mutation(
        "UndoSwipeResult",
        description="Take back your latest like or pass (not one that made a match).",
    )
    async def undo_swipe(self, op: Operation) -> SwipeType | NotAllowed:
        return SwipeType(row=await matching.undo_swipe(op))

    @viewer_mutation("UnmatchResult", description="End a match.")
    async def unmatch(
        self, op: Operation, match_id: strawberry.ID
    ) -> MatchType | NotFound | NotAllowed:
        match = await matching.unmatch(op, parse_number(match_id, "matchId", "Match"))
        return MatchType(await matching.view_of(op, match), op.viewer.id)
