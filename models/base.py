"""Column helpers shared by the tables: timestamps, enums stored as checked text."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Constraint names follow one convention so migrations are predictable.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp_field(*, nullable: bool = False, index: bool = False) -> Any:
    """A timestamptz column defaulting to now (in Python and in SQL)."""
    return Field(
        default_factory=None if nullable else utcnow,
        sa_column=sa.Column(
            sa.DateTime(timezone=True),
            nullable=nullable,
            server_default=None if nullable else sa.func.now(),
            index=index,
        ),
    )


def enum_type(enum: type[Enum], name: str) -> sa.Enum:
    """An enum stored as VARCHAR with a CHECK constraint (no PostgreSQL ENUM type to migrate)."""
    return sa.Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
