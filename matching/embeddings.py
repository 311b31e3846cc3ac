"""Profile embeddings: what text is embedded, when, and how it is stored.

Each profile has two vectors, of its goals and of its bio, plus `combined` (their weighted,
re-normalised sum) that the HNSW index searches. Each row records the encoder's name and a
SHA-256 of each text: unchanged text is never embedded again, and a new encoder name marks
every row as stale (`rapport embed` redoes them).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from matching.goals import split_goals
from models import GoalPhrase, Profile, ProfileEmbedding

GOALS_WEIGHT = 0.65  # goals say what someone wants: they weigh more than the bio
BIO_WEIGHT = 0.35


class AsyncEncoder(Protocol):
    name: str
    dim: int

    async def encode(self, texts: list[str]) -> np.ndarray: ...


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def combine(goals: np.ndarray, bio: np.ndarray) -> np.ndarray:
    mixed = GOALS_WEIGHT * goals + BIO_WEIGHT * bio
    norms = np.linalg.norm(mixed, axis=-1, keepdims=True)
    return (mixed / np.where(norms == 0, 1, norms)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Texts:
    user_id: uuid.UUID
    goals: str
    bio: str


async def embed_profiles(
    session: AsyncSession, encoder: AsyncEncoder, items: Sequence[Texts]
) -> int:
    """Embed the given profiles' texts where the stored vectors are missing, stale (text
    changed) or made by another encoder; returns how many profiles were (re)embedded. Does
    not commit. Identical texts are encoded once per call."""
    if not items:
        return 0
    ids = [t.user_id for t in items]
    stored = {
        row.user_id: row
        for row in (
            await session.execute(
                select(ProfileEmbedding).where(col(ProfileEmbedding.user_id).in_(ids))
            )
        ).scalars()
    }
    phrased = set(
        (
            await session.execute(
                select(col(GoalPhrase.user_id)).where(col(GoalPhrase.user_id).in_(ids)).distinct()
            )
        ).scalars()
    )
    todo: list[Texts] = []  # every vector
    phrases_only: list[Texts] = []  # vectors up to date, goal phrases missing
    for t in items:
        row = stored.get(t.user_id)
        if (
            row is None
            or row.model != encoder.name
            or row.goals_hash != text_hash(t.goals)
            or row.bio_hash != text_hash(t.bio)
        ):
            todo.append(t)
        elif t.user_id not in phrased and split_goals(t.goals):
            phrases_only.append(t)
    if not todo and not phrases_only:
        return 0
    phrases = {t.user_id: split_goals(t.goals) for t in (*todo, *phrases_only)}
    unique = list(
        dict.fromkeys(
            [
                *(text for t in todo for text in (t.goals, t.bio)),
                *(p for ps in phrases.values() for p in ps),
            ]
        )
    )
    vectors = dict(zip(unique, await encoder.encode(unique), strict=True))
    if todo:
        await _store_vectors(session, encoder.name, todo, vectors)
    await session.execute(delete(GoalPhrase).where(col(GoalPhrase.user_id).in_(list(phrases))))
    phrase_rows = [
        {"user_id": user_id, "position": i, "phrase": p, "embedding": vectors[p]}
        for user_id, ps in phrases.items()
        for i, p in enumerate(ps)
    ]
    if phrase_rows:
        await session.execute(insert(GoalPhrase).values(phrase_rows))
    return len(todo) + len(phrases_only)


async def _store_vectors(
    session: AsyncSession, model: str, todo: list[Texts], vectors: dict[str, np.ndarray]
) -> None:
    goals = np.stack([vectors[t.goals] for t in todo])
    bios = np.stack([vectors[t.bio] for t in todo])
    combined = combine(goals, bios)
    rows = [
        {
            "user_id": t.user_id,
            "model": model,
            "goals_hash": text_hash(t.goals),
            "bio_hash": text_hash(t.bio),
            "goals": goals[i],
            "bio": bios[i],
            "combined": combined[i],
            "embedded_at": func.now(),
        }
        for i, t in enumerate(todo)
    ]
    statement = insert(ProfileEmbedding).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={
                name: statement.excluded[name]
                for name in (
                    "model",
                    "goals_hash",
                    "bio_hash",
                    "goals",
                    "bio",
                    "combined",
                    "embedded_at",
                )
            },
        )
    )


async def embed_profile(session: AsyncSession, encoder: AsyncEncoder, profile: Profile) -> bool:
    """Embed one profile if its texts or the encoder changed. Does not commit."""
    texts = Texts(profile.user_id, profile.goals, profile.bio)
    return await embed_profiles(session, encoder, [texts]) == 1


def _stale(encoder_name: str) -> ColumnElement[bool]:
    """Embedding missing or made by another encoder, or goals without their phrases."""
    return or_(
        col(ProfileEmbedding.user_id).is_(None),
        col(ProfileEmbedding.model) != encoder_name,
        (col(Profile.goals) != "")
        & ~exists().where(col(GoalPhrase.user_id) == col(Profile.user_id)),
    )


async def pending(session: AsyncSession, encoder_name: str, limit: int) -> list[Texts]:
    """Profiles whose embedding is missing, made by another encoder or without its goal
    phrases, oldest first. (Text changes are embedded by the API as they happen.)"""
    rows = await session.execute(
        select(col(Profile.user_id), col(Profile.goals), col(Profile.bio))
        .outerjoin(ProfileEmbedding, col(ProfileEmbedding.user_id) == col(Profile.user_id))
        .where(_stale(encoder_name))
        .order_by(col(Profile.created_at), col(Profile.user_id))
        .limit(limit)
    )
    return [Texts(user_id, goals, bio) for user_id, goals, bio in rows]


async def count_pending(session: AsyncSession, encoder_name: str) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(Profile)
                .outerjoin(ProfileEmbedding, col(ProfileEmbedding.user_id) == col(Profile.user_id))
                .where(_stale(encoder_name))
            )
        ).scalar_one()
    )
