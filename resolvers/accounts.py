"""Accounts: register, log in and out, change password, and resolve a bearer token to a viewer."""

from __future__ import annotations

import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel, col

from models import (
    AuthToken,
    OutboundEmail,
    PendingRegistration,
    Profile,
    SignInAddress,
    User,
    UserStatus,
)
from models.base import from_row, utcnow
from rapport import mail, metrics
from rapport.db import OperationSession
from rapport.errors import (
    AlreadyExists,
    ErrorCode,
    InvalidCredentialsError,
    NotAllowedError,
    Problems,
)
from rapport.rate_limits import Limit, RateLimits
from rapport.revocations import Revocation
from resolvers import validation
from resolvers.credentials import CODE_DIGITS, TOKEN_PREFIX, Credentials
from resolvers.effects import EmailQueued

if TYPE_CHECKING:
    from rapport.resources import Resources
    from resolvers.operation import Operation, SessionSource

MIN_PASSWORD = 10
MAX_PASSWORD = 256
# last_active_at is written at most this often per user, not on every request.
LAST_ACTIVE_RESOLUTION = timedelta(minutes=5)
SIGN_UP_TTL = timedelta(hours=24)
SENT_MAIL_KEPT = timedelta(days=7)
# Guesses from an address an account signed in from within this long do not spend its
# budget across addresses (see password_guess).
KNOWN_ADDRESS_FOR = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The authenticated user of one operation, the token they used, and their profile as it
    was when the operation began (None: no profile yet)."""

    user: User
    token_id: uuid.UUID
    profile: Profile | None = None

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


@dataclass(frozen=True, slots=True)
class SignIn:
    """A new bearer token and whose it is (register, login; operators' tools)."""

    user: User
    token: str
    expires_at: datetime
    profile: Profile | None = None


@dataclass(frozen=True, slots=True)
class Guesses:
    """Where password guesses are counted: the rate limits, and the client address the
    guesses come from (None: the schema runs in process, as in tests)."""

    limits: RateLimits
    client: str | None

    @property
    def address(self) -> str:
        return self.client or "in-process"


@dataclass(frozen=True, slots=True)
class Visit:
    """An operation of someone not signed in (register, confirmRegistration, login): what
    `Operation` (resolvers/operation.py) is to a viewer's rules, without the viewer. The
    process's resources, and where the operation's session and client address come from."""

    resources: Resources
    source: SessionSource

    @property
    def session(self) -> OperationSession:
        return self.source.session

    @property
    def guesses(self) -> Guesses:
        return Guesses(self.resources.rate_limits, self.source.client_address)

    async def hit(self, limit: Limit, key: str | None = None) -> None:
        """Spend one of a rate limit, counted per client address unless `key` says otherwise;
        RateLimitedError when it is used up. In process (no address) only a `key` counts."""
        key = key or self.source.client_address
        if key is not None:
            await self.resources.rate_limits.hit(limit, key)


async def password_guess(
    session: OperationSession,
    credentials: Credentials,
    guesses: Guesses,
    email: str,
    password_hash: str | None,
    password: str,
) -> bool:
    """Whether `password` matches, as a guess against the account of `email` (or the
    sign-up, for a code). Every place that checks a password a client sent goes through
    here, and each guess is counted before it is checked (concurrent guesses cannot slip
    through together):
    - against this email from this client address (LOGIN_PER_ACCOUNT_AND_ADDRESS), a count
      forgotten once the right password came from that address;
    - against this email from every address the account has not signed in from in the last
      KNOWN_ADDRESS_FOR (LOGIN_PER_ACCOUNT): a slower budget, so guessing from many
      addresses stays slow, and one strangers cannot spend for the owner's usual addresses.
    RateLimitedError once either is spent (README, Rate limits)."""
    pair = f"{email} {guesses.address}"
    await guesses.limits.hit(Limit.LOGIN_PER_ACCOUNT_AND_ADDRESS, pair)
    if not await _signed_in_from(session, credentials, email, guesses.address):
        await guesses.limits.hit(Limit.LOGIN_PER_ACCOUNT, email)
    metrics.PASSWORD_CHECKS.inc()
    ok = await credentials.verify_password(password_hash, password)
    if ok:
        await guesses.limits.clear(Limit.LOGIN_PER_ACCOUNT_AND_ADDRESS, pair)
    return ok


def _address_hash(credentials: Credentials, address: str) -> bytes:
    return credentials.token_digest(f"client-address:{address}")


async def _signed_in_from(
    session: OperationSession, credentials: Credentials, email: str, address: str
) -> bool:
    """Whether the account of `email` signed in from `address` lately (one query whether or
    not the email has an account)."""
    found = await session.scalar(
        select(col(SignInAddress.user_id))
        .join(User, col(User.id) == col(SignInAddress.user_id))
        .where(
            col(User.email) == email,
            col(SignInAddress.address_hash) == _address_hash(credentials, address),
            col(SignInAddress.last_signed_in_at) > utcnow() - KNOWN_ADDRESS_FOR,
        )
    )
    return found is not None


async def _remember_address(
    session: OperationSession, credentials: Credentials, user_id: uuid.UUID, address: str
) -> None:
    """Note a sign-in from `address` (committed with the sign-in), and forget the account's
    addresses not used for KNOWN_ADDRESS_FOR."""
    now = utcnow()
    await session.execute(
        insert(SignInAddress)
        .values(
            user_id=user_id,
            address_hash=_address_hash(credentials, address),
            last_signed_in_at=now,
        )
        .on_conflict_do_update(
            index_elements=["user_id", "address_hash"], set_={"last_signed_in_at": now}
        )
    )
    await session.execute(
        delete(SignInAddress).where(
            col(SignInAddress.user_id) == user_id,
            col(SignInAddress.last_signed_in_at) < now - KNOWN_ADDRESS_FOR,
        )
    )


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
    session: OperationSession, credentials: Credentials, user: User, ttl: timedelta
) -> SignIn:
    token = credentials.new_token()
    expires_at = utcnow() + ttl
    session.add(
        AuthToken(
            user_id=user.id, token_hash=credentials.token_digest(token), expires_at=expires_at
        )
    )
    return SignIn(user=user, token=token, expires_at=expires_at)


