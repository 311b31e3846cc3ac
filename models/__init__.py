"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from models.enums import Gender, Intent, MentorshipRole, UserStatus
from models.interests import Interest, UserInterest
from models.profiles import Preferences, Profile
from models.users import AuthToken, User

metadata: MetaData = SQLModel.metadata

__all__ = [
    "AuthToken",
    "Gender",
    "Intent",
    "Interest",
    "MentorshipRole",
    "Preferences",
    "Profile",
    "User",
    "UserInterest",
    "UserStatus",
    "metadata",
]
