"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from models.chat import Conversation, ConversationMember, Message, Notification
from models.documents import PersistedDocument
from models.enums import (
    Gender,
    Intent,
    InterestRequestStatus,
    MatchOrigin,
    MatchStatus,
    MentorshipRole,
    NotificationKind,
    ReportReason,
    ReportStatus,
    SwipeKind,
    UserRole,
    UserStatus,
)
from models.interests import Interest, UserInterest
from models.mail import OutboundEmail
from models.matching import (
    Block,
    GoalPhrase,
    InterestRequest,
    Match,
    MatchIndex,
    ProfileEmbedding,
    Swipe,
)
from models.moderation import Report
from models.profiles import Preferences, Profile
from models.users import AuthToken, PendingRegistration, SignInAddress, User

metadata: MetaData = SQLModel.metadata

__all__ = [
    "AuthToken",
    "Block",
    "Conversation",
    "ConversationMember",
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
    "Message",
    "Notification",
    "NotificationKind",
    "OutboundEmail",
    "PendingRegistration",
    "PersistedDocument",
    "Preferences",
    "Profile",
    "ProfileEmbedding",
    "Report",
    "ReportReason",
    "ReportStatus",
    "SignInAddress",
    "Swipe",
    "SwipeKind",
    "User",
    "UserInterest",
    "UserRole",
    "UserStatus",
    "metadata",
]
