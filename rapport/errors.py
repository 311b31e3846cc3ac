"""Expected failures, raised by resolver functions and turned into typed union results by
`schema/errors.py`. Anything else that escapes a resolver is a bug: it is masked for the client
and logged with a correlation id."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    # per-field problems (inside ValidationError.errors)
    REQUIRED = "required"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TOO_MANY = "too_many"
    OUT_OF_RANGE = "out_of_range"
    INVALID_FORMAT = "invalid_format"
    INVALID_EMAIL = "invalid_email"
    INSECURE_URL = "insecure_url"
    DUPLICATE = "duplicate"
    MIN_ABOVE_MAX = "min_above_max"
    NOT_ALLOWED = "not_allowed"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_CODE = "invalid_code"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (an error code)
    CANNOT_TARGET_SELF = "cannot_target_self"
    FIXED = "fixed"  # a field that cannot change once set (birthDate)
    # whole-result errors
    VALIDATION_FAILED = "validation_failed"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    AUTHENTICATION_REQUIRED = "authentication_required"
    INVALID_CREDENTIALS = "invalid_credentials"
    RATE_LIMITED = "rate_limited"
    # refusals by business rule (NotAllowed)
    NOT_PENDING = "not_pending"
    NOT_YOURS = "not_yours"
    ALREADY_MATCHED = "already_matched"
    NOTHING_TO_UNDO = "nothing_to_undo"
    PROFILE_REQUIRED = "profile_required"
    CONVERSATION_CLOSED = "conversation_closed"
    MODERATORS_ONLY = "moderators_only"
    NOT_ACTIVE = "not_active"
    NOT_SUSPENDED = "not_suspended"
    NOT_OPEN = "not_open"
    ACCOUNT_SUSPENDED = "account_suspended"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    code: ErrorCode
    message: str


class DomainError(Exception):
    """An expected failure. Subclasses map one-to-one onto GraphQL error types."""

    code: ErrorCode

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(DomainError):
    code = ErrorCode.VALIDATION_FAILED

    def __init__(self, problems: list[FieldProblem]) -> None:
        fields = ", ".join(sorted({p.field for p in problems}))
        super().__init__(f"Invalid input: {fields}.")
        self.problems = problems


class NotFoundError(DomainError):
    code = ErrorCode.NOT_FOUND

    def __init__(self, message: str, *, field: str | None = None, id: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.id = id


class AlreadyExists(DomainError):
    code = ErrorCode.ALREADY_EXISTS

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotAllowedError(DomainError):
    """A rule forbids it (the code says which); nothing changed."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class AuthenticationRequiredError(DomainError):
    code = ErrorCode.AUTHENTICATION_REQUIRED

    def __init__(
        self, message: str = "Sign in to do this: send 'Authorization: Bearer <token>'."
    ) -> None:
        super().__init__(message)


class InvalidCredentialsError(DomainError):
    code = ErrorCode.INVALID_CREDENTIALS

    def __init__(self, message: str = "Email or password is incorrect.") -> None:
        super().__init__(message)


class RateLimitedError(DomainError):
    """Too many of one action: try again after `retry_after` seconds. Nothing changed."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(f"Too many for now; try again in {_duration(retry_after)}.")
        self.limit = limit
        self.retry_after = retry_after


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{-(-seconds // 60)} minutes"
    return f"{-(-seconds // 3600)} hours"


class Problems:
    """Collects every bad field of one input, so the client hears about all of them at once."""

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, field: str, code: ErrorCode, message: str) -> None:
        self.items.append(FieldProblem(field, code, message))

    def has(self, field: str) -> bool:
        return any(p.field == field or p.field.startswith(f"{field}[") for p in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise Invalid(self.items)
