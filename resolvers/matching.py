"""Recommendations, likes, passes, undo, matches and unmatching."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from matching.cache import RankingCache
from matching.embeddings import AsyncEncoder
from matching.goals import AlignedGoal, aligned_goals
from matching.ranking import rank
from matching.scoring import Scored
from models import (
    Conversation,
    Match,
    MatchOrigin,
    MatchStatus,
    NotificationKind,
    Profile,
    Swipe,
    SwipeKind,
)
from models.base import from_row, utcnow
from models.matching import MAX_NOTE, ordered_pair, other_of
from rapport.db import OperationSession
from rapport.errors import (
    AlreadyExists,
    ErrorCode,
    NotAllowedError,
    NotFoundError,
    Problems,
)
from rapport.rate_limits import Limit
from resolvers import validation
from resolvers.accounts import Viewer
from resolvers.chat import open_conversation
from resolvers.effects import DropRanking, HideFromRanking
from resolvers.notifications import notify
from resolvers.operation import Operation
from resolvers.pagination import (
    Page,
    PageRequest,
    is_number_key,
    is_text_key,
    make_page,
    newest_first_request,
    page_request,
    page_sizes,
)
from resolvers.profiles import PERSON_COLUMNS, Person, people, person_of
from resolvers.visibility import active_account, blocked_between, not_yourself


@dataclass(frozen=True)
class Matcher:
    """What matching needs besides the database, created once in the app's lifespan."""

    encoder: AsyncEncoder
    cache: RankingCache


@dataclass(frozen=True, slots=True)
class Recommendation:
    profile: Person
    scored: Scored
    aligned_goals: list[AlignedGoal]  # which of the viewer's goals meet which of theirs


def _is_key(key: list[Any]) -> bool:
    return len(key) == 2 and is_number_key(key[0]) and is_text_key(key[1])


async def recommendations(
    op: Operation, *, first: int | None, after: str | None, today: date
) -> Page[Recommendation]:
    """People who fit the viewer and whom the viewer fits, best first. Spends
    `recommendations_per_hour` as the people asked for, before the list is read (README,
    Rate limits)."""
    session, viewer, sizes = op.session, op.viewer, page_sizes(op.resources.settings)
    shown = first if first is not None and 0 < first <= sizes["max_size"] else None
    await op.hit(Limit.RECOMMENDATIONS_PER_HOUR, cost=shown or sizes["default_size"])
    problems = Problems()
    request = page_request(problems, first, after, **sizes, key_shape=_is_key)
    problems.raise_if_any()
    cache = op.resources.matcher.cache
    ranking = await cache.get(viewer.id)
    if not ranking:  # never built, dropped, or used up: build afresh (empty lists are not kept)
        ranking = await rank(session, viewer.id, today)
        if ranking is None:
            raise NotAllowedError(
                ErrorCode.PROFILE_REQUIRED, "Create your profile to get recommendations."
            )
        if ranking:
            await cache.put(viewer.id, ranking)
    return await _page(session, op.resources.raw_pool, viewer.id, ranking, request)


async def _page(
    session: OperationSession,
    pool: asyncpg.Pool,
    viewer_id: uuid.UUID,
    ranking: list[Scored],
    request: PageRequest,
) -> Page[Recommendation]:
    """Keyset over (score desc, id): pages stay stable while the list shrinks or is rebuilt."""
    start = 0
    if request.after:
        last = (-float(request.after[0]), request.after[1])
        start = next(
            (i for i, s in enumerate(ranking) if (-s.score, str(s.user_id)) > last), len(ranking)
        )
    window = ranking[start : start + request.first + 1]
    found = await people(pool, [s.user_id for s in window])
    shown = {p.user_id: p for p in found if p is not None}
    aligned = await aligned_goals(session, viewer_id, list(shown))
    items = [
        Recommendation(shown[s.user_id], s, aligned.get(s.user_id, []))
        for s in window
        if s.user_id in shown
    ]
    return make_page(items, request, lambda r: [r.scored.score, str(r.scored.user_id)])


async def lock_pair(session: OperationSession, a: uuid.UUID, b: uuid.UUID) -> None:
    """Serialise everything two people do to each other (likes, requests) until commit."""
    low, high = ordered_pair(a, b)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"{low}:{high}"}
    )


async def check_target(
    session: OperationSession, viewer: Viewer, target_id: uuid.UUID, field: str
) -> None:
    """The target is someone else, active, with a profile, and neither has blocked the other.
    Unknown, inactive and blocked all read as NotFound: a block is not revealed."""
    not_yourself(viewer.id, target_id, field)
    found = (
        await session.execute(
            select(col(Profile.user_id)).where(
                col(Profile.user_id) == target_id, active_account(col(Profile.user_id))
            )
        )
    ).first()
    blocked = await session.scalar(select(blocked_between(viewer.id, target_id)))
    if found is None or blocked:
        raise NotFoundError("No such user.", field=field, id=str(target_id))


