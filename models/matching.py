"""Matching tables: profile embeddings, swipes, matches, interest requests, blocks."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pgvector.sqlalchemy import BIT, Vector
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from models.base import enum_type, timestamp_field
from models.enums import InterestRequestStatus, MatchOrigin, MatchStatus, SwipeKind

EMBEDDING_DIM = 384
MAX_NOTE = 280


def _user_fk(*, primary_key: bool = False, index: bool = False) -> Any:
    return Field(
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            primary_key=primary_key,
            index=index,
        )
    )


def _vector() -> Any:
    return Field(sa_column=sa.Column(Vector(EMBEDDING_DIM), nullable=False))


class ProfileEmbedding(SQLModel, table=True):
    """Embeddings of a profile's goals and bio, with the model that made them and a hash of
    each text, so unchanged text is never embedded twice and a model change is detected.
    `combined` (goals and bio, weighted) is what the HNSW index searches."""

    __tablename__ = "profile_embeddings"
    __table_args__ = (
        sa.Index(
            "ix_profile_embeddings_combined_hnsw",
            "combined",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"combined": "vector_cosine_ops"},
        ),
    )

    user_id: uuid.UUID = _user_fk(primary_key=True)
    model: str = Field(sa_column=sa.Column(sa.Text, nullable=False, index=True))
    goals_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    bio_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    goals: Any = _vector()
    bio: Any = _vector()
    combined: Any = _vector()
    embedded_at: datetime = timestamp_field()


class GoalPhrase(SQLModel, table=True):
    """One phrase of a profile's goals (a sentence or list item) and its embedding, so an
    explanation can say WHICH goals align. Rewritten with the profile's embeddings."""

    __tablename__ = "goal_phrases"
    __table_args__ = (sa.CheckConstraint("position >= 0", name="position_range"),)

    user_id: uuid.UUID = _user_fk(primary_key=True)
    position: int = Field(sa_column=sa.Column(sa.SmallInteger, primary_key=True))
    phrase: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    embedding: Any = _vector()


