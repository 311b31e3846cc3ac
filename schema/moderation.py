"""Reports and moderation: report (anyone), reports / suspendUser / reinstateUser /
dismissReport (moderators)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from models import Report, ReportReason, ReportStatus
from rapport.rate_limits import Limit
from resolvers import moderation
from schema.errors import (
    AlreadyExists,
    AuthenticationRequired,
    NotAllowed,
    NotFound,
    RateLimited,
    ValidationError,
    expected_errors,
)
from schema.ids import Node, global_id, optional_global_id
from schema.types import Connection, connection, parse_number, parse_user_id, today

ReportReasonEnum = strawberry.enum(ReportReason, name="ReportReason")
ReportStatusEnum = strawberry.enum(ReportStatus, name="ReportStatus")


@strawberry.type(name="Report")
class ReportType(Node):
    row: strawberry.Private[Report]

    @classmethod
    def resolve_id(cls, root: ReportType, *, info: Info) -> str:
        return str(root.row.id)

    @strawberry.field(description="None once that account is deleted.")
    def reporter_id(self) -> strawberry.ID | None:
        return optional_global_id("User", self.row.reporter_id)

    @strawberry.field(description="None once that account is deleted.")
    def reported_user_id(self) -> strawberry.ID | None:
        return optional_global_id("User", self.row.reported_id)

    @strawberry.field
    def reason(self) -> ReportReasonEnum:  # type: ignore[valid-type]
        return self.row.reason

    @strawberry.field
    def details(self) -> str:
        return self.row.details

    @strawberry.field
    def status(self) -> ReportStatusEnum:  # type: ignore[valid-type]
        return self.row.status

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def resolved_at(self) -> datetime | None:
        return self.row.resolved_at

    @strawberry.field(description="The moderator who closed it.")
    def resolved_by(self) -> strawberry.ID | None:
        return optional_global_id("User", self.row.resolved_by)

    @strawberry.field
    def resolution_note(self) -> str | None:
        return self.row.resolution_note


@strawberry.type(description="Your report is stored for moderators; the person is not told.")
class ReportReceipt(Node):
    """Keyed by the report (the reporter's view of it)."""

    key: strawberry.Private[int]
    status: ReportStatusEnum  # type: ignore[valid-type]

    @classmethod
    def resolve_id(cls, root: ReportReceipt, *, info: Info) -> str:
        return str(root.key)


@strawberry.type
class Suspension:
    user_id: strawberry.ID
    suspended_at: datetime
    closed_reports: int = strawberry.field(description="Open reports about them, now closed.")


@strawberry.type
class Reinstatement:
    user_id: strawberry.ID


@strawberry.type
class BirthDateCorrection:
    user_id: strawberry.ID
    birth_date: date


ReportResult = Annotated[
    ReportReceipt
    | ValidationError
    | NotFound
    | AlreadyExists
    | RateLimited
    | AuthenticationRequired,
    strawberry.union("ReportResult"),
]
ReportsResult = Annotated[
    Connection[ReportType] | ValidationError | NotAllowed | AuthenticationRequired,
    strawberry.union("ReportsResult"),
]
SuspendResult = Annotated[
    Suspension | ValidationError | NotFound | NotAllowed | AuthenticationRequired,
    strawberry.union("SuspendResult"),
]
ReinstateResult = Annotated[
    Reinstatement | ValidationError | NotFound | NotAllowed | AuthenticationRequired,
    strawberry.union("ReinstateResult"),
]
DismissResult = Annotated[
    ReportType | ValidationError | NotFound | NotAllowed | AuthenticationRequired,
    strawberry.union("DismissReportResult"),
]

CorrectBirthDateResult = Annotated[
    BirthDateCorrection | ValidationError | NotFound | NotAllowed | AuthenticationRequired,
    strawberry.union("CorrectBirthDateResult"),
]


@strawberry.type
class ModerationQueries:
    @strawberry.field(description="Moderators only: reports, newest first (default: open ones).")
    @expected_errors
    async def reports(
        self,
        info: Info,
        status: ReportStatusEnum | None = ReportStatus.OPEN,  # type: ignore[valid-type]
        reported_user_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ReportsResult:
        viewer = await info.context.require_viewer()
        page = await moderation.reports(
            info.context.session,
            viewer,
            status=status,
            reported_id=parse_user_id(reported_user_id, "reportedUserId")
            if reported_user_id is not None
            else None,
            first=first,
            after=after,
            **info.context.page_sizes,
        )
        return connection(page, lambda r: ReportType(row=r))


@strawberry.type
class ModerationMutations:
    @strawberry.mutation(
        description="Report someone to the moderators (details: at most 2,000 characters). "
        "Usually paired with block."
    )
    @expected_errors
    async def report(
        self,
        info: Info,
        user_id: strawberry.ID,
        reason: ReportReasonEnum,  # type: ignore[valid-type]
        details: str = "",
    ) -> ReportResult:
        viewer = await info.context.require_viewer()
        target = parse_user_id(user_id)
        limits = info.context.resources.rate_limits
        await limits.hit(Limit.REPORTS_PER_DAY, str(viewer.id))
        row = await moderation.report(info.context.session, viewer, target, reason, details)
        assert row.id is not None
        return ReportReceipt(key=row.id, status=row.status)

    @strawberry.mutation(
        description="Moderators only: suspend an account. It cannot log in, its tokens stop "
        "working, it vanishes from recommendations; open reports about it are closed."
    )
    @expected_errors
    async def suspend_user(self, info: Info, user_id: strawberry.ID, reason: str) -> SuspendResult:
        viewer = await info.context.require_viewer()
        r = info.context.resources
        user, closed = await moderation.suspend(
            info.context.session, r.matcher, r.revocations, viewer, parse_user_id(user_id), reason
        )
        assert user.suspended_at is not None
        return Suspension(
            user_id=global_id("User", user.id),
            suspended_at=user.suspended_at,
            closed_reports=closed,
        )

    @strawberry.mutation(description="Moderators only: lift a suspension.")
    @expected_errors
    async def reinstate_user(self, info: Info, user_id: strawberry.ID) -> ReinstateResult:
        viewer = await info.context.require_viewer()
        target = parse_user_id(user_id)
        await moderation.reinstate(
            info.context.session, info.context.resources.matcher, viewer, target
        )
        return Reinstatement(user_id=global_id("User", target))

    @strawberry.mutation(description="Moderators only: close an open report without action.")
    @expected_errors
    async def dismiss_report(self, info: Info, id: strawberry.ID, note: str) -> DismissResult:
        viewer = await info.context.require_viewer()
        row = await moderation.dismiss(
            info.context.session, viewer, parse_number(id, "id", "Report", "ReportReceipt"), note
        )
        return ReportType(row=row)

    @strawberry.mutation(
        description="Moderators only: correct someone's birth date (people cannot change "
        "their own once their profile exists). Not your own."
    )
    @expected_errors
    async def correct_birth_date(
        self, info: Info, user_id: strawberry.ID, birth_date: date
    ) -> CorrectBirthDateResult:
        viewer = await info.context.require_viewer()
        r = info.context.resources
        profile = await moderation.correct_birth_date(
            info.context.session,
            r.matcher,
            r.viewer_cache,
            viewer,
            parse_user_id(user_id),
            birth_date,
            today(),
        )
        return BirthDateCorrection(user_id=user_id, birth_date=profile.birth_date)
