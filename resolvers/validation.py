"""Input cleaning shared by every resolver: unicode normalisation, trimming, lengths, ranges,
emails, https URLs and interest tags. Each function records problems instead of raising, so one
call reports every bad field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from rapport.errors import ErrorCode, Problems

MAX_URL_LENGTH = 2048
# C0/C1 controls (but tab and newline), zero-width space, line/paragraph separators, bidi
# embeddings, overrides and isolates (text spoofing), word joiners and the BOM. Zero-width
# (non-)joiners and LRM/RLM stay: emoji sequences and several scripts need them.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_SPACES = re.compile(r"\s+")


def normalise_text(value: str, *, multiline: bool = False) -> str:
    """Invisible/control characters removed, then NFC (in that order: removing one can bring a
    letter and its combining mark together, which NFC then composes, so that the result is
    already normal and cleaning it again changes nothing), trimmed; single-line text has runs
    of whitespace folded to one space, multi-line text keeps its line breaks (at most two)."""
    value = unicodedata.normalize("NFC", _CONTROL.sub("", value)).replace("\r\n", "\n")
    if not multiline:
        return _SPACES.sub(" ", value).strip()
    lines = [_SPACES.sub(" ", line).strip() for line in value.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def text(
    problems: Problems,
    field: str,
    value: str | None,
    *,
    max_length: int,
    min_length: int = 0,
    multiline: bool = False,
    required: bool = False,
) -> str | None:
    if value is None:
        if required:
            problems.add(field, ErrorCode.REQUIRED, f"{field} is required.")
        return None
    cleaned = normalise_text(value, multiline=multiline)
    if required and not cleaned:
        problems.add(field, ErrorCode.REQUIRED, f"{field} must not be empty.")
    elif len(cleaned) < min_length:
        problems.add(field, ErrorCode.TOO_SHORT, f"{field} needs at least {min_length} characters.")
    elif len(cleaned) > max_length:
        problems.add(
            field,
            ErrorCode.TOO_LONG,
            f"{field} allows at most {max_length} characters (got {len(cleaned)}).",
        )
    return cleaned


def int_range(problems: Problems, field: str, value: int | None, low: int, high: int) -> int | None:
    if value is not None and not low <= value <= high:
        problems.add(field, ErrorCode.OUT_OF_RANGE, f"{field} must be between {low} and {high}.")
    return value


def float_range(
    problems: Problems, field: str, value: float | None, low: float, high: float
) -> float | None:
    if value is not None and not (low <= value <= high):  # also refuses NaN
        problems.add(
            field, ErrorCode.OUT_OF_RANGE, f"{field} must be between {low:g} and {high:g}."
        )
    return value


def ordered(
    problems: Problems, low_field: str, low: int | None, high_field: str, high: int | None
) -> None:
    if low is not None and high is not None and low > high:
        problems.add(
            low_field,
            ErrorCode.MIN_ABOVE_MAX,
            f"{low_field} ({low}) is above {high_field} ({high}).",
        )


def email(problems: Problems, field: str, value: str) -> str:
    """Syntax-checked, NFC, case-folded (addresses are unique regardless of case)."""
    candidate = normalise_text(value)
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        problems.add(field, ErrorCode.INVALID_EMAIL, f"Not a valid email address: {exc}")
        return candidate.lower()
    normalised = checked.normalized.lower()
    if len(normalised) > 254:
        problems.add(field, ErrorCode.TOO_LONG, "An email address has at most 254 characters.")
    return normalised


def https_url(problems: Problems, field: str, value: str) -> str:
    url = normalise_text(value)
    if len(url) > MAX_URL_LENGTH:
        problems.add(field, ErrorCode.TOO_LONG, f"A URL has at most {MAX_URL_LENGTH} characters.")
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or not host or " " in url:
        problems.add(field, ErrorCode.INVALID_FORMAT, "Not a valid URL.")
    elif parts.scheme.lower() != "https":
        problems.add(field, ErrorCode.INSECURE_URL, "Only https:// URLs are accepted.")
    elif parts.username or parts.password:
        problems.add(
            field, ErrorCode.INVALID_FORMAT, "URLs must not carry a user name or password."
        )
    return url


def url_list(problems: Problems, field: str, values: Sequence[str], *, max_items: int) -> list[str]:
    if len(values) > max_items:
        problems.add(field, ErrorCode.TOO_MANY, f"{field} allows at most {max_items} entries.")
    cleaned: list[str] = []
    for i, value in enumerate(values):
        url = https_url(problems, f"{field}[{i}]", value)
        if url in cleaned:
            problems.add(f"{field}[{i}]", ErrorCode.DUPLICATE, "This URL is already in the list.")
        cleaned.append(url)
    return cleaned


def tag(value: str) -> str:
    """An interest or expertise tag: NFKC, case-folded, whitespace folded, trimmed."""
    return _SPACES.sub(
        " ", _CONTROL.sub("", unicodedata.normalize("NFKC", value)).casefold()
    ).strip()


def tag_list(
    problems: Problems, field: str, values: Sequence[str], *, max_items: int, max_length: int
) -> list[str]:
    """Normalised, de-duplicated (first occurrence wins), order kept."""
    seen: dict[str, None] = {}
    for i, value in enumerate(values):
        name = tag(value)
        if not name:
            problems.add(f"{field}[{i}]", ErrorCode.REQUIRED, "Tags must not be empty.")
        elif len(name) > max_length:
            problems.add(
                f"{field}[{i}]", ErrorCode.TOO_LONG, f"Tags have at most {max_length} characters."
            )
        else:
            seen.setdefault(name, None)
    if len(seen) > max_items:
        problems.add(field, ErrorCode.TOO_MANY, f"{field} allows at most {max_items} tags.")
    return list(seen)
