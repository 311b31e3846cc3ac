"""The outbox: every email Rapport sends is first a row here, written in the transaction that
decided to send it (so none is lost or sent for a change that rolled back), then delivered by
rapport/mail.py when SMTP is configured."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import timestamp_field


class OutboundEmail(SQLModel, table=True):
    __tablename__ = "outbound_emails"
    __table_args__ = (
        # The sender's queue: unsent mail in order.
        sa.Index("ix_outbound_emails_unsent", "id", postgresql_where=sa.text("sent_at IS NULL")),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    to_address: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    subject: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # Emptied once sent: a sign-up code has no business staying in the database.
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = timestamp_field()
    sent_at: datetime | None = timestamp_field(nullable=True)
    attempts: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