@dataclass(frozen=True, slots=True)
class SignUp:
    email: str  # normalised
    expires_at: datetime  # when the emailed code stops working


SIGN_UP_SUBJECT = "Your Rapport sign-up code"
_NEW_BODY = """Your Rapport sign-up code is {code}.

It works once, for 24 hours. If you did not try to sign up, ignore this email: no account
is made without the code."""
_EXISTING_BODY = """Someone, maybe you, tried to create a Rapport account with this address, but
you already have one: sign in with your password instead.

If it was not you, ignore this email: nothing has changed."""


_CODE_IN_EMAIL = re.compile(rf"sign-up code is (\d{{{CODE_DIGITS}}})")


def code_in_email(body: str | None) -> str | None:
    """The code in a sign-up email (None in the "you already have an account" note)."""
    found = _CODE_IN_EMAIL.search(body or "")
    return found.group(1) if found else None


async def register(visit: Visit, email: str, password: str) -> SignUp:
    """Start a sign-up: the answer, the work done and its duration are the same whether or
    not the address has an account (no enumeration). Either way the password is hashed, a
    pending registration with a fresh code is stored and one email is queued: the code if
    the address is new, a "you already have an account" note if not (its pending row then
    can never be confirmed: its code was never sent, and the address is taken). Spends
    `register_per_address`, and `signup_emails_per_recipient` of the address mailed."""
    await visit.hit(Limit.REGISTER_PER_ADDRESS)
    session, credentials = visit.session, visit.resources.credentials
    problems = Problems()
    address = validation.email(problems, "email", email)
    _check_password(problems, "password", password)
    problems.raise_if_any()
    await visit.hit(Limit.SIGNUP_EMAILS_PER_RECIPIENT, key=address)  # no mail bombing
    password_hash = await credentials.hash_password(password)
    code = credentials.new_code()
    expires_at = utcnow() + SIGN_UP_TTL
    session.add(
        PendingRegistration(
            email=address,
            password_hash=password_hash,
            code_hash=credentials.code_digest(address, code),
            expires_at=expires_at,
        )
    )
    taken = await session.scalar(select(col(User.id)).where(col(User.email) == address))
    body = _EXISTING_BODY if taken is not None else _NEW_BODY.format(code=code)
    mail.enqueue(session, address, SIGN_UP_SUBJECT, body)
    session.after_commit(EmailQueued(address, SIGN_UP_SUBJECT, body))
    await session.commit()
    return SignUp(email=address, expires_at=expires_at)


