"""Reading the outbox (`outbound_emails`) for operators: `rapport mail list` and `rapport mail
show EMAIL`. Without SMTP this is how staging testers get their sign-up codes (README: Email)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models import OutboundEmail
from rapport.errors import Problems
from rapport.mail import MAX_ATTEMPTS
from resolvers import validation


def status(row: OutboundEmail) -> str:
    if row.sent_at is not None:
        return "sent"
    return "failed" if row.attempts >= MAX_ATTEMPTS else "queued"


async def recent(
    session: AsyncSession, *, to: str | None = None, limit: int = 50
) -> list[OutboundEmail]:
    """The newest emails first, optionally only to one address (normalised as the API does)."""
    query = select(OutboundEmail).order_by(col(OutboundEmail.id).desc()).limit(limit)
    if to is not None:
        query = query.where(col(OutboundEmail.to_address) == validation.email(Problems(), "", to))
    return list((await session.execute(query)).scalars())


def table(rows: list[OutboundEmail]) -> str:
    head = ("to", "subject", "status", "created at")
    lines = [
        (r.to_address, r.subject, status(r), r.created_at.strftime("%Y-%m-%d %H:%M:%S %Z"))
        for r in rows
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(head, *lines, strict=False)]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
        for line in [head, *lines]
    )


def full(row: OutboundEmail) -> str:
    body = row.body or "(body removed once sent)"
    extra = f"\nLast error: {row.last_error}" if row.last_error else ""
    return (
        f"To: {row.to_address}\nSubject: {row.subject}\n"
        f"Status: {status(row)} (attempts {row.attempts}){extra}\n"
        f"Created: {row.created_at.isoformat()}\n\n{body}\n"
    )
