"""What the chat publishes after each commit, and on which channel. An event only says that
something new exists (and where to read it); subscribers read the rows from PostgreSQL, so a
lost or duplicated event costs a query, never a message."""

from __future__ import annotations

import uuid
from typing import Any, Protocol


class Publisher(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> bool: ...


def conversation_channel(conversation_id: int) -> str:
    """Messages, typing and read receipts of one conversation."""
    return f"conversation:{conversation_id}"


def user_channel(user_id: uuid.UUID) -> str:
    """Notifications for one person."""
    return f"user:{user_id}"


async def message_added(hub: Publisher, conversation_id: int, message_id: int) -> bool:
    return await hub.publish(
        conversation_channel(conversation_id), {"type": "message", "id": message_id}
    )


async def typing(hub: Publisher, conversation_id: int, user_id: uuid.UUID) -> bool:
    return await hub.publish(
        conversation_channel(conversation_id), {"type": "typing", "user": str(user_id)}
    )


async def read(hub: Publisher, conversation_id: int, user_id: uuid.UUID, up_to: int) -> bool:
    return await hub.publish(
        conversation_channel(conversation_id),
        {"type": "read", "user": str(user_id), "upTo": up_to},
    )


async def notified(hub: Publisher, user_id: uuid.UUID) -> bool:
    """Something new for them: their subscriptions read from their cursor."""
    return await hub.publish(user_channel(user_id), {"type": "notification"})