async def confirm_registration(visit: Visit, email: str, code: str, password: str) -> SignIn:
    """Create the account of the sign-up whose code and password these are, and sign in. The
    password must be the one that sign-up was started with: if someone else started a
    sign-up for the same address after the owner did, the owner's inbox holds that code too,
    and confirming it must not give the account the other person's password. A wrong code,
    an expired one, a wrong password, an unknown address and one that already has an account
    all get the same refusal after the same work (one argon2 verification), and spend the
    address's password-guess budgets (so six digits cannot be guessed: README, Rate
    limits), after `confirm_registration_per_address`."""
    await visit.hit(Limit.CONFIRM_REGISTRATION_PER_ADDRESS)
    session, credentials, guesses = visit.session, visit.resources.credentials, visit.guesses
    problems = Problems()
    address = validation.email(problems, "email", email)
    code = code.strip()
    if not (len(code) == CODE_DIGITS and code.isascii() and code.isdigit()):
        problems.add("code", ErrorCode.INVALID_FORMAT, f"The code has {CODE_DIGITS} digits.")
    problems.raise_if_any()
    digest = credentials.code_digest(address, code)
    pending = (
        await session.execute(
            select(PendingRegistration).where(
                col(PendingRegistration.email) == address,
                col(PendingRegistration.expires_at) > utcnow(),
            )
        )
    ).scalars()
    # Every pending row is compared, each in constant time.
    matching = next((p for p in pending if hmac.compare_digest(p.code_hash, digest)), None)
    stored = matching.password_hash if matching else None
    user = None
    if await password_guess(session, credentials, guesses, address, stored, password) and stored:
        user = await _new_user(session, address, stored)
    if user is None:
        await session.rollback()
        problems.add("code", ErrorCode.INVALID_CODE, "This code is wrong or has expired.")
        problems.raise_if_any()
    assert user is not None
    await session.execute(
        delete(PendingRegistration).where(col(PendingRegistration.email) == address)
    )
    await _remember_address(session, credentials, user.id, guesses.address)
    result = await _issue_token(session, credentials, user, visit.resources.token_ttl)
    await session.commit()
    return result


async def _new_user(session: OperationSession, email: str, password_hash: str) -> User | None:
    """None if the address has an account (INSERT .. ON CONFLICT: two confirmations of one
    address cannot both make one)."""
    user_id = (
        await session.execute(
            insert(User)
            .values(id=uuid.uuid4(), email=email, password_hash=password_hash)
            .on_conflict_do_nothing(index_elements=["email"])
            .returning(col(User.id))
        )
    ).scalar_one_or_none()
    return None if user_id is None else await session.get_one(User, user_id)


