"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from models.enums import (
    Gender,
    Intent,
    InterestRequestStatus,
    MatchOrigin,
    MatchStatus,
    MentorshipRole,
    SwipeKind,
    UserStatus,
)
from models.interests import Interest, UserInterest
from models.matching import (
    Block,
    GoalPhrase,
    InterestRequest,
    Match,
    MatchIndex,
    ProfileEmbedding,
    Swipe,
)
from models.profiles import Preferences, Profile
from models.users import AuthToken, User

metadata: MetaData = SQLModel.metadata

__all__ = [
    "AuthToken",
    "Block",
    "Gender",
    "GoalPhrase",
    "Intent",
    "Interest",
    "InterestRequest",
    "InterestRequestStatus",
    "Match",
    "MatchIndex",
    "MatchOrigin",
    "MatchStatus",
    "MentorshipRole",
    "Preferences",
    "Profile",
    "ProfileEmbedding",
    "Swipe",
    "SwipeKind",
    "User",
    "UserInterest",
    "UserStatus",
    "metadata",
]
