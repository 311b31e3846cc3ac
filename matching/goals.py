"""Which goals align: each profile's goals are split into phrases (sentences, list items),
each phrase embedded with the profile (goal_phrases), and an explanation pairs each of the
viewer's phrases with the other person's closest one, keeping the pairs that mean nearly the
same thing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

MAX_PHRASES = 8  # goals are at most 1,000 characters; past 8 phrases, the rest are dropped
MIN_LENGTH = 4
ALIGNED = 0.5  # cosine of two phrase embeddings from which they count as aligned
SHOWN = 3  # aligned pairs reported per person

_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\s*[;\n\u2022]+\s*|\s+-\s+|^\s*-\s+")


def split_goals(goals: str) -> list[str]:
    """The goals' phrases in order, without duplicates or fragments too short to mean much;
    empty exactly when the goals are blank."""
    phrases = (p.strip(" \t-*") for p in _BOUNDARY.split(goals))
    unique = list(dict.fromkeys(p for p in phrases if len(p) >= MIN_LENGTH))
    if not unique and goals.strip():  # only fragments: the whole text is the one phrase
        unique = [goals.strip()]
    return unique[:MAX_PHRASES]


@dataclass(frozen=True, slots=True)
class AlignedGoal:
    yours: str
    theirs: str
    similarity: float


# For each of the others and each of the viewer's phrases, the other's closest phrase.
_ALIGNED_SQL = text("""
SELECT DISTINCT ON (t.user_id, m.position)
       t.user_id, m.phrase AS yours, t.phrase AS theirs,
       1 - (m.embedding <=> t.embedding) AS similarity
FROM goal_phrases m
JOIN goal_phrases t ON t.user_id = ANY(CAST(:others AS uuid[]))
WHERE m.user_id = :viewer
ORDER BY t.user_id, m.position, m.embedding <=> t.embedding, t.position
""")


async def aligned_goals(
    session: AsyncSession, viewer: uuid.UUID, others: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AlignedGoal]]:
    """Per other person, the viewer's goal phrases that align with one of theirs, closest
    first (at most SHOWN, each of their phrases used once); people with none are absent."""
    if not others:
        return {}
    rows = await session.execute(_ALIGNED_SQL, {"viewer": viewer, "others": list(others)})
    candidates: dict[uuid.UUID, list[AlignedGoal]] = {}
    for user_id, yours, theirs, similarity in rows:
        if similarity >= ALIGNED:
            pair = AlignedGoal(yours, theirs, round(float(similarity), 4))
            candidates.setdefault(user_id, []).append(pair)
    aligned = {}
    for user_id, pairs in candidates.items():
        pairs.sort(key=lambda p: -p.similarity)
        seen: set[str] = set()
        kept = []
        for pair in pairs:
            if pair.theirs not in seen:
                seen.add(pair.theirs)
                kept.append(pair)
        aligned[user_id] = kept[:SHOWN]
    return aligned
