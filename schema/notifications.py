"""Notifications: the list, marking them read, and the `notifications` subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from models import Notification, NotificationKind
from resolvers import live, notifications
from resolvers.operation import Operation
from schema.context import Info
from schema.errors import AuthenticationRequired, ValidationError
from schema.fields import viewer_field, viewer_mutation
from schema.ids import Node, key_of, optional_global_id
from schema.live import each
from schema.types import Connection, connection

NotificationKindEnum = strawberry.enum(NotificationKind, name="NotificationKind")


@strawberry.type(name="Notification")
class NotificationType(Node):
    """Its id is also its cursor (after, upTo)."""

    row: strawberry.Private[Notification]
    kind: NotificationKindEnum  # type: ignore[valid-type]
    actor_id: strawberry.ID | None = strawberry.field(
        description="Who caused it (None once their account is gone)."
    )
    request_id: strawberry.ID | None = strawberry.field(
        description="The interest request it is about, if any."
    )
    match_id: strawberry.ID | None = strawberry.field(description="The match it is about, if any.")
    conversation_id: strawberry.ID | None = strawberry.field(
        description="The conversation it is about, if any."
    )
    message_id: strawberry.ID | None = strawberry.field(
        description="The message it is about, if any."
    )
    created_at: datetime
    read_at: datetime | None

    def __init__(self, row: Notification) -> None:
        self.row = row
        self.kind = row.kind
        self.actor_id = optional_global_id("User", row.actor_id)
        self.request_id = _ref(row, "requestId", "InterestRequest")
        self.match_id = _ref(row, "matchId", "Match")
        self.conversation_id = _ref(row, "conversationId", "Conversation")
        self.message_id = _ref(row, "messageId", "Message")
        self.created_at, self.read_at = row.created_at, row.read_at

    @classmethod
    def resolve_id(cls, root: NotificationType, *, info: Info) -> str:
        return str(root.row.id)


def _ref(row: Notification, name: str, type_name: str) -> strawberry.ID | None:
    return optional_global_id(type_name, row.data.get(name))


@strawberry.type
class NotificationsRead:
    marked: int = strawberry.field(description="How many were marked read now.")
    unread_count: int
    notifications: list[NotificationType] = strawberry.field(
        description="The ones marked read now, newest first, with their readAt (so a "
        "normalised cache updates them): at most the largest page size (100 by default); when "
        "`marked` is larger, read the list again."
    )


NotificationAddedResult = Annotated[
    NotificationType | ValidationError | AuthenticationRequired,
    strawberry.union("NotificationAddedResult"),
]


@strawberry.type
class NotificationQueries:
    @viewer_field("NotificationsResult", description="Your notifications, newest first.")
    async def notifications(
        self,
        op: Operation,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
    ) -> Connection[NotificationType]:
        page = await notifications.listing(op, unread_only=unread_only, first=first, after=after)
        return connection(page, lambda n: NotificationType(row=n))


@strawberry.type
class NotificationMutations:
    @viewer_mutation(
        "MarkNotificationsReadResult",
        description="Mark your notifications read: all, or up to one.",
    )
    async def mark_notifications_read(
        self, op: Operation, up_to: strawberry.ID | None = None
    ) -> NotificationsRead:
        key = key_of(up_to, "Notification") if up_to is not None else None
        marked, rows, unread = await notifications.mark_read(op, key)
        return NotificationsRead(
            marked=marked,
            unread_count=unread,
            notifications=[NotificationType(row=row) for row in rows],
        )


@strawberry.type
class NotificationSubscriptions:
    @strawberry.subscription(
        name="notifications",
        description="Your notifications after `after` (a notification id; omitted: from now "
        "on), then each new one. Holding it marks you online.",
    )
    async def notifications_live(
        self, info: Info, after: strawberry.ID | None = None
    ) -> AsyncGenerator[NotificationAddedResult, None]:
        after_key = key_of(after, "Notification") if after else after
        async for item in each(
            info,
            lambda op: live.notifications_of(op, after_key),
            lambda op, row: NotificationType(row=row),
        ):
            yield item
