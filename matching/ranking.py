"""Build a viewer's ranked recommendations: reciprocal candidates, rarity-weighted interests,
recent popularity, then scores."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from matching.candidates import reciprocal_candidates
from matching.scoring import Scored, idf, score

RANKING_SIZE = 100  # candidates scored and cached per viewer: five pages of 20

_INTERESTS_SQL = text("""
SELECT ui.user_id, i.name, i.user_count
FROM user_interests ui JOIN interests i ON i.id = ui.interest_id
WHERE ui.user_id = ANY(CAST(:ids AS uuid[]))
""")
# How many people there are, for rarity weights: planner statistics once the table is large
# (no count(*) over 100k rows per request), an exact count while it is small or never analysed.
_PEOPLE_SQL = text("""
SELECT CASE WHEN reltuples >= 10000 THEN reltuples::bigint
            ELSE (SELECT count(*) FROM profiles) END
FROM pg_class WHERE oid = 'profiles'::regclass
""")
_LIKES_SQL = text("""
SELECT target_id, count(*) FROM swipes
WHERE target_id = ANY(CAST(:ids AS uuid[])) AND kind = 'like' AND undone_at IS NULL
  AND created_at > now() - interval '7 days'
GROUP BY target_id
""")


async def rank(
    session: AsyncSession, viewer: uuid.UUID, today: date, size: int = RANKING_SIZE
) -> list[Scored] | None:
    """None when the viewer cannot be matched yet (no profile or embedding)."""
    found = await reciprocal_candidates(session, viewer, today, size)
    if found is None:
        return None
    seeker, candidates = found
    if not candidates:
        return []
    ids = [viewer, *(c.user_id for c in candidates)]
    people = int((await session.execute(_PEOPLE_SQL)).scalar_one())
    interests: dict[uuid.UUID, set[str]] = {}
    weights: dict[str, float] = {}
    for user_id, name, count in await session.execute(_INTERESTS_SQL, {"ids": ids}):
        interests.setdefault(user_id, set()).add(name)
        weights[name] = idf(count, max(people, count))
    likes: dict[uuid.UUID, int] = {
        target: count for target, count in await session.execute(_LIKES_SQL, {"ids": ids[1:]})
    }
    return score(seeker, candidates, interests, weights, likes)
