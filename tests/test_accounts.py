"""Accounts at the schema level: register, login, logout, logoutEverywhere, changePassword, me."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlmodel import col

from models import AuthToken, OutboundEmail, PendingRegistration, User, UserStatus
from models.base import utcnow
from tests.support.mailbox import PASSWORD, latest_email, sign_up_code

REGISTER = """mutation($i: RegisterInput!) { register(input: $i) {
  __typename
  ... on RegistrationStarted { email codeExpiresAt }
  ... on ValidationError { code errors { field code message } }
  ... on RateLimited { limit }
} }"""
CONFIRM = """mutation($i: ConfirmRegistrationInput!) { confirmRegistration(input: $i) {
  __typename
  ... on AuthPayload { token expiresAt me { email status } }
  ... on ValidationError { errors { field code } }
  ... on RateLimited { limit }
} }"""
LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  __typename
  ... on AuthPayload { token }
  ... on InvalidCredentials { code message }
  ... on ValidationError { errors { field code } }
} }"""
ME = "{ me { __typename ... on Me { id email } ... on AuthenticationRequired { code message } } }"
CHANGE = """mutation($i: ChangePasswordInput!) { changePassword(input: $i) {
  __typename
  ... on ChangePasswordPayload { revokedTokens }
  ... on ValidationError { errors { field code } }
} }"""


async def count(resources, model) -> int:
    async with resources.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def login(gql, email: str, password: str = PASSWORD) -> dict:
    return (await gql(LOGIN, {"i": {"email": email, "password": password}}))["login"]


async def register(gql, email: str, password: str = PASSWORD) -> dict:
    return (await gql(REGISTER, {"i": {"email": email, "password": password}}))["register"]


async def confirm(gql, email: str, code: str, password: str = PASSWORD) -> dict:
    variables = {"i": {"email": email, "code": code, "password": password}}
    return (await gql(CONFIRM, variables))["confirmRegistration"]


async def test_sign_up_by_emailed_code_normalises_email_and_signs_in(gql, resources) -> None:
    started = await register(gql, "  Ada.Lovelace@Example.COM ")
    assert started["__typename"] == "RegistrationStarted"
    assert started["email"] == "ada.lovelace@example.com"
    assert await count(resources, User) == 0  # nothing exists before the code comes back
    code = await sign_up_code(resources.raw_pool, "ada.lovelace@example.com")
    payload = await confirm(gql, "ADA.lovelace@example.com", code)
    assert payload["__typename"] == "AuthPayload"
    assert payload["me"] == {"email": "ada.lovelace@example.com", "status": "ACTIVE"}
    assert payload["token"].startswith("rpt_")
    me = await gql(ME, token=payload["token"])
    assert me["me"]["email"] == "ada.lovelace@example.com"
    assert await count(resources, PendingRegistration) == 0
    again = await confirm(gql, "ada.lovelace@example.com", code)  # a code works once
    assert again == {
        "__typename": "ValidationError",
        "errors": [{"field": "code", "code": "INVALID_CODE"}],
    }


async def test_registering_a_taken_address_answers_the_same_and_sends_no_code(
    gql, resources
) -> None:
    await gql.register("bob@example.com")
    new = await register(gql, "new-person@example.com")
    taken = await register(gql, "BOB@Example.com")
    assert taken["__typename"] == new["__typename"] == "RegistrationStarted"
    assert set(taken) == set(new) and taken["email"] == "bob@example.com"
    note = await latest_email(resources.raw_pool, "bob@example.com")
    assert note is not None and "already have one" in note and "code is" not in note
    assert "code is" in (await latest_email(resources.raw_pool, "new-person@example.com") or "")
    # No code can turn the taken address's pending sign-up into a second account.
    for guess in ("000000", "123456"):
        refused = await confirm(gql, "bob@example.com", guess)
        assert refused["__typename"] == "ValidationError"
    assert await count(resources, User) == 1


