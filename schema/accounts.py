"""Accounts: register, confirmRegistration, login, logout, logoutEverywhere, changePassword,
me."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers import accounts
from resolvers.operation import Operation
from schema.context import Info
from schema.errors import (
    InvalidCredentials,
    NotAllowed,
    RateLimited,
    ValidationError,
    expected_errors,
)
from schema.fields import viewer_field, viewer_mutation
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


# Signing up and in works without a viewer: no AuthenticationRequired in these.
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


def _payload(sign_in: accounts.SignIn) -> AuthPayload:
    return AuthPayload(
        token=sign_in.token,
        expires_at=sign_in.expires_at,
        me=Me(user=sign_in.user, own_profile=sign_in.profile),
    )


@strawberry.type
class AccountQueries:
    @viewer_field("MeResult", description="The signed-in account.")
    async def me(self, op: Operation) -> Me:
        return Me(user=op.viewer.user, own_profile=op.viewer.profile)


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        description="Start a sign-up: a 6-digit code is emailed to the address. The answer "
        "never says whether the address already has an account."
    )
    @expected_errors
    async def register(self, info: Info, input: RegisterInput) -> RegisterResult:
        started = await accounts.register(info.context.visit(), input.email, input.password)
        return RegistrationStarted(email=started.email, code_expires_at=started.expires_at)

    @strawberry.mutation(
        description="Finish a sign-up with the emailed code: the account is created and signed in."
    )
    @expected_errors
    async def confirm_registration(
        self, info: Info, input: ConfirmRegistrationInput
    ) -> ConfirmRegistrationResult:
        return _payload(
            await accounts.confirm_registration(
                info.context.visit(), input.email, input.code, input.password
            )
        )

    @strawberry.mutation(description="Sign in; returns a new bearer token.")
    @expected_errors
    async def login(self, info: Info, input: LoginInput) -> LoginResult:
        return _payload(await accounts.login(info.context.visit(), input.email, input.password))

    @viewer_mutation("LogoutResult", description="Revoke the token this request was made with.")
    async def logout(self, op: Operation) -> LogoutPayload:
        await accounts.logout(op)
        return LogoutPayload(revoked_tokens=1)

    @viewer_mutation(
        "LogoutResult", description="Revoke every token of this account, this one included."
    )
    async def logout_everywhere(self, op: Operation) -> LogoutPayload:
        return LogoutPayload(revoked_tokens=await accounts.logout_everywhere(op))

    @viewer_mutation(
        "ChangePasswordResult",
        description="Change password; every other session is signed out.",
    )
    async def change_password(
        self, op: Operation, input: ChangePasswordInput
    ) -> ChangePasswordPayload | RateLimited:
        revoked = await accounts.change_password(op, input.current_password, input.new_password)
        viewer = op.viewer
        return ChangePasswordPayload(
            revoked_tokens=revoked, me=Me(user=viewer.user, own_profile=viewer.profile)
        )
