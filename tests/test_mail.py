"""The outbox delivers over real SMTP (aiosmtpd on loopback): sign-up codes arrive, sent rows
keep no body, and an unreachable server loses nothing (retried, then delivered)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from models import OutboundEmail
from rapport.mail import Outbox
from resolvers.accounts import code_in_email
from tests.support.mailbox import CONFIRM, PASSWORD, REGISTER
from tests.support.servers import free_port
from tests.support.settings import make_settings


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def settings(database_url: str, smtp) -> object:
    controller, _ = smtp
    return make_settings(
        database_url,
        smtp_url=f"smtp://127.0.0.1:{controller.port}",
        mail_from="Rapport <hello@rapport.test>",
    )


async def rows(resources) -> list[OutboundEmail]:
    async with resources.sessionmaker() as session:
        query = select(OutboundEmail).order_by(OutboundEmail.id)  # type: ignore[arg-type]
        return list((await session.execute(query)).scalars())


async def test_sign_up_codes_are_delivered_and_not_kept(gql, resources, smtp) -> None:
    _, inbox = smtp
    email = "mailed@example.com"
    started = await gql(REGISTER, {"i": {"email": email, "password": PASSWORD}})
    assert started["register"]["__typename"] == "RegistrationStarted"
    async with asyncio.timeout(60):  # the outbox was woken: no poll interval to wait out
        while not inbox.messages:  # noqa: ASYNC110 (aiosmtpd runs in a thread of its own)
            await asyncio.sleep(0.05)
    sender, recipients, content = inbox.messages[0]
    message = message_from_bytes(content)
    assert sender == "hello@rapport.test" and recipients == [email]
    assert message["Subject"] == "Your Rapport sign-up code"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    code = code_in_email(payload.decode())
    assert code is not None
    async with asyncio.timeout(60):
        while (sent := await rows(resources)) and sent[0].sent_at is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # (the outbox marks it sent after the SMTP answer)
    assert sent[0].body == "" and sent[0].attempts == 1  # the code is not kept once sent
    confirmed = await gql(CONFIRM, {"i": {"email": email, "code": code, "password": PASSWORD}})
    assert confirmed["confirmRegistration"]["__typename"] == "AuthPayload"


async def test_an_unreachable_server_loses_nothing(database_url, resources, smtp) -> None:
    controller, inbox = smtp
    down = make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    outbox = Outbox(down, resources.sessionmaker)  # not started: batches run by hand here
    async with resources.sessionmaker() as session:
        from rapport.mail import enqueue

        enqueue(session, "later@example.com", "Hello", "body text")
        await session.commit()
    assert await outbox.deliver_batch() == 1
    (row,) = [r for r in await rows(resources) if r.to_address == "later@example.com"]
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    assert row.body == "body text"
    up = Outbox(
        make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{controller.port}"),
        resources.sessionmaker,
    )
    assert await up.deliver_batch() >= 1
    assert any(recipients == ["later@example.com"] for _, recipients, _ in inbox.messages)
    (row,) = [r for r in await rows(resources) if r.to_address == "later@example.com"]
    assert row.sent_at is not None and row.attempts == 2