async def create_account(
    session: OperationSession,
    credentials: Credentials,
    ttl: timedelta,
    email: str,
    password: str | None,
    *,
    password_hash: str | None = None,
) -> SignIn:
    """For operators' tools (`rapport seed`, `rapport import`), not the API: an account
    without the emailed code, signed in. AlreadyExists if the address has one. Either a
    `password`, or the argon2 `password_hash` another app stored (the first login rehashes it
    with Rapport's parameters)."""
    problems = Problems()
    address = validation.email(problems, "email", email)
    if password_hash is not None:
        if not credentials.is_argon2_hash(password_hash):
            problems.add(
                "passwordHash",
                ErrorCode.INVALID_FORMAT,
                "Not an argon2 hash in the PHC format ($argon2id$v=19$m=...,t=...,p=...$...).",
            )
    else:
        _check_password(problems, "password", password or "")
    problems.raise_if_any()
    stored = password_hash or await credentials.hash_password(password or "")
    user = await _new_user(session, address, stored)
    if user is None:
        raise AlreadyExists("This address has an account.", field="email")
    result = await _issue_token(session, credentials, user, ttl)
    await session.commit()
    return result


async def login(visit: Visit, email: str, password: str) -> SignIn:
    """Sign in with a password: a new token. Spends `login_per_address`; guesses are limited
    per email address too (known or not, so the limits say nothing about which addresses
    have accounts: see password_guess); a correct password past a limit is refused too, or
    guessing would just go on slowly."""
    await visit.hit(Limit.LOGIN_PER_ADDRESS)
    session, credentials, guesses = visit.session, visit.resources.credentials, visit.guesses
    problems = Problems()
    address = validation.email(problems, "email", email)
    if not password:
        problems.add("password", ErrorCode.REQUIRED, "Enter your password.")
    problems.raise_if_any()
    user = (
        await session.execute(select(User).where(col(User.email) == address))
    ).scalar_one_or_none()
    # Verify even for an unknown email (against a dummy hash): same answer, same time.
    stored = user.password_hash if user else None
    ok = await password_guess(session, credentials, guesses, address, stored, password)
    if not ok or user is None or user.status is UserStatus.DELETED:
        raise InvalidCredentialsError()
    if user.status is UserStatus.SUSPENDED:  # said only to whoever knows the password
        raise NotAllowedError(
            ErrorCode.ACCOUNT_SUSPENDED,
            "This account is suspended by a moderator: " + (user.suspension_reason or ""),
        )
    if credentials.needs_rehash(user.password_hash):
        user.password_hash = await credentials.hash_password(password)
    await _remember_address(session, credentials, user.id, guesses.address)
    result = await _issue_token(session, credentials, user, visit.resources.token_ttl)
    user.last_active_at = utcnow()
    await session.commit()
    profile = await session.get(Profile, user.id)
    return SignIn(user=user, token=result.token, expires_at=result.expires_at, profile=profile)


def _names(model: type[SQLModel]) -> list[str]:
    return [c.name for c in model.__table__.columns]  # type: ignore[attr-defined]


_USER_COLUMNS, _PROFILE_COLUMNS = _names(User), _names(Profile)
_PROFILE_START = 2 + len(_USER_COLUMNS)

# Every authenticated request runs this, so it is one hand-written statement on a plain
# asyncpg pool instead of ORM selects: measured on `me`, the ORM path cost about 1.2 ms of CPU
# per request against about 0.2 ms for this (README, Benchmarks). It also fetches the viewer's
# own profile, which most operations of a signed-in user read. Column lists come from the
# models, so they cannot drift from the tables.
_VIEWER_SQL = f"""
SELECT t.id, t.expires_at,
       {", ".join(f"u.{c}" for c in _USER_COLUMNS)},
       {", ".join(f"p.{c}" for c in _PROFILE_COLUMNS)}
FROM auth_tokens t
JOIN active_users u ON u.id = t.user_id  -- resolvers/visibility.py: active accounts only
LEFT JOIN profiles p ON p.user_id = u.id
WHERE t.token_hash = $1 AND t.expires_at > now()
"""  # noqa: S608 (column names come from the models; the only input is the $1 parameter)