class Swipe(SQLModel, table=True):
    """A like or a pass. Undone swipes stay (undone_at set) for history; at most one live
    swipe per (swiper, target)."""

    __tablename__ = "swipes"
    __table_args__ = (
        sa.Index(
            "uq_swipes_live_pair",
            "swiper_id",
            "target_id",
            unique=True,
            postgresql_where=sa.text("undone_at IS NULL"),
        ),
        sa.Index(
            "ix_swipes_live_target_kind",
            "target_id",
            "kind",
            postgresql_where=sa.text("undone_at IS NULL"),
        ),
        sa.CheckConstraint("swiper_id <> target_id", name="not_self"),
        sa.CheckConstraint(f"char_length(note) <= {MAX_NOTE}", name="note_length"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    swiper_id: uuid.UUID = _user_fk(index=True)
    target_id: uuid.UUID = _user_fk()
    kind: SwipeKind = Field(sa_column=sa.Column(enum_type(SwipeKind, "swipe_kind"), nullable=False))
    note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    created_at: datetime = timestamp_field()
    undone_at: datetime | None = timestamp_field(nullable=True)


def ordered_pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """Two people as a Match stores them: (user_low, user_high)."""
    return (a, b) if str(a) < str(b) else (b, a)


def other_of(user_low: uuid.UUID, user_high: uuid.UUID, me: uuid.UUID) -> uuid.UUID:
    """The other person of a stored pair (a match, a conversation's match), seen by `me`."""
    return user_high if user_low == me else user_low


class Match(SQLModel, table=True):
    """Two people who matched. The pair is stored ordered (user_low < user_high) and a partial
    unique index allows one active match per pair, whatever the race."""

    __tablename__ = "matches"
    __table_args__ = (
        sa.Index(
            "uq_matches_active_pair",
            "user_low",
            "user_high",
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
        ),
        sa.Index("ix_matches_user_high", "user_high"),
        sa.CheckConstraint("user_low < user_high", name="ordered_pair"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    user_low: uuid.UUID = _user_fk()
    user_high: uuid.UUID = _user_fk()
    origin: MatchOrigin = Field(
        sa_column=sa.Column(enum_type(MatchOrigin, "match_origin"), nullable=False)
    )
    status: MatchStatus = Field(
        default=MatchStatus.ACTIVE,
        sa_column=sa.Column(enum_type(MatchStatus, "match_status"), nullable=False),
    )
    created_at: datetime = timestamp_field()
    ended_at: datetime | None = timestamp_field(nullable=True)
    ended_by: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"))
    )


class InterestRequest(SQLModel, table=True):
    __tablename__ = "interest_requests"
    __table_args__ = (
        sa.Index(
            "uq_interest_requests_pending_pair",
            "sender_id",
            "receiver_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_interest_requests_receiver_status", "receiver_id", "status"),
        sa.Index("ix_interest_requests_sender_status", "sender_id", "status"),
        sa.CheckConstraint("sender_id <> receiver_id", name="not_self"),
        sa.CheckConstraint(f"char_length(message) <= {MAX_NOTE}", name="message_length"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    sender_id: uuid.UUID = _user_fk()
    receiver_id: uuid.UUID = _user_fk()
    message: str = Field(
        default="", sa_column=sa.Column(sa.Text, nullable=False, server_default="")
    )
    status: InterestRequestStatus = Field(
        default=InterestRequestStatus.PENDING,
        sa_column=sa.Column(
            enum_type(InterestRequestStatus, "interest_request_status"), nullable=False
        ),
    )
    created_at: datetime = timestamp_field()
    responded_at: datetime | None = timestamp_field(nullable=True)


class Block(SQLModel, table=True):
    __tablename__ = "blocks"
    __table_args__ = (sa.CheckConstraint("blocker_id <> blocked_id", name="not_self"),)

    blocker_id: uuid.UUID = _user_fk(primary_key=True)
    blocked_id: uuid.UUID = _user_fk(primary_key=True, index=True)
    created_at: datetime = timestamp_field()


class MatchIndex(SQLModel, table=True):
    """One row per person who can be matched (profile, preferences and embedding present),
    holding everything the candidate search filters on and ranks by first, so that filtering
    is one scan with in-row filters and no joins. Narrow on purpose (about 30 rows a page):
    only a 48-byte binary code of the combined vector is here; the float vectors stay in
    profile_embeddings and are read only for a shortlist. Written only by database triggers
    on users, profiles, preferences and profile_embeddings (migrations 0003, 0004); never by
    application code."""

    __tablename__ = "match_index"
    __table_args__ = (
        sa.Index(
            "ix_match_index_search",
            "gender",
            "intent",
            "birth_date",
            postgresql_where=sa.text("active"),
            # every other column the candidate query reads: an index-only scan (0004)
            postgresql_include=[
                "user_id",
                "mentorship_role",
                "expertise",
                "height_cm",
                "latitude",
                "longitude",
                "age_min",
                "age_max",
                "height_min_cm",
                "height_max_cm",
                "genders",
                "intents",
                "max_distance_km",
                "combined_bits",
            ],
        ),
        # viewers with a distance limit: the box around them (0004)
        sa.Index(
            "ix_match_index_place",
            "gender",
            "intent",
            "latitude",
            "longitude",
            postgresql_where=sa.text("active"),
        ),
        {
            "postgresql_with": {
                "autovacuum_vacuum_scale_factor": "0.02",
                "autovacuum_vacuum_insert_scale_factor": "0.02",
                "fillfactor": "90",
            }
        },
    )

    user_id: uuid.UUID = _user_fk(primary_key=True)
    active: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    gender: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    intent: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    mentorship_role: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    expertise: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    birth_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    height_cm: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger))
    latitude: float | None = Field(default=None, sa_column=sa.Column(sa.Double))
    longitude: float | None = Field(default=None, sa_column=sa.Column(sa.Double))
    age_min: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    age_max: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    height_min_cm: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger))
    height_max_cm: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger))
    genders: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    intents: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    max_distance_km: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    # binary_quantize(combined): 48 bytes, for the Hamming pre-ranking (migration 0004)
    combined_bits: Any = Field(sa_column=sa.Column(BIT(384), nullable=False))
