"""Reports and moderation: anyone reports (typed refusals change nothing), only moderators
list reports and suspend; a suspended account cannot log in, its tokens stop at once and it
vanishes from recommendations (cached lists included) until reinstated."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import func, select

from models import Report
from tests.support.chat import BLOCK
from tests.support.ids import user_of
from tests.support.mailbox import PASSWORD
from tests.support.people import Person, moderator, person, profile_input, recommended

REPORT = """mutation($id: ID!, $r: ReportReason!, $d: String!) {
  report(userId: $id, reason: $r, details: $d) {
  __typename ... on ReportReceipt { id status } ... on ValidationError { errors { field code } }
  ... on NotFound { code } ... on AlreadyExists { code } } }"""
REPORTS = """query($s: ReportStatus, $u: ID) { reports(status: $s, reportedUserId: $u) {
  __typename ... on NotAllowed { code } ... on AuthenticationRequired { code }
  ... on ReportConnection { nodes { id reporterId reportedUserId reason details status
      resolvedBy resolutionNote } } } }"""
SUSPEND = """mutation($id: ID!, $r: String!) { suspendUser(userId: $id, reason: $r) {
  __typename ... on Suspension { userId closedReports } ... on NotAllowed { code }
  ... on NotFound { code } ... on ValidationError { errors { field code } } } }"""
REINSTATE = """mutation($id: ID!) { reinstateUser(userId: $id) {
  __typename ... on NotAllowed { code } } }"""
DISMISS = """mutation($id: ID!, $n: String!) { dismissReport(id: $id, note: $n) {
  __typename ... on Report { status resolutionNote } ... on NotAllowed { code } } }"""
LOGIN = """mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) {
  __typename ... on AuthPayload { token } ... on NotAllowed { code message } } }"""
ME = "{ me { __typename } }"


async def reports_count(resources) -> int:
    async with resources.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Report)) or 0)


async def test_reports_are_validated_stored_once_and_work_across_a_block(gql, resources) -> None:
    me, other = await person(gql), await person(gql)
    bad = [
        ({"id": me.id, "r": "SPAM", "d": ""}, "ValidationError"),  # yourself
        ({"id": str(uuid.uuid4()), "r": "SPAM", "d": ""}, "NotFound"),
        ({"id": other.id, "r": "SPAM", "d": "x" * 2001}, "ValidationError"),
        ({"id": "not-an-id", "r": "SPAM", "d": ""}, "ValidationError"),
    ]
    for variables, typename in bad:
        assert (await gql(REPORT, variables, token=me.token))["report"]["__typename"] == typename
    assert await reports_count(resources) == 0
    await gql(BLOCK, {"id": other.id}, token=me.token)  # block and report: the usual pair
    stored = (
        await gql(REPORT, {"id": other.id, "r": "HARASSMENT", "d": " rude \n"}, token=me.token)
    )["report"]
    assert stored["__typename"] == "ReportReceipt" and stored["status"] == "OPEN"
    again = (await gql(REPORT, {"id": other.id, "r": "SPAM", "d": ""}, token=me.token))["report"]
    assert again == {"__typename": "AlreadyExists", "code": "ALREADY_EXISTS"}
    assert await reports_count(resources) == 1


async def test_only_moderators_see_reports_and_suspend(gql, resources) -> None:
    me, other = await person(gql), await person(gql)
    await gql(REPORT, {"id": other.id, "r": "SPAM", "d": "buy now"}, token=me.token)
    for token in (me.token, other.token):
        assert (await gql(REPORTS, {"s": "OPEN"}, token=token))["reports"] == {
            "__typename": "NotAllowed",
            "code": "MODERATORS_ONLY",
        }
        refused = await gql(SUSPEND, {"id": other.id, "r": "spam"}, token=token)
        assert refused["suspendUser"] == {"__typename": "NotAllowed", "code": "MODERATORS_ONLY"}
    anonymous = await gql(REPORTS, {"s": "OPEN"})
    assert anonymous["reports"]["__typename"] == "AuthenticationRequired"
    assert (await gql(ME, token=other.token))["me"]["__typename"] == "Me"  # not suspended


async def test_suspension_locks_the_account_out_everywhere_until_reinstated(gql, resources) -> None:
    mod = await moderator(gql, resources)
    email = f"suspect-{uuid.uuid4().hex[:8]}@example.com"
    token = await gql.register(email)
    await gql(
        "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }",
        {"i": profile_input()},
        token=token,
    )
    suspect = Person(
        token, user_of((await gql("{ me { ... on Me { id } } }", token=token))["me"]["id"])
    )
    viewer, witness = await person(gql), await person(gql)
    assert suspect.id in await recommended(gql, viewer)  # now in viewer's cached list
    for who in (viewer, witness):
        await gql(REPORT, {"id": suspect.id, "r": "SCAM", "d": "asked for money"}, token=who.token)
    listed = (await gql(REPORTS, {"s": "OPEN", "u": suspect.id}, token=mod.token))["reports"]
    assert {n["reporterId"] for n in listed["nodes"]} == {viewer.id, witness.id}

    bad = await gql(SUSPEND, {"id": suspect.id, "r": "  "}, token=mod.token)
    assert bad["suspendUser"]["__typename"] == "ValidationError"  # a reason is required
    assert (await gql(ME, token=suspect.token))["me"]["__typename"] == "Me"  # nothing changed

    done = (await gql(SUSPEND, {"id": suspect.id, "r": "scam"}, token=mod.token))["suspendUser"]
    assert done == {"__typename": "Suspension", "userId": suspect.id, "closedReports": 2}
    assert (await gql(ME, token=suspect.token))["me"]["__typename"] == "AuthenticationRequired"
    assert suspect.id not in await recommended(gql, viewer)
    user = await gql(
        "query($id: ID!) { user(id: $id) { __typename } }", {"id": suspect.id}, token=viewer.token
    )
    assert user["user"]["__typename"] == "NotFound"
    login = (await gql(LOGIN, {"e": email, "p": PASSWORD}))["login"]
    assert login["__typename"] == "NotAllowed" and login["code"] == "ACCOUNT_SUSPENDED"
    assert "scam" in login["message"]
    wrong = (await gql(LOGIN, {"e": email, "p": "not the password"}))["login"]
    assert wrong["__typename"] == "InvalidCredentials"  # the state is told only with the password
    closed = await gql(REPORTS, {"s": "ACTION_TAKEN", "u": suspect.id}, token=mod.token)
    assert {(n["status"], n["resolvedBy"]) for n in closed["reports"]["nodes"]} == {
        ("ACTION_TAKEN", mod.id)
    }
    twice = await gql(SUSPEND, {"id": suspect.id, "r": "scam"}, token=mod.token)
    assert twice["suspendUser"] == {"__typename": "NotAllowed", "code": "NOT_ACTIVE"}

    assert (await gql(REINSTATE, {"id": suspect.id}, token=mod.token))["reinstateUser"][
        "__typename"
    ] == "Reinstatement"
    back = (await gql(LOGIN, {"e": email, "p": PASSWORD}))["login"]
    assert back["__typename"] == "AuthPayload"
    # Back in the pool, like a newcomer: in every list built from now on (lists already
    # cached pick newcomers up when rebuilt, within matching/cache.py's TTL).
    assert suspect.id in await recommended(gql, await person(gql))


async def test_moderators_cannot_suspend_moderators_or_themselves(gql, resources) -> None:
    one, two = await moderator(gql, resources), await moderator(gql, resources)
    for target in (one, two):
        answer = (await gql(SUSPEND, {"id": target.id, "r": "x"}, token=one.token))["suspendUser"]
        assert answer["__typename"] in ("NotAllowed", "ValidationError")
    assert (await gql(ME, token=two.token))["me"]["__typename"] == "Me"


async def test_dismissing_a_report(gql, resources) -> None:
    mod, me, other = await moderator(gql, resources), await person(gql), await person(gql)
    receipt = (await gql(REPORT, {"id": other.id, "r": "OTHER", "d": "odd"}, token=me.token))[
        "report"
    ]
    dismissed = await gql(DISMISS, {"id": receipt["id"], "n": "not a violation"}, token=mod.token)
    assert dismissed["dismissReport"] == {
        "__typename": "Report",
        "status": "DISMISSED",
        "resolutionNote": "not a violation",
    }
    again = await gql(DISMISS, {"id": receipt["id"], "n": "x"}, token=mod.token)
    assert again["dismissReport"] == {"__typename": "NotAllowed", "code": "NOT_OPEN"}
    # Closed, the reporter may report again.
    new = (await gql(REPORT, {"id": other.id, "r": "OTHER", "d": ""}, token=me.token))["report"]
    assert new["__typename"] == "ReportReceipt"


def test_moderator_command_grants_and_revokes(database_url: str) -> None:
    import asyncio

    import asyncpg

    from tests.support.database import raw_dsn

    async def role(email: str) -> str | None:
        conn = await asyncpg.connect(raw_dsn(database_url))
        try:
            await conn.execute(
                "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x') "
                "ON CONFLICT DO NOTHING",
                uuid.uuid4(),
                email,
            )
            return await conn.fetchval("SELECT role FROM users WHERE email = $1", email)
        finally:
            await conn.close()

    email = f"cli-{uuid.uuid4().hex[:6]}@example.com"
    assert asyncio.run(role(email)) == "member"
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    command = [str(Path(sys.executable).parent / "rapport"), "moderator"]
    granted = subprocess.run([*command, email.upper()], env=env, capture_output=True, text=True)
    assert granted.returncode == 0, granted.stderr
    assert asyncio.run(role(email)) == "moderator"
    revoked = subprocess.run([*command, email, "--revoke"], env=env, capture_output=True, text=True)
    assert revoked.returncode == 0 and asyncio.run(role(email)) == "member"
    missing = subprocess.run(
        [*command, "nobody@example.com"], env=env, capture_output=True, text=True
    )
    assert missing.returncode != 0 and "no account" in missing.stderr
