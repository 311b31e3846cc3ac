"""Profiles (what others see) and preferences (whom a person wants to meet)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from models.base import enum_type, timestamp_field
from models.enums import Gender, Intent, MentorshipRole

MAX_PHOTOS = 6


def _owner_key() -> Any:
    return Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )


def _text_array() -> Any:
    return Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.Text), nullable=False, server_default="{}"),
    )


def age_on(birth: date, today: date) -> int:
    """A person's age in whole years on `today`."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


class Profile(SQLModel, table=True):
    __tablename__ = "profiles"
    __table_args__ = (
        sa.CheckConstraint(
            "char_length(display_name) BETWEEN 1 AND 50", name="display_name_length"
        ),
        sa.CheckConstraint("char_length(bio) <= 2000", name="bio_length"),
        sa.CheckConstraint("char_length(goals) <= 1000", name="goals_length"),
        sa.CheckConstraint("height_cm BETWEEN 90 AND 250", name="height_range"),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        sa.CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="coordinates_paired"),
        sa.CheckConstraint(f"cardinality(photo_urls) <= {MAX_PHOTOS}", name="photo_count"),
        sa.CheckConstraint(
            "(intent = 'mentorship') = (mentorship_role IS NOT NULL)", name="mentorship_role"
        ),
        sa.Index("ix_profiles_gender_intent_birth_date", "gender", "intent", "birth_date"),
    )

    user_id: uuid.UUID = _owner_key()
    display_name: str = Field(sa_column=sa.Column(sa.String(50), nullable=False))
    bio: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    goals: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    birth_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    height_cm: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger))
    gender: Gender = Field(sa_column=sa.Column(enum_type(Gender, "gender"), nullable=False))
    city: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    latitude: float | None = Field(default=None, sa_column=sa.Column(sa.Double))
    longitude: float | None = Field(default=None, sa_column=sa.Column(sa.Double))
    photo_urls: list[str] = _text_array()
    # [{"platform": "...", "url": "https://..."}], in the order the owner gave.
    social_links: list[dict[str, str]] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    intent: Intent = Field(sa_column=sa.Column(enum_type(Intent, "intent"), nullable=False))
    mentorship_role: MentorshipRole | None = Field(
        default=None, sa_column=sa.Column(enum_type(MentorshipRole, "mentorship_role_kind"))
    )
    expertise: list[str] = _text_array()
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class Preferences(SQLModel, table=True):
    """Whom the owner wants to be shown. Empty arrays are never stored: 'any' is spelled out."""

    __tablename__ = "preferences"
    __table_args__ = (
        sa.CheckConstraint(
            "18 <= age_min AND age_min <= age_max AND age_max <= 120", name="age_range"
        ),
        sa.CheckConstraint(
            "height_min_cm IS NULL OR height_min_cm BETWEEN 90 AND 250", name="height_min_range"
        ),
        sa.CheckConstraint(
            "height_max_cm IS NULL OR height_max_cm BETWEEN 90 AND 250", name="height_max_range"
        ),
        sa.CheckConstraint(
            "height_min_cm IS NULL OR height_max_cm IS NULL OR height_min_cm <= height_max_cm",
            name="height_order",
        ),
        sa.CheckConstraint("max_distance_km BETWEEN 1 AND 20040", name="distance_range"),
        sa.CheckConstraint("cardinality(genders) >= 1", name="genders_nonempty"),
        sa.CheckConstraint("cardinality(intents) >= 1", name="intents_nonempty"),
    )

    user_id: uuid.UUID = _owner_key()
    age_min: int = Field(default=18, sa_column=sa.Column(sa.SmallInteger, nullable=False))
    age_max: int = Field(default=120, sa_column=sa.Column(sa.SmallInteger, nullable=False))
    height_min_cm: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger))
    height_max_cm: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger))
    genders: list[str] = _text_array()
    max_distance_km: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    intents: list[str] = _text_array()
    updated_at: datetime = timestamp_field()
