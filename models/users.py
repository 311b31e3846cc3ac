"""Accounts and their bearer tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, timestamp_field
from models.enums import UserRole, UserStatus


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # Emails are stored case-folded, so the plain unique constraint is case-insensitive.
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
        sa.CheckConstraint("char_length(email) <= 254", name="email_length"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    password_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: UserStatus = Field(
        default=UserStatus.ACTIVE,
        sa_column=sa.Column(
            enum_type(UserStatus, "user_status"), nullable=False, server_default="active"
        ),
    )
    role: UserRole = Field(
        default=UserRole.MEMBER,
        sa_column=sa.Column(
            enum_type(UserRole, "user_role"), nullable=False, server_default="member"
        ),
    )
    created_at: datetime = timestamp_field()
    last_active_at: datetime = timestamp_field()
    # Set by a moderator's suspendUser (status 'suspended'), cleared by reinstateUser.
    suspended_at: datetime | None = timestamp_field(nullable=True)
    suspension_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class AuthToken(SQLModel, table=True):
    """An opaque bearer token, stored only as a keyed hash (HMAC-SHA256 with the secret key)."""

    __tablename__ = "auth_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    token_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False, unique=True))
    created_at: datetime = timestamp_field()
    expires_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)
    )


class PendingRegistration(SQLModel, table=True):
    """A sign-up waiting for its emailed code. Accounts exist only once confirmed, so a
    pending sign-up reveals nothing and cannot squat an address: each attempt has its own
    password and code, and confirming one creates the account with that attempt's password."""

    __tablename__ = "pending_registrations"

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    email: str = Field(sa_column=sa.Column(sa.Text, nullable=False, index=True))
    password_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    code_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    created_at: datetime = timestamp_field()
    expires_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)
    )


class SignInAddress(SQLModel, table=True):
    """A client address an account signed in from (a keyed hash of it, never the address):
    password guesses from it do not spend the account's budget across addresses, so strangers
    with many addresses cannot lock the owner out (README, Rate limits)."""

    __tablename__ = "sign_in_addresses"

    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )
    address_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), primary_key=True))
    last_signed_in_at: datetime = timestamp_field()
