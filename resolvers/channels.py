"""The pub/sub channels events go out on (resolvers/events.py) and subscriptions listen to
(resolvers/live.py)."""

from __future__ import annotations

import uuid

# A notification event carries nothing: subscribers read the rows after their cursor.
NOTIFIED = {"type": "notification"}


def conversation_channel(conversation_id: int) -> str:
    """Messages, typing and read receipts of one conversation."""
    return f"conversation:{conversation_id}"


def user_channel(user_id: uuid.UUID) -> str:
    """Notifications for one person."""
    return f"user:{user_id}"
