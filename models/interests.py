"""Interest tags (normalised: trimmed, NFKC, case-folded) and who has them."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import timestamp_field

MAX_INTEREST_LENGTH = 40


class Interest(SQLModel, table=True):
    __tablename__ = "interests"
    __table_args__ = (
        sa.CheckConstraint(
            f"char_length(name) BETWEEN 1 AND {MAX_INTEREST_LENGTH}", name="name_length"
        ),
        # Prefix search (name LIKE 'abc%') whatever the database's collation.
        sa.Index("ix_interests_name_prefix", "name", postgresql_ops={"name": "text_pattern_ops"}),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    # How many people have it; kept by a trigger on user_interests (rarity weights, catalogue).
    user_count: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    created_at: datetime = timestamp_field()


class UserInterest(SQLModel, table=True):
    __tablename__ = "user_interests"

    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )
    interest_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("interests.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        )
    )