async def active_match(session: OperationSession, a: uuid.UUID, b: uuid.UUID) -> Match | None:
    low, high = ordered_pair(a, b)
    return (
        await session.execute(
            select(Match).where(
                col(Match.user_low) == low,
                col(Match.user_high) == high,
                col(Match.status) == MatchStatus.ACTIVE,
            )
        )
    ).scalar_one_or_none()


async def prepare_pair_action(
    session: OperationSession, viewer: Viewer, target_id: uuid.UUID, field: str
) -> None:
    """The shared start of a like, a pass and an interest request: the target must pass
    check_target; then the pair lock is taken (held until commit) and an active match between
    the two is refused with AlreadyExists."""
    await check_target(session, viewer, target_id, field)
    await lock_pair(session, viewer.id, target_id)
    if await active_match(session, viewer.id, target_id) is not None:
        raise AlreadyExists("You are already matched with this person.", field=field)


async def create_match(
    session: OperationSession, a: uuid.UUID, b: uuid.UUID, origin: MatchOrigin
) -> Match:
    """Exactly one active match per pair (callers hold the pair lock; the partial unique index
    backs it up), with its conversation."""
    existing = await active_match(session, a, b)
    if existing is not None:
        return existing
    low, high = ordered_pair(a, b)
    match = Match(user_low=low, user_high=high, origin=origin)
    session.add(match)
    await session.flush()
    await open_conversation(session, match)
    return match


async def match_refs(session: OperationSession, match: Match) -> dict[str, int]:
    """What a notification about a new match points to: the match and its conversation."""
    conversation_id = await session.scalar(
        select(col(Conversation.id)).where(col(Conversation.match_id) == match.id)
    )
    return {"matchId": int(match.id or 0), "conversationId": int(conversation_id or 0)}


@dataclass(frozen=True, slots=True)
class SwipeOutcome:
    swipe: Swipe
    match: Match | None


