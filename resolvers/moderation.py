"""Reports and moderation: anyone reports someone; moderators list reports, suspend and
reinstate accounts, and dismiss reports (README: "Blocking and reporting")."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import delete, select, update
from sqlmodel import col

from models import (
    AuthToken,
    Profile,
    Report,
    ReportReason,
    ReportStatus,
    User,
    UserRole,
    UserStatus,
)
from models.base import utcnow
from models.moderation import MAX_DETAILS, MAX_RESOLUTION_NOTE
from rapport.db import OperationSession
from rapport.errors import (
    AlreadyExists,
    ErrorCode,
    NotAllowedError,
    NotFoundError,
    Problems,
)
from rapport.rate_limits import Limit
from rapport.revocations import Revocation
from resolvers import validation
from resolvers.accounts import Viewer
from resolvers.effects import ForgetViewer, profile_changed
from resolvers.operation import Operation
from resolvers.pagination import Page, newest_first
from resolvers.profiles import clean_birth_date
from resolvers.visibility import not_yourself


async def report(op: Operation, target_id: uuid.UUID, reason: ReportReason, details: str) -> Report:
    """Store a report for moderators (the reported person is not told). Works across a block
    (block and report is the usual pair) and on suspended accounts; one open report per
    reporter and person (AlreadyExists: moderators have it). Spends `reports_per_day`."""
    session, viewer = op.session, op.viewer
    await op.hit(Limit.REPORTS_PER_DAY)
    problems = Problems()
    cleaned = validation.text(problems, "details", details, max_length=MAX_DETAILS, multiline=True)
    problems.raise_if_any()
    not_yourself(viewer.id, target_id)
    if await session.get(User, target_id) is None:
        raise NotFoundError("No such user.", field="userId", id=str(target_id))
    already = await session.scalar(
        select(col(Report.id)).where(
            col(Report.reporter_id) == viewer.id,
            col(Report.reported_id) == target_id,
            col(Report.status) == ReportStatus.OPEN,
        )
    )
    if already is not None:
        raise AlreadyExists("You have reported this person; moderators have it.", field="userId")
    row = Report(reporter_id=viewer.id, reported_id=target_id, reason=reason, details=cleaned or "")
    session.add(row)
    await session.commit()
    return row


def require_moderator(viewer: Viewer) -> None:
    if viewer.user.role is not UserRole.MODERATOR:
        raise NotAllowedError(ErrorCode.MODERATORS_ONLY, "Only moderators can do this.")


async def reports(
    op: Operation,
    *,
    status: ReportStatus | None,
    reported_id: uuid.UUID | None,
    first: int | None,
    after: str | None,
) -> Page[Report]:
    """Moderators only: reports, newest first, by status and/or reported person."""
    require_moderator(op.viewer)
    query = select(Report)
    if status is not None:
        query = query.where(col(Report.status) == status)
    if reported_id is not None:
        query = query.where(col(Report.reported_id) == reported_id)
    settings = op.resources.settings
    return await newest_first(
        op.session,
        query,
        col(Report.id),
        first,
        after,
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
    )


def _note(problems: Problems, field: str, value: str) -> str:
    return (
        validation.text(
            problems, field, value, max_length=MAX_RESOLUTION_NOTE, multiline=True, required=True
        )
        or ""
    )


async def suspend(op: Operation, target_id: uuid.UUID, reason: str) -> tuple[User, int]:
    """Suspend an active account: it cannot log in, every token it holds stops working at
    once, it vanishes from recommendations, profiles and match lists, and every open report
    about it is closed as ACTION_TAKEN. Returns the user and how many reports were closed."""
    session, viewer = op.session, op.viewer
    require_moderator(viewer)
    problems = Problems()
    cleaned = _note(problems, "reason", reason)
    problems.raise_if_any()
    not_yourself(viewer.id, target_id)
    user = await session.get(User, target_id, with_for_update=True)
    if user is None:
        raise NotFoundError("No such user.", field="userId", id=str(target_id))
    if user.role is UserRole.MODERATOR:
        raise NotAllowedError(ErrorCode.NOT_ALLOWED, "Moderators cannot suspend moderators.")
    if user.status is not UserStatus.ACTIVE:
        raise NotAllowedError(ErrorCode.NOT_ACTIVE, "This account is not active.")
    now = utcnow()
    user.status, user.suspended_at, user.suspension_reason = UserStatus.SUSPENDED, now, cleaned
    await session.execute(delete(AuthToken).where(col(AuthToken.user_id) == target_id))
    closed = await session.execute(
        update(Report)
        .where(col(Report.reported_id) == target_id, col(Report.status) == ReportStatus.OPEN)
        .values(
            status=ReportStatus.ACTION_TAKEN,
            resolved_at=now,
            resolved_by=viewer.id,
            resolution_note=cleaned,
        )
    )
    # Cached viewers and open websockets would outlive the deleted tokens; and the person
    # leaves every cached recommendation list.
    session.after_commit(Revocation(target_id), *profile_changed(target_id))
    await session.commit()
    return user, int(closed.rowcount or 0)


async def reinstate(op: Operation, target_id: uuid.UUID) -> User:
    """Lift a suspension: the person can log in again (their old tokens stay revoked)."""
    session = op.session
    require_moderator(op.viewer)
    user = await session.get(User, target_id, with_for_update=True)
    if user is None:
        raise NotFoundError("No such user.", field="userId", id=str(target_id))
    if user.status is not UserStatus.SUSPENDED:
        raise NotAllowedError(ErrorCode.NOT_SUSPENDED, "This account is not suspended.")
    user.status, user.suspended_at, user.suspension_reason = UserStatus.ACTIVE, None, None
    session.after_commit(*profile_changed(target_id))
    await session.commit()
    return user


async def dismiss(op: Operation, report_id: int, note: str) -> Report:
    """Close an open report without action."""
    session, viewer = op.session, op.viewer
    require_moderator(viewer)
    problems = Problems()
    cleaned = _note(problems, "note", note)
    problems.raise_if_any()
    row = await session.get(Report, report_id, with_for_update=True)
    if row is None:
        raise NotFoundError("No such report.", field="id", id=str(report_id))
    if row.status is not ReportStatus.OPEN:
        raise NotAllowedError(ErrorCode.NOT_OPEN, "This report is already closed.")
    row.status, row.resolved_at, row.resolved_by = ReportStatus.DISMISSED, utcnow(), viewer.id
    row.resolution_note = cleaned
    await session.commit()
    return row


async def correct_birth_date(
    op: Operation, target_id: uuid.UUID, birth_date: date, today: date
) -> Profile:
    """Set someone's birth date: people cannot change their own once their profile exists
    (it would read other people's private age ranges; README "Privacy"). Not one's own."""
    session, viewer = op.session, op.viewer
    require_moderator(viewer)
    problems = Problems()
    clean_birth_date(problems, birth_date, today)
    problems.raise_if_any()
    not_yourself(viewer.id, target_id)
    profile = await session.get(Profile, target_id, with_for_update=True)
    if profile is None:
        raise NotFoundError("No such profile.", field="userId", id=str(target_id))
    profile.birth_date, profile.updated_at = birth_date, utcnow()
    # Their cached viewer holds the profile.
    session.after_commit(ForgetViewer(target_id), *profile_changed(target_id))
    await session.commit()
    return profile


async def set_role(session: OperationSession, email: str, role: UserRole) -> bool:
    """For the `rapport moderator` command: False if no account has this email."""
    result = await session.execute(
        update(User).where(col(User.email) == email.strip().lower()).values(role=role)
    )
    await session.commit()
    return bool(result.rowcount)