async def test_a_later_sign_up_by_someone_else_cannot_set_the_owners_password(
    gql, resources
) -> None:
    """The owner signs up; an attacker then starts a sign-up for the same address with their
    own password. Both codes land in the owner's inbox; whichever the owner uses, the
    account gets the owner's password, never the attacker's."""
    email = "owner@example.com"
    assert (await register(gql, email, PASSWORD))["__typename"] == "RegistrationStarted"
    owners_code = await sign_up_code(resources.raw_pool, email)
    assert (await register(gql, email, "attacker password"))["__typename"] == "RegistrationStarted"
    attackers_code = await sign_up_code(resources.raw_pool, email)
    refused = await confirm(gql, email, attackers_code, PASSWORD)
    if attackers_code != owners_code:
        assert refused["__typename"] == "ValidationError"
    assert (await confirm(gql, email, owners_code, "attacker password"))["__typename"] == (
        "ValidationError"
    )
    assert (await confirm(gql, email, owners_code, PASSWORD))["__typename"] == "AuthPayload"
    assert (await login(gql, email, "attacker password"))["__typename"] == "InvalidCredentials"
    assert (await login(gql, email, PASSWORD))["__typename"] == "AuthPayload"


async def test_codes_are_bound_to_their_address_and_expire(gql, resources) -> None:
    await register(gql, "one@example.com")
    await register(gql, "two@example.com")
    code_one = await sign_up_code(resources.raw_pool, "one@example.com")
    assert (await confirm(gql, "two@example.com", code_one))["__typename"] == "ValidationError"
    async with resources.sessionmaker() as session:
        await session.execute(
            update(PendingRegistration).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await confirm(gql, "one@example.com", code_one))["__typename"] == "ValidationError"
    bad = await gql(CONFIRM, {"i": {"email": "one@example.com", "code": "12ab", "password": "x"}})
    assert bad["confirmRegistration"]["errors"] == [{"field": "code", "code": "INVALID_FORMAT"}]


async def test_guessing_codes_is_rate_limited(gql, resources) -> None:
    await register(gql, "guess@example.com")
    code = await sign_up_code(resources.raw_pool, "guess@example.com")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    outcomes = [(await confirm(gql, "guess@example.com", wrong))["__typename"] for _ in range(10)]
    assert outcomes == ["ValidationError"] * 10
    # The budget is spent: even the right code waits now.
    assert (await confirm(gql, "guess@example.com", code))["__typename"] == "RateLimited"


async def test_sign_up_mail_to_one_address_is_rate_limited(gql, resources) -> None:
    answers = [(await register(gql, "flooded@example.com"))["__typename"] for _ in range(6)]
    assert answers == ["RegistrationStarted"] * 5 + ["RateLimited"]
    assert await count(resources, OutboundEmail) == 5


async def test_register_reports_every_bad_field_and_writes_nothing(gql, resources) -> None:
    data = await gql(REGISTER, {"i": {"email": "not-an-email", "password": "short"}})
    result = data["register"]
    assert result["__typename"] == "ValidationError"
    assert result["code"] == "VALIDATION_FAILED"
    assert {(e["field"], e["code"]) for e in result["errors"]} == {
        ("email", "INVALID_EMAIL"),
        ("password", "TOO_SHORT"),
    }
    for model in (User, AuthToken, PendingRegistration, OutboundEmail):
        assert await count(resources, model) == 0


async def test_concurrent_confirmations_of_one_address_make_one_account(gql, resources) -> None:
    codes = []
    for variant in ["race@example.com", "RACE@example.com", "Race@example.com"]:
        await register(gql, variant)
        codes.append(await sign_up_code(resources.raw_pool, "race@example.com"))
    results = await asyncio.gather(*(confirm(gql, "race@example.com", c) for c in codes))
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["AuthPayload", "ValidationError", "ValidationError"]
    assert await count(resources, User) == 1


async def test_login_does_not_say_which_part_was_wrong(gql) -> None:
    await gql.register("carol@example.com")
    wrong_password = await login(gql, "carol@example.com", "wrong password!!")
    unknown_email = await login(gql, "nobody@example.com", "wrong password!!")
    assert (
        wrong_password
        == unknown_email
        == {
            "__typename": "InvalidCredentials",
            "code": "INVALID_CREDENTIALS",
            "message": "Email or password is incorrect.",
        }
    )
    ok = await login(gql, "CAROL@example.com")
    assert ok["__typename"] == "AuthPayload"


async def test_tokens_are_stored_only_as_hashes(gql, resources) -> None:
    token = await gql.register()
    async with resources.sessionmaker() as session:
        stored = (await session.execute(select(col(AuthToken.token_hash)))).scalars().all()
    assert len(stored) == 1
    assert token.encode() not in stored[0] and len(stored[0]) == 32
    assert stored[0] == resources.credentials.token_digest(token)


