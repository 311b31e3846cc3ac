"""Enumerations stored in the database (values are the lower-case strings)."""

from enum import StrEnum


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class UserRole(StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"  # lists reports, suspends accounts (granted with `rapport moderator`)


class ReportReason(StrEnum):
    HARASSMENT = "harassment"
    SPAM = "spam"
    FAKE_PROFILE = "fake_profile"
    INAPPROPRIATE_CONTENT = "inappropriate_content"
    UNDERAGE = "underage"
    SCAM = "scam"
    OTHER = "other"


class ReportStatus(StrEnum):
    OPEN = "open"
    ACTION_TAKEN = "action_taken"  # the account was suspended
    DISMISSED = "dismissed"


class Gender(StrEnum):
    WOMAN = "woman"
    MAN = "man"
    NON_BINARY = "non_binary"
    OTHER = "other"


class Intent(StrEnum):
    DATING = "dating"
    FRIENDSHIP = "friendship"
    MENTORSHIP = "mentorship"


class MentorshipRole(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


class SwipeKind(StrEnum):
    LIKE = "like"
    PASS = "pass"  # noqa: S105 (a swipe kind)


class MatchOrigin(StrEnum):
    MUTUAL_LIKE = "mutual_like"
    INTEREST_REQUEST = "interest_request"


class MatchStatus(StrEnum):
    ACTIVE = "active"
    UNMATCHED = "unmatched"


class InterestRequestStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class NotificationKind(StrEnum):
    INTEREST_RECEIVED = "interest_received"
    INTEREST_ACCEPTED = "interest_accepted"
    NEW_MATCH = "new_match"
    NEW_MESSAGE = "new_message"
