"""Email: resolvers put messages in the outbox table (models/mail.py) in their own transaction;
the Outbox delivers them over SMTP when RAPPORT_SMTP_URL is set (README: "Email").

Without SMTP nothing leaves the machine: in development each email is written to the log
(so a developer can read their sign-up code), and the rows wait in `outbound_emails` for an
SMTP server to be configured (or for `rapport mail show`, which prints them)."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from models import OutboundEmail
from models.base import utcnow
from rapport.db import OperationSession
from rapport.settings import Environment, Settings

log = logging.getLogger("rapport.mail")
MAX_ATTEMPTS = 10
BATCH = 20


_LATEST_SQL = """
SELECT body FROM outbound_emails WHERE to_address = $1 ORDER BY id DESC LIMIT 1
"""


async def latest_body(db: asyncpg.Pool | asyncpg.Connection, address: str) -> str | None:
    """The newest email queued for an address (emptied once sent): for
    tests and benchmarks, which sign people up without a mailbox."""
    body = await db.fetchval(_LATEST_SQL, address.strip().lower())
    return None if body is None else str(body)


def enqueue(session: AsyncSession, to: str, subject: str, body: str) -> None:
    """Queue an email; it is sent only if the caller's transaction commits."""
    session.add(OutboundEmail(to_address=to, subject=subject, body=body))


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # smtps://: TLS from the first byte; smtp:// upgrades with STARTTLS if offered

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("RAPPORT_SMTP_URL must look like smtp://user:pass@host:587")
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
        )


class Outbox:
    """Delivers queued email in the background: at start-up, every `poll_s` and whenever
    `wake()` says something was queued. Several instances share the queue safely (rows are
    claimed with SKIP LOCKED); a failed delivery is retried up to MAX_ATTEMPTS times."""

    def __init__(
        self, settings: Settings, sessions: async_sessionmaker[OperationSession], poll_s: float = 5
    ) -> None:
        self._server = SmtpServer.from_url(settings.smtp_url) if settings.smtp_url else None
        self._sender = settings.mail_from
        self._development = settings.env is Environment.DEVELOPMENT
        self._sessions = sessions
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def delivers(self) -> bool:
        return self._server is not None

    def queued(self, to: str, subject: str, body: str) -> None:
        """Called after a commit that queued an email: deliver it now, or say where it is."""
        if self._server is not None:
            self._wake.set()
        elif self._development:
            log.info("email to %s (not sent: no RAPPORT_SMTP_URL): %s\n%s", to, subject, body)
        else:
            log.debug("email to %s queued; not sent (no RAPPORT_SMTP_URL)", to)

    def start(self) -> None:
        if self._server is None:
            if not self._development:
                log.warning(
                    "RAPPORT_SMTP_URL is not set: emails (sign-up codes) are kept in the "
                    "outbound_emails table and not sent"
                )
        elif self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                while await self.deliver_batch() == BATCH:
                    pass
            except Exception:
                log.exception("delivering email failed; will try again")
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def deliver_batch(self) -> int:
        """Send up to BATCH queued emails; returns how many were tried."""
        assert self._server is not None
        async with self._sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(OutboundEmail)
                        .where(
                            col(OutboundEmail.sent_at).is_(None),
                            col(OutboundEmail.attempts) < MAX_ATTEMPTS,
                        )
                        .order_by(col(OutboundEmail.id))
                        .limit(BATCH)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            for row in rows:
                try:
                    await self._send(row)
                except (aiosmtplib.SMTPException, OSError) as exc:
                    row.attempts += 1
                    row.last_error = str(exc)[:500]
                    log.warning(
                        "email %s to %s not sent (attempt %d): %s",
                        row.id,
                        row.to_address,
                        row.attempts,
                        exc,
                    )
                else:
                    row.attempts += 1
                    row.sent_at, row.body = utcnow(), ""
            await session.commit()
            return len(rows)

    async def _send(self, row: OutboundEmail) -> None:
        server = self._server
        assert server is not None
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = (
            self._sender,
            row.to_address,
            row.subject,
        )
        message.set_content(row.body)
        await aiosmtplib.send(
            message,
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            timeout=30,
        )
