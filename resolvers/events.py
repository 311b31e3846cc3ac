"""What the chat publishes, and on which channel, as effects (resolvers/effects.py) that run
once the commit that stored what they announce succeeded. An event only says that something
new exists (and where to read it); subscribers read the rows from PostgreSQL, so a lost or
duplicated event costs a query, never a message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from models import Message
from models.base import from_row
from resolvers.channels import conversation_channel
from resolvers.effects import Notify, Publish


def message_added(message: Message, previous_id: int | None) -> Publish:
    """A new message, with the id of the one before it in its conversation: a subscriber
    whose last delivered message is that one delivers this straight from the event; any other
    reads the database from its cursor (a lost or reordered event costs a query)."""
    return Publish(
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


def typing(conversation_id: int, user_id: uuid.UUID) -> Publish:
    return Publish(conversation_channel(conversation_id), {"type": "typing", "user": str(user_id)})


def read(conversation_id: int, user_id: uuid.UUID, up_to: int) -> Publish:
    return Publish(
        conversation_channel(conversation_id),
        {"type": "read", "user": str(user_id), "upTo": up_to},
    )


def notified(user_id: uuid.UUID) -> Notify:
    """Something new for them: their subscriptions read from their cursor."""
    return Notify(user_id)
