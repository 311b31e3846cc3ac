"""What the chat publishes, and on which channel, as effects (resolvers/effects.py) that run
once the commit that stored what they announce succeeded. An event only says that something
new exists (and where to read it); subscribers read the rows from PostgreSQL, so a lost or
duplicated event costs a query, never a message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from models.chat import MessageRow
from resolvers.channels import conversation_channel
from resolvers.effects import Notify, Publish


def message_added(message: MessageRow, previous_id: int | None) -> Publish:
    """A new message, with the id of the one before it in its conversation: a subscriber
    whose last delivered message is that one delivers this straight from the event; any other
    reads the database from its cursor (a lost or reordered event costs a query)."""
    return Publish(
        conversation_channel(message.conversation_id),
        {
            "type": "message",
            "id": message.id,
            "previous": previous_id or 0,
            "message": {
                "id": message.id,
                "conversation_id": message.conversation_id,
                "sender_id": str(message.sender_id) if message.sender_id else None,
                "body": message.body,
                "client_message_id": message.client_message_id,
                "created_at": message.created_at.isoformat(),
            },
        },
    )


def carried_message(event: dict[str, Any], last: int) -> MessageRow | None:
    """The message an event carries, if it comes right after `last` (see message_added)."""
    carried = event.get("message")
    if event.get("previous") != last or not isinstance(carried, dict):
        return None
    sender = carried.get("sender_id")
    return MessageRow(
        id=carried["id"],
        conversation_id=carried["conversation_id"],
        sender_id=uuid.UUID(sender) if sender else None,
        body=carried["body"],
        client_message_id=carried["client_message_id"],
        created_at=datetime.fromisoformat(carried["created_at"]),
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
