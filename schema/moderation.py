"""Reports and moderation: report (anyone), reports / suspendUser / reinstateUser /
dismissReport (moderators)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from models import Report, ReportReason, ReportStatus
from resolvers import moderation
from resolvers.operation import Operation
from schema.context import Info
from schema.errors import AlreadyExists, NotAllowed, NotFound, RateLimited
from schema.fields import viewer_field, viewer_mutation
from schema.ids import Node, global_id, optional_global_id
from schema.types import Connection, connection, parse_number, parse_user_id, today

ReportReasonEnum = strawberry.enum(ReportReason, name="ReportReason")
ReportStatusEnum = strawberry.enum(ReportStatus, name="ReportStatus")


@strawberry.type(name="Report")
class ReportType(Node):
    row: strawberry.Private[Report]
    reporter_id: strawberry.ID | None = strawberry.field(
        description="None once that account is deleted."
    )
    reported_user_id: strawberry.ID | None = strawberry.field(
        description="None once that account is deleted."
    )
    reason: ReportReasonEnum  # type: ignore[valid-type]
    details: str
    status: ReportStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: strawberry.ID | None = strawberry.field(description="The moderator who closed it.")
    resolution_note: str | None

    def __init__(self, row: Report) -> None:
        self.row = row
        self.reporter_id = optional_global_id("User", row.reporter_id)
        self.reported_user_id = optional_global_id("User", row.reported_id)
        self.reason, self.details, self.status = row.reason, row.details, row.status
        self.created_at, self.resolved_at = row.created_at, row.resolved_at
        self.resolved_by = optional_global_id("User", row.resolved_by)
        self.resolution_note = row.resolution_note

    @classmethod
    def resolve_id(cls, root: ReportType, *, info: Info) -> str:
        return str(root.row.id)


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


@strawberry.type
class ModerationQueries:
    @viewer_field(
        "ReportsResult",
        description="Moderators only: reports, newest first (default: open ones).",
    )
    async def reports(
        self,
        op: Operation,
        status: ReportStatusEnum | None = ReportStatus.OPEN,  # type: ignore[valid-type]
        reported_user_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ReportType] | NotAllowed:
        page = await moderation.reports(
            op,
            status=status,
            reported_id=parse_user_id(reported_user_id, "reportedUserId")
            if reported_user_id is not None
            else None,
            first=first,
            after=after,
        )
        return connection(page, lambda r: ReportType(row=r))


@strawberry.type
class ModerationMutations:
    @viewer_mutation(
        "ReportResult",
        description="Report someone to the moderators (details: at most 2,000 characters). "
        "Usually paired with block.",
    )
    async def report(
        self,
        op: Operation,
        user_id: strawberry.ID,
        reason: ReportReasonEnum,  # type: ignore[valid-type]
        details: str = "",
    ) -> ReportReceipt | NotFound | AlreadyExists | RateLimited:
        row = await moderation.report(op, parse_user_id(user_id), reason, details)
        assert row.id is not None
        return ReportReceipt(key=row.id, status=row.status)

    @viewer_mutation(
        "SuspendResult",
        description="Moderators only: suspend an account. It cannot log in, its tokens stop "
        "working, it vanishes from recommendations; open reports about it are closed.",
    )
    async def suspend_user(
        self, op: Operation, user_id: strawberry.ID, reason: str
    ) -> Suspension | NotFound | NotAllowed:
        user, closed = await moderation.suspend(op, parse_user_id(user_id), reason)
        assert user.suspended_at is not None
        return Suspension(
            user_id=global_id("User", user.id),
            suspended_at=user.suspended_at,
            closed_reports=closed,
        )

    @viewer_mutation("ReinstateResult", description="Moderators only: lift a suspension.")
    async def reinstate_user(
        self, op: Operation, user_id: strawberry.ID
    ) -> Reinstatement | NotFound | NotAllowed:
        user = await moderation.reinstate(op, parse_user_id(user_id))
        return Reinstatement(user_id=global_id("User", user.id))

    @viewer_mutation(
        "DismissReportResult",
        description="Moderators only: close an open report without action.",
    )
    async def dismiss_report(
        self, op: Operation, id: strawberry.ID, note: str
    ) -> ReportType | NotFound | NotAllowed:
        row = await moderation.dismiss(op, parse_number(id, "id", "Report", "ReportReceipt"), note)
        return ReportType(row=row)

    @viewer_mutation(
        "CorrectBirthDateResult",
        description="Moderators only: correct someone's birth date (people cannot change "
        "their own once their profile exists). Not your own.",
    )
    async def correct_birth_date(
        self, op: Operation, user_id: strawberry.ID, birth_date: date
    ) -> BirthDateCorrection | NotFound | NotAllowed:
        profile = await moderation.correct_birth_date(
            op, parse_user_id(user_id), birth_date, today()
        )
        return BirthDateCorrection(user_id=user_id, birth_date=profile.birth_date)
