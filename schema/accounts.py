"""Accounts: register, login, logout, logoutEverywhere, changePassword, me."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from rapport.rate_limits import Limit
from resolvers import accounts, privacy
from schema.errors import (
    AuthenticationRequired,
    InvalidCredentials,
    NotAllowed,
    RateLimited,
    ValidationError,
    expected_errors,
)
from schema.types import Me


@strawberry.input
class RegisterInput:
    email: str
    password: str = strawberry.field(description="10 to 256 characters.")


@strawberry.input
class ConfirmRegistrationInput:
    email: str
    code: str = strawberry.field(description="The 6 digits emailed by register.")
    password: str = strawberry.field(description="The one given to register.")


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


@strawberry.type(description="A new session. Send the token as 'Authorization: Bearer <token>'.")
class AuthPayload:
    token: str
    expires_at: datetime
    me: Me


@strawberry.type
class LogoutPayload:
    revoked_tokens: int


@strawberry.type
class ChangePasswordPayload:
    revoked_tokens: int = strawberry.field(description="Your other sessions, now signed out.")
    me: Me


@strawberry.type(
    description="Check the inbox: a code was emailed (or, if the address already has an "
    "account, a note saying so). Finish with confirmRegistration. The same answer either way."
)
class RegistrationStarted:
    email: str
    code_expires_at: datetime


RegisterResult = Annotated[
    RegistrationStarted | ValidationError | RateLimited, strawberry.union("RegisterResult")
]
ConfirmRegistrationResult = Annotated[
    AuthPayload | ValidationError | RateLimited, strawberry.union("ConfirmRegistrationResult")
]
LoginResult = Annotated[
    AuthPayload | InvalidCredentials | NotAllowed | ValidationError | RateLimited,
    strawberry.union("LoginResult"),
]
LogoutResult = Annotated[LogoutPayload | AuthenticationRequired, strawberry.union("LogoutResult")]
ChangePasswordResult = Annotated[
    ChangePasswordPayload | ValidationError | RateLimited | AuthenticationRequired,
    strawberry.union("ChangePasswordResult"),
]
MeResult = Annotated[Me | AuthenticationRequired, strawberry.union("MeResult")]


@strawberry.type
class AccountDeleted:
    deleted: bool


@strawberry.type(description="Everything Rapport holds about you (format 1; README: Privacy).")
class DataExport:
    data: JSON


DeleteAccountResult = Annotated[
    AccountDeleted | ValidationError | RateLimited | AuthenticationRequired,
    strawberry.union("DeleteAccountResult"),
]
ExportResult = Annotated[DataExport | AuthenticationRequired, strawberry.union("ExportResult")]


def _payload(session: accounts.Session) -> AuthPayload:
    return AuthPayload(
        token=session.token,
        expires_at=session.expires_at,
        me=Me(user=session.user, own_profile=session.profile),
    )


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The signed-in account.")
    @expected_errors
    async def me(self, info: Info) -> MeResult:
        viewer = await info.context.require_viewer()
        return Me(user=viewer.user, own_profile=viewer.profile)

    @strawberry.field(
        description="Everything Rapport holds about you, as one JSON document: account, "
        "sessions, profile, preferences, interests, embeddings, swipes, matches, requests, "
        "conversations with their messages, notifications, blocks and reports you made."
    )
    @expected_errors
    async def export_my_data(self, info: Info) -> ExportResult:
        viewer = await info.context.require_viewer()
        return DataExport(data=cast(JSON, await privacy.export(info.context.session, viewer)))


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        description="Start a sign-up: a 6-digit code is emailed to the address. The answer "
        "never says whether the address already has an account."
    )
    @expected_errors
    async def register(self, info: Info, input: RegisterInput) -> RegisterResult:
        r = info.context.resources
        if (address := info.context.client_address) is not None:
            await r.rate_limits.hit(Limit.REGISTER_PER_ADDRESS, address)
        started = await accounts.register(
            info.context.session, r.credentials, r.rate_limits, input.email, input.password
        )
        return RegistrationStarted(email=started.email, code_expires_at=started.expires_at)

    @strawberry.mutation(
        description="Finish a sign-up with the emailed code: the account is created and signed in."
    )
    @expected_errors
    async def confirm_registration(
        self, info: Info, input: ConfirmRegistrationInput
    ) -> ConfirmRegistrationResult:
        r = info.context.resources
        if (address := info.context.client_address) is not None:
            await r.rate_limits.hit(Limit.CONFIRM_REGISTRATION_PER_ADDRESS, address)
        return _payload(
            await accounts.confirm_registration(
                info.context.session,
                r.credentials,
                info.context.guesses,
                r.token_ttl,
                input.email,
                input.code,
                input.password,
            )
        )

    @strawberry.mutation(description="Sign in; returns a new bearer token.")
    @expected_errors
    async def login(self, info: Info, input: LoginInput) -> LoginResult:
        r = info.context.resources
        if (address := info.context.client_address) is not None:
            await r.rate_limits.hit(Limit.LOGIN_PER_ADDRESS, address)
        return _payload(
            await accounts.login(
                info.context.session,
                r.credentials,
                info.context.guesses,
                r.token_ttl,
                input.email,
                input.password,
            )
        )

    @strawberry.mutation(description="Revoke the token this request was made with.")
    @expected_errors
    async def logout(self, info: Info) -> LogoutResult:
        viewer = await info.context.require_viewer()
        await accounts.logout(info.context.session, info.context.resources.revocations, viewer)
        return LogoutPayload(revoked_tokens=1)

    @strawberry.mutation(description="Revoke every token of this account, this one included.")
    @expected_errors
    async def logout_everywhere(self, info: Info) -> LogoutResult:
        viewer = await info.context.require_viewer()
        return LogoutPayload(
            revoked_tokens=await accounts.logout_everywhere(
                info.context.session, info.context.resources.revocations, viewer
            )
        )

    @strawberry.mutation(
        description="Delete your account and your personal data for good (your password "
        "confirms it). Your matches and their conversations go too, for both people."
    )
    @expected_errors
    async def delete_account(self, info: Info, password: str) -> DeleteAccountResult:
        viewer = await info.context.require_viewer()
        r = info.context.resources
        await privacy.delete_account(
            info.context.session,
            r.credentials,
            info.context.guesses,
            r.matcher,
            r.revocations,
            viewer,
            password,
        )
        return AccountDeleted(deleted=True)

    @strawberry.mutation(description="Change password; every other session is signed out.")
    @expected_errors
    async def change_password(self, info: Info, input: ChangePasswordInput) -> ChangePasswordResult:
        viewer = await info.context.require_viewer()
        revoked = await accounts.change_password(
            info.context.session,
            info.context.resources.credentials,
            info.context.resources.revocations,
            viewer,
            input.current_password,
            input.new_password,
            info.context.guesses,
        )
        return ChangePasswordPayload(
            revoked_tokens=revoked, me=Me(user=viewer.user, own_profile=viewer.profile)
        )
