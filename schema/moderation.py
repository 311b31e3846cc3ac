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