async def authenticate(
    pool: asyncpg.Pool, credentials: Credentials, token: str
) -> tuple[Viewer, datetime] | None:
    """The viewer a bearer token stands for (with their profile) and the token's expiry; None
    if the token is unknown, expired, revoked, or the account is not active."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    async with pool.acquire() as conn:
        record = await conn.fetchrow(_VIEWER_SQL, credentials.token_digest(token))
        if record is None:
            return None
        values = tuple(record)
        user = from_row(User, dict(zip(_USER_COLUMNS, values[2:_PROFILE_START], strict=True)))
        now = utcnow()
        if now - user.last_active_at > LAST_ACTIVE_RESOLUTION:
            await conn.execute("UPDATE users SET last_active_at = $1 WHERE id = $2", now, user.id)
            user.__dict__["last_active_at"] = now
    profile = None
    if values[_PROFILE_START] is not None:
        profile = from_row(
            Profile, dict(zip(_PROFILE_COLUMNS, values[_PROFILE_START:], strict=True))
        )
    return Viewer(user=user, token_id=values[0], profile=profile), values[1]


async def valid_tokens(pool: asyncpg.Pool, token_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `token_ids` that still authenticate (as `authenticate` decides), in one query."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT t.id FROM auth_tokens t JOIN active_users u ON u.id = t.user_id"
            " WHERE t.id = ANY($1::uuid[]) AND t.expires_at > now()",
            token_ids,
        )
    return {row["id"] for row in rows}


async def logout(op: Operation) -> None:
    """Revoke the viewer's token: sockets authenticated with it end (rapport/revocations.py)."""
    session, viewer = op.session, op.viewer
    await session.execute(delete(AuthToken).where(col(AuthToken.id) == viewer.token_id))
    session.after_commit(Revocation(viewer.id, token_id=viewer.token_id))
    await session.commit()


async def logout_everywhere(op: Operation) -> int:
    """Revoke every token of the viewer's account, this one included; returns how many."""
    session, viewer = op.session, op.viewer
    result = await session.execute(delete(AuthToken).where(col(AuthToken.user_id) == viewer.id))
    session.after_commit(Revocation(viewer.id))
    await session.commit()
    return int(result.rowcount or 0)


async def change_password(op: Operation, current_password: str, new_password: str) -> int:
    """Set a new password and revoke every other token (sockets authenticated with them end;
    those on the viewer's token stay); returns how many were revoked. Wrong
    current passwords spend the failed-login budget (a stolen token must not become a way
    to guess the password)."""
    session, viewer, credentials = op.session, op.viewer, op.resources.credentials
    problems = Problems()
    _check_password(problems, "newPassword", new_password)
    user = await session.get_one(User, viewer.id)
    if not await password_guess(
        session, credentials, op.guesses, user.email, user.password_hash, current_password
    ):
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
    session.after_commit(Revocation(viewer.id, keep=viewer.token_id))
    await session.commit()
    return int(result.rowcount or 0)


async def purge_expired(session: OperationSession, now: datetime | None = None) -> int:
    """Expired tokens and sign-ups, and sent email older than a week. Returns the tokens."""
    now = now or utcnow()
    result = await session.execute(delete(AuthToken).where(col(AuthToken.expires_at) <= now))
    await session.execute(
        delete(PendingRegistration).where(col(PendingRegistration.expires_at) <= now)
    )
    await session.execute(
        delete(OutboundEmail).where(col(OutboundEmail.sent_at) <= now - SENT_MAIL_KEPT)
    )
    await session.commit()
    return int(result.rowcount or 0)


async def seen(session: OperationSession, user_id: uuid.UUID) -> None:
    """Record that someone was active just now (their last live subscription ended). Commits."""
    await session.execute(
        update(User).where(col(User.id) == user_id).values(last_active_at=utcnow())
    )
    await session.commit()
