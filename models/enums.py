"""Enumerations stored in the database (values are the lower-case strings)."""

from enum import Enum


class UserStatus(str, Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class Gender(str, Enum):
    WOMAN = "woman"
    MAN = "man"
    NON_BINARY = "non_binary"
    OTHER = "other"


class Intent(str, Enum):
    DATING = "dating"
    FRIENDSHIP = "friendship"
    MENTORSHIP = "mentorship"


class MentorshipRole(str, Enum):
    MENTOR = "mentor"
    MENTEE = "mentee"
