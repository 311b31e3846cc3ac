"""GraphQL error types for expected failures, and the one decorator that turns a resolver's
`DomainError` into them. Clients switch on `__typename`; every error has `code` and `message`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import strawberry

from rapport.errors import (
    AlreadyExists as AlreadyExistsError,
)
from rapport.errors import (
    AuthenticationRequiredError,
    DomainError,
    ErrorCode,
    Invalid,
    InvalidCredentialsError,
    NotAllowedError,
    NotFoundError,
    RateLimitedError,
)
from schema.ids import decode

ErrorCodeEnum = strawberry.enum(
    ErrorCode, name="ErrorCode", description="Machine-readable error codes."
)


@strawberry.interface(description="An expected failure: switch on __typename, show `message`.")
class Error:
    code: ErrorCodeEnum  # type: ignore[valid-type]
    message: str


@strawberry.type(description="One bad input field: its path in the input, a code and a message.")
class FieldError:
    field: str
    code: ErrorCodeEnum  # type: ignore[valid-type]
    message: str


@strawberry.type(
    description="The input was refused; `errors` lists every bad field. Nothing changed."
)
class ValidationError(Error):
    errors: list[FieldError]


@strawberry.type(description="The thing asked for does not exist, or is not visible to you.")
class NotFound(Error):
    field: str | None = None
    missing_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id that was asked for."
    )


@strawberry.type(description="It exists already; nothing changed.")
class AlreadyExists(Error):
    field: str | None = None


@strawberry.type(description="A rule forbids it; `code` says which. Nothing changed.")
class NotAllowed(Error):
    pass


@strawberry.type(description="Sign in first: send 'Authorization: Bearer <token>'.")
class AuthenticationRequired(Error):
    pass


@strawberry.type(description="Email or password is incorrect (which one is not said).")
class InvalidCredentials(Error):
    pass


@strawberry.type(
    description="Too many of this action for now: retry after `retryAfter` seconds. "
    "Nothing changed."
)
class RateLimited(Error):
    limit: str = strawberry.field(description="Which limit, e.g. login_per_address.")
    retry_after: int = strawberry.field(description="Seconds until it may succeed.")


def to_graphql(error: DomainError) -> Error:
    match error:
        case Invalid():
            return ValidationError(
                code=error.code,
                message=error.message,
                errors=[
                    FieldError(field=p.field, code=p.code, message=p.message)
                    for p in error.problems
                ],
            )
        case NotFoundError():
            return NotFound(
                code=error.code,
                message=error.message,
                field=error.field,
                missing_id=strawberry.ID(error.id) if error.id else None,
            )
        case AlreadyExistsError():
            return AlreadyExists(code=error.code, message=error.message, field=error.field)
        case AuthenticationRequiredError():
            return AuthenticationRequired(code=error.code, message=error.message)
        case InvalidCredentialsError():
            return InvalidCredentials(code=error.code, message=error.message)
        case RateLimitedError():
            return RateLimited(
                code=error.code,
                message=error.message,
                limit=error.limit,
                retry_after=error.retry_after,
            )
        case NotAllowedError():
            return NotAllowed(code=error.code, message=error.message)
    raise TypeError(f"no GraphQL type for {type(error).__name__}")  # a bug: masked upstream


P = ParamSpec("P")
R = TypeVar("R")


def expected_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[Any]]:
    """Wrap a schema resolver so expected failures come back as union members."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return await fn(*args, **kwargs)
        except DomainError as error:
            return expected_error(error, kwargs)

    return wrapper


def expected_error(error: DomainError, arguments: Mapping[str, object]) -> Error:
    """The union member for a resolver's DomainError, given the field's arguments."""
    if isinstance(error, NotFoundError) and error.field and error.id:
        error.id = _as_sent(error.id, arguments.get(_snake(error.field)))
    return to_graphql(error)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _as_sent(key: str, sent: object) -> str:
    """missingId is the id as the client sent it (a global id, or an old raw one) when that
    is the argument the resolver did not find."""
    if isinstance(sent, str):
        decoded = decode(sent)
        if sent == key or (decoded is not None and decoded[1] == key):
            return sent
    return key