async def swipe(
    op: Operation, target_id: uuid.UUID, kind: SwipeKind, note: str | None = None
) -> SwipeOutcome:
    """A like (with an optional note; spends `likes_per_minute` and `likes_per_day`) or a
    pass. A like back makes a match."""
    session, viewer = op.session, op.viewer
    if kind is SwipeKind.LIKE:
        await op.hit(Limit.LIKES_PER_MINUTE)
        await op.hit(Limit.LIKES_PER_DAY)
    problems = Problems()
    cleaned = (
        validation.text(problems, "note", note, max_length=MAX_NOTE) if note is not None else None
    )
    problems.raise_if_any()
    await prepare_pair_action(session, viewer, target_id, "userId")
    inserted = (
        await session.execute(
            insert(Swipe)
            .values(swiper_id=viewer.id, target_id=target_id, kind=kind, note=cleaned or None)
            .on_conflict_do_nothing(
                index_elements=["swiper_id", "target_id"], index_where=text("undone_at IS NULL")
            )
            .returning(col(Swipe.id))
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise AlreadyExists("You already decided on this person: undo that first.", field="userId")
    match = None
    if kind is SwipeKind.LIKE:
        liked_back = (
            await session.execute(
                select(col(Swipe.id)).where(
                    col(Swipe.swiper_id) == target_id,
                    col(Swipe.target_id) == viewer.id,
                    col(Swipe.kind) == SwipeKind.LIKE,
                    col(Swipe.undone_at).is_(None),
                )
            )
        ).first()
        if liked_back is not None:
            match = await create_match(session, viewer.id, target_id, MatchOrigin.MUTUAL_LIKE)
            # The person liked back learns of it; the viewer sees it in the answer.
            await notify(
                session,
                target_id,
                NotificationKind.NEW_MATCH,
                actor_id=viewer.id,
                data=await match_refs(session, match),
            )
    row = await session.get_one(Swipe, inserted)
    session.after_commit(HideFromRanking(viewer.id, target_id))
    if kind is SwipeKind.PASS or match is not None:
        # A pass is mutual for matching (whoever is passed on no longer sees the passer), and
        # a match leaves both lists.
        session.after_commit(HideFromRanking(target_id, viewer.id))
    await session.commit()
    return SwipeOutcome(row, match)


async def undo_swipe(op: Operation) -> Swipe:
    """Take back the latest live like or pass, unless it already made a match."""
    session, viewer = op.session, op.viewer
    latest = (
        await session.execute(
            select(Swipe)
            .where(col(Swipe.swiper_id) == viewer.id, col(Swipe.undone_at).is_(None))
            .order_by(col(Swipe.created_at).desc(), col(Swipe.id).desc())
            .limit(1)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if latest is None:
        raise NotAllowedError(ErrorCode.NOTHING_TO_UNDO, "There is no like or pass to undo.")
    if await active_match(session, viewer.id, latest.target_id) is not None:
        raise NotAllowedError(ErrorCode.ALREADY_MATCHED, "That like made a match: unmatch instead.")
    latest.undone_at = utcnow()
    session.after_commit(DropRanking(viewer.id))  # the person comes back into the list
    await session.commit()
    return latest


async def unmatch(op: Operation, match_id: int) -> Match:
    """End one of the viewer's active matches."""
    session, viewer = op.session, op.viewer
    match = (
        await session.execute(select(Match).where(col(Match.id) == match_id).with_for_update())
    ).scalar_one_or_none()
    if match is None or viewer.id not in (match.user_low, match.user_high):
        raise NotFoundError("No such match.", field="matchId", id=str(match_id))
    if match.status is not MatchStatus.ACTIVE:
        raise NotAllowedError(ErrorCode.NOT_PENDING, "This match has already ended.")
    match.status, match.ended_at, match.ended_by = MatchStatus.UNMATCHED, utcnow(), viewer.id
    await session.commit()
    return match


@dataclass(frozen=True, slots=True)
class MatchView:
    """A match as one of its two people sees it, with the other person (None once their
    account is no longer active)."""

    match: Match
    other: Person | None


_MATCH_COLUMNS = tuple(c.name for c in Match.__table__.columns)  # type: ignore[attr-defined]

# The viewer's matches are one statement on the plain asyncpg pool (resolvers/profiles.py
# public_profile says why): a page of them, newest first, none across a block (block_pairs),
# each with the other person if their account is active (active_users). $2: a status or
# NULL for all; $3: the id of the last match of the page before, or NULL.
_MATCHES_SQL = f"""
SELECT {", ".join(f"m.{c}" for c in _MATCH_COLUMNS)}, {PERSON_COLUMNS}
FROM matches m
LEFT JOIN (profiles p JOIN active_users u ON u.id = p.user_id)  -- visibility.py active_account
  -- the other of the two (models/matching.py other_of)
  ON p.user_id = CASE WHEN m.user_low = $1 THEN m.user_high ELSE m.user_low END
WHERE (m.user_low = $1 OR m.user_high = $1)
  AND NOT EXISTS (  -- resolvers/visibility.py blocked_between
    SELECT 1 FROM block_pairs bp WHERE bp.person = m.user_low AND bp.other = m.user_high
  )
  AND ($2::text IS NULL OR m.status = $2::text)
  AND ($3::bigint IS NULL OR m.id < $3::bigint)
ORDER BY m.id DESC
LIMIT $4
"""  # noqa: S608 (column names come from the models; the only inputs are parameters)


def _match_view(record: Sequence[Any]) -> MatchView:
    width = len(_MATCH_COLUMNS)
    match = from_row(Match, dict(zip(_MATCH_COLUMNS, record[:width], strict=True)))
    return MatchView(match, person_of(record[width:]) if record[width] is not None else None)


async def matches(
    op: Operation, *, status: MatchStatus | None, first: int | None, after: str | None
) -> Page[MatchView]:
    """The viewer's matches, newest first, with how and when they formed and ended (none
    across a block), each with the other person."""
    request = newest_first_request(first, after, **page_sizes(op.resources.settings))
    records = await op.resources.raw_pool.fetch(
        _MATCHES_SQL,
        op.viewer.id,
        status.value if status is not None else None,
        request.after[0] if request.after else None,
        request.first + 1,
    )
    return make_page([_match_view(r) for r in records], request, lambda v: [v.match.id])


async def view_of(op: Operation, match: Match) -> MatchView:
    """One match as the viewer (one of its two people) sees it, as `matches` lists it."""
    (other,) = await people(
        op.resources.raw_pool, [other_of(match.user_low, match.user_high, op.viewer.id)]
    )
    return MatchView(match, other)


_CONVERSATIONS_OF_SQL = "SELECT match_id, id FROM conversations WHERE match_id = ANY($1::bigint[])"


async def conversations_of(pool: asyncpg.Pool, match_ids: Sequence[int]) -> dict[int, int]:
    """Batch: the conversation each match opened, by match id (none for a match without)."""
    return {row[0]: row[1] for row in await pool.fetch(_CONVERSATIONS_OF_SQL, match_ids)}
