"""What the chat publishes after each commit, and on which channel. An event only says that
something new exists (and where to read it); subscribers read the rows from PostgreSQL, so a
lost or duplicated event costs a query, never a message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from models import Message
from models.base import from_row


class Publisher(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> bool: ...


def conversation_channel(conversation_id: int) -> str:
    """Messages, typing and read receipts of one conversation."""
    return f"conversation:{conversation_id}"


def user_channel(user_id: uuid.UUID) -> str:
    """Notifications for one person."""
    return f"user:{user_id}"


async def message_added(hub: Publisher, message: Message, previous_id: int | None) -> bool:
    """A new message, with the id of the one before it in its conversation: a subscriber
    whose last delivered message is that one delivers this straight from the event; any other
    reads the database from its cursor (a lost or reordered event costs a query)."""
    return await hub.publish(
        conversation_channel(message.conversation_id),
        {
            "type": "message",
            "id": message.id,
            "previous": previous_id or 0,
            "message": message.model_dump(mode="json"),
        },
    )


def carried_message(event: dict[str, Any], last: int) -> Message | None:
    """The message an event carries, if it comes right after `last` (see message_added)."""
    carried = event.get("message")
    if event.get("previous") != last or not isinstance(carried, dict):
        return None
    sender = carried.get("sender_id")
    return from_row(
        Message,
        carried
        | {
            "sender_id": uuid.UUID(sender) if sender else None,
            "created_at": datetime.fromisoformat(carried["created_at"]),
        },
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