async def test_me_requires_a_valid_token(gql) -> None:
    for token in (None, "rpt_made-up", "garbage", "rpt_" + "x" * 500):
        data = await gql(ME, token=token)
        assert data["me"]["__typename"] == "AuthenticationRequired"
        assert data["me"]["code"] == "AUTHENTICATION_REQUIRED"


async def test_expired_token_is_refused(gql, resources) -> None:
    token = await gql.register()
    async with resources.sessionmaker() as session:
        await session.execute(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    assert (await gql(ME, token=token))["me"]["__typename"] == "AuthenticationRequired"


async def test_suspended_user_cannot_use_tokens_or_log_in(gql, resources) -> None:
    token = await gql.register("sus@example.com")
    async with resources.sessionmaker() as session:
        await session.execute(update(User).values(status=UserStatus.SUSPENDED))
        await session.commit()
    assert (await gql(ME, token=token))["me"]["__typename"] == "AuthenticationRequired"
    # The right password learns why (tests/test_moderation.py checks the code and reason).
    assert (await login(gql, "sus@example.com"))["__typename"] == "NotAllowed"


async def test_logout_revokes_only_that_token(gql) -> None:
    first = await gql.register("dan@example.com")
    second = (await login(gql, "dan@example.com"))["token"]
    data = await gql(
        "mutation { logout { __typename ... on LogoutPayload { revokedTokens } } }", token=first
    )
    assert data["logout"] == {"__typename": "LogoutPayload", "revokedTokens": 1}
    assert (await gql(ME, token=first))["me"]["__typename"] == "AuthenticationRequired"
    assert (await gql(ME, token=second))["me"]["__typename"] == "Me"


async def test_logout_everywhere_revokes_all(gql) -> None:
    first = await gql.register("eve@example.com")
    second = (await login(gql, "eve@example.com"))["token"]
    data = await gql(
        "mutation { logoutEverywhere { __typename ... on LogoutPayload { revokedTokens } } }",
        token=second,
    )
    assert data["logoutEverywhere"]["revokedTokens"] == 2
    for token in (first, second):
        assert (await gql(ME, token=token))["me"]["__typename"] == "AuthenticationRequired"


async def test_logout_needs_a_session(gql) -> None:
    data = await gql("mutation { logout { __typename } }")
    assert data["logout"]["__typename"] == "AuthenticationRequired"


async def test_change_password_revokes_other_sessions(gql) -> None:
    current = await gql.register("fay@example.com")
    other = (await login(gql, "fay@example.com"))["token"]
    new = "a brand new passphrase"
    data = await gql(
        CHANGE, {"i": {"currentPassword": PASSWORD, "newPassword": new}}, token=current
    )
    assert data["changePassword"] == {"__typename": "ChangePasswordPayload", "revokedTokens": 1}
    assert (await gql(ME, token=current))["me"]["__typename"] == "Me"
    assert (await gql(ME, token=other))["me"]["__typename"] == "AuthenticationRequired"
    assert (await login(gql, "fay@example.com"))["__typename"] == "InvalidCredentials"
    assert (await login(gql, "fay@example.com", new))["__typename"] == "AuthPayload"


async def test_change_password_checks_current_and_new(gql) -> None:
    token = await gql.register("gus@example.com")
    data = await gql(
        CHANGE, {"i": {"currentPassword": "not my password", "newPassword": "tiny"}}, token=token
    )
    assert {(e["field"], e["code"]) for e in data["changePassword"]["errors"]} == {
        ("currentPassword", "WRONG_PASSWORD"),
        ("newPassword", "TOO_SHORT"),
    }
    # nothing changed: the old password still works
    assert (await login(gql, "gus@example.com"))["__typename"] == "AuthPayload"


async def test_password_hash_is_argon2id_with_owasp_minimums(gql, resources) -> None:
    await gql.register()
    async with resources.sessionmaker() as session:
        stored = (await session.execute(select(col(User.password_hash)))).scalar_one()
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2


async def test_expired_tokens_are_purged(gql, resources) -> None:
    from resolvers.accounts import purge_expired

    await gql.register()
    live = await gql.register()
    async with resources.sessionmaker() as session:
        first = (await session.execute(select(col(AuthToken.id)).limit(1))).scalar_one()
        await session.execute(
            update(AuthToken)
            .where(col(AuthToken.id) == first)
            .values(expires_at=utcnow() - timedelta(days=1))
        )
        await session.commit()
        assert await purge_expired(session) == 1
    assert await count(resources, AuthToken) == 1
    assert live
