"""Reports of people by people, kept for moderators."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, timestamp_field
from models.enums import ReportReason, ReportStatus

MAX_DETAILS = 2000
MAX_RESOLUTION_NOTE = 2000


class Report(SQLModel, table=True):
    """`reporter_id` and `reported_id` become NULL when that account is deleted: the report
    stays for the moderators' record, without the person."""

    __tablename__ = "reports"
    __table_args__ = (
        sa.CheckConstraint(f"char_length(details) <= {MAX_DETAILS}", name="details_length"),
        # A moderator's queue: open reports, oldest first.
        sa.Index("ix_reports_status_id", "status", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    reporter_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    reported_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), index=True),
    )
    reason: ReportReason = Field(
        sa_column=sa.Column(enum_type(ReportReason, "report_reason"), nullable=False)
    )
    details: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    status: ReportStatus = Field(
        default=ReportStatus.OPEN,
        sa_column=sa.Column(
            enum_type(ReportStatus, "report_status"), nullable=False, server_default="open"
        ),
    )
    created_at: datetime = timestamp_field()
    resolved_at: datetime | None = timestamp_field(nullable=True)
    resolved_by: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    resolution_note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
