"""Enumerations stored in the database (values are the lower-case strings)."""

from enum import StrEnum


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


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
