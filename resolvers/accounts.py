"""Accounts: register, log in and out, change password, and resolve a bearer token to a viewer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models import AuthToken, User, UserStatus
from models.base import utcnow
from resolvers import validation
from resolvers.credentials import TOKEN_PREFIX, Credentials
from resolvers.errors import ErrorCode, InvalidCredentialsError, Problems

MIN_PASSWORD = 10
MAX_PASSWORD = 256
# last_active_at is written at most this often per user, not on every request.
LAST_ACTIVE_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The authenticated user of one operation, and the token they used."""

    user: User
    token_id: uuid.UUID

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    token: str
    expires_at: datetime


def _check_password(problems: Problems, field: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        problems.add(
            field, ErrorCode.TOO_SHORT, f"Passwords need at least {MIN_PASSWORD} characters."
        )
    elif len(password) > MAX_PASSWORD:
        problems.add(
            field, ErrorCode.TOO_LONG, f"Passwords have at most {MAX_PASSWORD} characters."
        )


async def _issue_token(
    session: AsyncSession, credentials: Credentials, user: User, ttl: timedelta
) -> Session:
    token = credentials.new_token()
    expires_at = utcnow() + ttl
    session.add(
        AuthToken(
            user_id=user.id, token_hash=credentials.token_digest(token), expires_at=expires_at
        )
    )
    return Session(user=user, token=token, expires_at=expires_at)


async def register(
    session: AsyncSession, credentials: Credentials, ttl: timedelta, email: str, password: str
) -> Session:
    problems = Problems()
    address = validation.email(problems, "email", email)
    _check_password(problems, "password", password)
    problems.raise_if_any()
    password_hash = await credentials.hash_password(password)
    # INSERT .. ON CONFLICT: two concurrent registrations of one address cannot both succeed.
    user_id = (
        await session.execute(
            insert(User)
            .values(id=uuid.uuid4(), email=address, password_hash=password_hash)
            .on_conflict_do_nothing(index_elements=["email"])
            .returning(col(User.id))
        )
    ).scalar_one_or_none()
    if user_id is None:
        problems.add("email", ErrorCode.EMAIL_TAKEN, "An account with this email already exists.")
        problems.raise_if_any()
    user = await session.get_one(User, user_id)
    result = await _issue_token(session, credentials, user, ttl)
    await session.commit()
    return result


async def login(
    session: AsyncSession, credentials: Credentials, ttl: timedelta, email: str, password: str
) -> Session:
    problems = Problems()
    address = validation.email(problems, "email", email)
    if not password:
        problems.add("password", ErrorCode.REQUIRED, "Enter your password.")
    problems.raise_if_any()
    user = (
        await session.execute(select(User).where(col(User.email) == address))
    ).scalar_one_or_none()
    # Verify even for an unknown email (against a dummy hash): same answer, same time.
    ok = await credentials.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.status is not UserStatus.ACTIVE:
        raise InvalidCredentialsError()
    if credentials.needs_rehash(user.password_hash):
        user.password_hash = await credentials.hash_password(password)
    result = await _issue_token(session, credentials, user, ttl)
    user.last_active_at = utcnow()
    await session.commit()
    return result


async def authenticate(
    session: AsyncSession, credentials: Credentials, token: str
) -> Viewer | None:
    """The viewer a bearer token stands for, or None (unknown, expired, revoked, inactive)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    row = (
        await session.execute(
            select(User, col(AuthToken.id))
            .join(AuthToken, col(AuthToken.user_id) == col(User.id))
            .where(
                col(AuthToken.token_hash) == credentials.token_digest(token),
                col(AuthToken.expires_at) > utcnow(),
                col(User.status) == UserStatus.ACTIVE,
            )
        )
    ).first()
    if row is None:
        return None
    user, token_id = row
    now = utcnow()
    if now - user.last_active_at > LAST_ACTIVE_RESOLUTION:
        await session.execute(
            update(User).where(col(User.id) == user.id).values(last_active_at=now)
        )
        await session.commit()
        user.last_active_at = now
    return Viewer(user=user, token_id=token_id)


async def logout(session: AsyncSession, viewer: Viewer) -> None:
    await session.execute(delete(AuthToken).where(col(AuthToken.id) == viewer.token_id))
    await session.commit()


async def logout_everywhere(session: AsyncSession, viewer: Viewer) -> int:
    result = await session.execute(delete(AuthToken).where(col(AuthToken.user_id) == viewer.id))
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def change_password(
    session: AsyncSession,
    credentials: Credentials,
    viewer: Viewer,
    current_password: str,
    new_password: str,
) -> int:
    """Set a new password and revoke every other token; returns how many were revoked."""
    problems = Problems()
    _check_password(problems, "newPassword", new_password)
    user = await session.get_one(User, viewer.id)
    if not await credentials.verify_password(user.password_hash, current_password):
        problems.add(
            "currentPassword", ErrorCode.WRONG_PASSWORD, "The current password is incorrect."
        )
    elif new_password == current_password:
        problems.add(
            "newPassword",
            ErrorCode.NOT_ALLOWED,
            "Choose a password different from the current one.",
        )
    problems.raise_if_any()
    user.password_hash = await credentials.hash_password(new_password)
    result = await session.execute(
        delete(AuthToken).where(
            col(AuthToken.user_id) == viewer.id, col(AuthToken.id) != viewer.token_id
        )
    )
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_expired_tokens(session: AsyncSession, now: datetime | None = None) -> int:
    result = await session.execute(
        delete(AuthToken).where(col(AuthToken.expires_at) <= (now or utcnow()))
    )
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
