"""Chat: conversations, messages, read state, and the messageAdded subscription."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import async_sessionmaker
from strawberry.types import Info

from models import Message, Notification, NotificationKind
from rapport.db import OperationSession
from rapport.presence import online_key, watching_key
from resolvers import accounts, chat, live, notifications
from resolvers.chat import ConversationView, ReadMark
from resolvers.errors import DomainError, NotFoundError, Problems
from resolvers.pagination import row_id
from schema.errors import (
    AuthenticationRequired,
    NotAllowed,
    NotFound,
    RateLimited,
    ValidationError,
    expected_errors,
    to_graphql,
)
from schema.ids import Node, global_id, key_of, optional_global_id
from schema.types import Connection, User, connection, parse_number, parse_user_id, person


@strawberry.type(name="Message")
class MessageType(Node):
    """Its id is also its cursor (before/after/upTo): ids grow in each conversation's order."""

    row: strawberry.Private[Message]
    viewer_id: strawberry.Private[uuid.UUID]

    @classmethod
    def resolve_id(cls, root: MessageType, *, info: Info) -> str:
        return str(root.row.id)

    @strawberry.field
    def conversation_id(self) -> strawberry.ID:
        return global_id("Conversation", self.row.conversation_id)

    @strawberry.field(description="None once the sender deleted their account.")
    def sender_id(self) -> strawberry.ID | None:
        return optional_global_id("User", self.row.sender_id)

    @strawberry.field(description="Whether you sent it.")
    def mine(self) -> bool:
        return self.row.sender_id == self.viewer_id

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field(description="The id your client gave it (your own messages only).")
    def client_message_id(self) -> str | None:
        return self.row.client_message_id if self.mine() else None

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(
        description="Its conversation as `conversations` shows it to you now (last message, "
        "unread count, read mark; null if no longer yours to see): select it in "
        "sendMessage's answer so a normalised cache updates the conversation too."
    )
    async def conversation(self, info: Info) -> ConversationType | None:
        viewer = await info.context.require_viewer()
        # A session of its own: this field may be selected in a long-lived subscription.
        async with info.context.resources.sessionmaker() as session:
            try:
                view = await chat.conversation_view(session, viewer, self.row.conversation_id)
            except NotFoundError:  # no longer yours to see (a block since)
                return None
        return ConversationType(view=view, viewer_id=viewer.id)


@strawberry.type(name="Conversation")
class ConversationType(Node):
    view: strawberry.Private[ConversationView]
    viewer_id: strawberry.Private[uuid.UUID]

    @classmethod
    def resolve_id(cls, root: ConversationType, *, info: Info) -> str:
        return str(root.view.conversation.id)

    @strawberry.field(description="The other member (None if their account is gone).")
    async def user(self, info: Info) -> User | None:
        return await person(info, self.view.other_id)

    @strawberry.field(description="False after an unmatch: it can be read, not written.")
    def open(self) -> bool:
        return self.view.open

    @strawberry.field
    def last_message(self) -> MessageType | None:
        last = self.view.last_message
        return MessageType(row=last, viewer_id=self.viewer_id) if last else None

    @strawberry.field(description="When it opened or last had a message.")
    def last_activity_at(self) -> datetime:
        return self.view.conversation.last_message_at

    @strawberry.field(description="Messages from the other member after your read mark.")
    def unread_count(self) -> int:
        return self.view.unread

    @strawberry.field(description="The last message you have read (your read mark).")
    def last_read_id(self) -> strawberry.ID | None:
        return optional_global_id("Message", self.view.last_read_id)

    @strawberry.field(description="Whether the other member is online now.")
    async def online(self, info: Info) -> bool:
        return await info.context.resources.presence.held(online_key(self.view.other_id))

    @strawberry.field(description="When the other member was last active.")
    def last_seen_at(self) -> datetime | None:
        return self.view.other_last_seen_at


@strawberry.type
class ReadState(Node):
    """Your read mark in one conversation (keyed by the conversation: only its members have
    one, and each sees their own)."""

    mark: strawberry.Private[ReadMark]

    @classmethod
    def resolve_id(cls, root: ReadState, *, info: Info) -> str:
        return str(root.mark.conversation_id)

    @strawberry.field
    def conversation_id(self) -> strawberry.ID:
        return global_id("Conversation", self.mark.conversation_id)

    @strawberry.field(description="Your read mark after this call (it never moves back).")
    def last_read_id(self) -> strawberry.ID | None:
        return optional_global_id("Message", self.mark.last_read_id)

    @strawberry.field
    def unread_count(self) -> int:
        return self.mark.unread

    @strawberry.field(
        description="The conversation with your read mark and unread count as they are now "
        "(so a normalised cache updates the conversation too)."
    )
    async def conversation(self, info: Info) -> ConversationType:
        viewer = await info.context.require_viewer()
        view = await chat.conversation_view(info.context.session, viewer, self.mark.conversation_id)
        return ConversationType(view=view, viewer_id=viewer.id)


NotificationKindEnum = strawberry.enum(NotificationKind, name="NotificationKind")


@strawberry.type(name="Notification")
class NotificationType(Node):
    """Its id is also its cursor (after, upTo)."""

    row: strawberry.Private[Notification]

    @classmethod
    def resolve_id(cls, root: NotificationType, *, info: Info) -> str:
        return str(root.row.id)

    @strawberry.field
    def kind(self) -> NotificationKindEnum:  # type: ignore[valid-type]
        return self.row.kind

    @strawberry.field(description="Who caused it (None once their account is gone).")
    def actor_id(self) -> strawberry.ID | None:
        return optional_global_id("User", self.row.actor_id)

    @strawberry.field(description="The interest request it is about, if any.")
    def request_id(self) -> strawberry.ID | None:
        return _ref(self.row, "requestId", "InterestRequest")

    @strawberry.field(description="The match it is about, if any.")
    def match_id(self) -> strawberry.ID | None:
        return _ref(self.row, "matchId", "Match")

    @strawberry.field(description="The conversation it is about, if any.")
    def conversation_id(self) -> strawberry.ID | None:
        return _ref(self.row, "conversationId", "Conversation")

    @strawberry.field(description="The message it is about, if any.")
    def message_id(self) -> strawberry.ID | None:
        return _ref(self.row, "messageId", "Message")

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def read_at(self) -> datetime | None:
        return self.row.read_at


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


@strawberry.type(description="The other member is typing (sent by their client every few seconds).")
class Typing:
    conversation_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.type(description="The other member read the conversation up to a message.")
class ReadReceipt:
    conversation_id: strawberry.ID
    user_id: strawberry.ID
    last_read_id: strawberry.ID | None


@strawberry.type(description="Whether a match is online now, and when they were last active.")
class Presence(Node):
    """Keyed by the person it is about."""

    user_id: strawberry.ID
    online: bool
    last_seen_at: datetime | None
    key: strawberry.Private[uuid.UUID]

    @classmethod
    def resolve_id(cls, root: Presence, *, info: Info) -> str:
        return str(root.key)


@strawberry.type
class Sent:
    ok: bool


ConversationsResult = Annotated[
    Connection[ConversationType] | ValidationError | AuthenticationRequired,
    strawberry.union("ConversationsResult"),
]
MessagesResult = Annotated[
    Connection[MessageType] | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("MessagesResult"),
]
SendMessageResult = Annotated[
    MessageType | ValidationError | NotFound | NotAllowed | RateLimited | AuthenticationRequired,
    strawberry.union("SendMessageResult"),
]
MarkReadResult = Annotated[
    ReadState | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("MarkReadResult"),
]
NotificationsResult = Annotated[
    Connection[NotificationType] | ValidationError | AuthenticationRequired,
    strawberry.union("NotificationsResult"),
]
NotificationsReadResult = Annotated[
    NotificationsRead | ValidationError | AuthenticationRequired,
    strawberry.union("MarkNotificationsReadResult"),
]
NotificationAddedResult = Annotated[
    NotificationType | ValidationError | AuthenticationRequired,
    strawberry.union("NotificationAddedResult"),
]
TypingResult = Annotated[
    Typing | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("TypingResult"),
]
SendTypingResult = Annotated[
    Sent | ValidationError | NotFound | NotAllowed | AuthenticationRequired,
    strawberry.union("SendTypingResult"),
]
ReadReceiptResult = Annotated[
    ReadReceipt | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("ReadReceiptResult"),
]
PresenceResult = Annotated[
    Presence | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("PresenceResult"),
]
MessageAddedResult = Annotated[
    MessageType | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("MessageAddedResult"),
]


@strawberry.type
class ChatQueries:
    @strawberry.field(description="Your conversations, most recent activity first.")
    @expected_errors
    async def conversations(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ConversationsResult:
        viewer = await info.context.require_viewer()
        page = await chat.conversations(
            info.context.session,
            viewer,
            first=first,
            after=after,
            **info.context.page_sizes,
        )
        return connection(page, lambda v: ConversationType(view=v, viewer_id=viewer.id))

    @strawberry.field(
        description="A conversation's messages: newest first, or with `after` (a message id) "
        "oldest first from just after it. `before` pages back in time."
    )
    @expected_errors
    async def messages(
        self,
        info: Info,
        conversation_id: strawberry.ID,
        first: int | None = None,
        before: strawberry.ID | None = None,
        after: strawberry.ID | None = None,
    ) -> MessagesResult:
        viewer = await info.context.require_viewer()
        page = await chat.history(
            info.context.session,
            viewer,
            parse_number(conversation_id, "conversationId", "Conversation"),
            first=first,
            before=key_of(before, "Message") if before is not None else None,
            after=key_of(after, "Message") if after is not None else None,
            **info.context.page_sizes,
        )
        return connection(page, lambda m: MessageType(row=m, viewer_id=viewer.id))

    @strawberry.field(description="Your notifications, newest first.")
    @expected_errors
    async def notifications(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
    ) -> NotificationsResult:
        viewer = await info.context.require_viewer()
        page = await notifications.listing(
            info.context.session,
            viewer,
            unread_only=unread_only,
            first=first,
            after=after,
            **info.context.page_sizes,
        )
        return connection(page, lambda n: NotificationType(row=n))

    @strawberry.field(description="Whether someone you are matched with is online now.")
    @expected_errors
    async def presence(self, info: Info, user_id: strawberry.ID) -> PresenceResult:
        viewer = await info.context.require_viewer()
        other = parse_user_id(user_id)
        last_seen = await chat.last_seen_of_match(info.context.session, viewer, other)
        online = await info.context.resources.presence.held(online_key(other))
        return Presence(
            user_id=global_id("User", other), online=online, last_seen_at=last_seen, key=other
        )


@strawberry.type
class ChatMutations:
    @strawberry.mutation(
        description="Send a message. Idempotent per clientMessageId: a retry returns the same "
        "message. Stored before anyone is told."
    )
    @expected_errors
    async def send_message(
        self, info: Info, conversation_id: strawberry.ID, body: str, client_message_id: str
    ) -> SendMessageResult:
        viewer = await info.context.require_viewer()
        cid = parse_number(conversation_id, "conversationId", "Conversation")
        op = info.context.operation(viewer)
        message = await chat.send_message(op, cid, body, client_message_id)
        return MessageType(row=message, viewer_id=viewer.id)

    @strawberry.mutation(
        description="Mark the conversation read up to a message; the other member is told."
    )
    @expected_errors
    async def mark_read(
        self, info: Info, conversation_id: strawberry.ID, up_to: strawberry.ID
    ) -> MarkReadResult:
        viewer = await info.context.require_viewer()
        cid = parse_number(conversation_id, "conversationId", "Conversation")
        mark = await chat.mark_read(info.context.operation(viewer), cid, key_of(up_to, "Message"))
        return ReadState(mark=mark)

    @strawberry.mutation(
        description="Tell the other member you are typing (send every few seconds while you "
        "type; never stored)."
    )
    @expected_errors
    async def send_typing(self, info: Info, conversation_id: strawberry.ID) -> SendTypingResult:
        viewer = await info.context.require_viewer()
        cid = parse_number(conversation_id, "conversationId", "Conversation")
        return Sent(ok=await chat.typing(info.context.operation(viewer), cid))

    @strawberry.mutation(description="Mark your notifications read: all, or up to one.")
    @expected_errors
    async def mark_notifications_read(
        self, info: Info, up_to: strawberry.ID | None = None
    ) -> NotificationsReadResult:
        viewer = await info.context.require_viewer()
        if up_to is not None:
            up_to = strawberry.ID(key_of(up_to, "Notification"))
        marked, rows, unread = await notifications.mark_read(
            info.context.session, viewer, up_to, info.context.page_sizes["max_size"]
        )
        return NotificationsRead(
            marked=marked,
            unread_count=unread,
            notifications=[NotificationType(row=row) for row in rows],
        )


@strawberry.type
class ChatSubscriptions:
    @strawberry.subscription(
        description="Every message after `after` (a message id; omitted: from now on) from the "
        "database, then each new one as it is sent: in order, none missed, none twice."
    )
    async def message_added(
        self, info: Info, conversation_id: strawberry.ID, after: strawberry.ID | None = None
    ) -> AsyncGenerator[MessageAddedResult, None]:
        try:
            viewer = await info.context.require_viewer()
            cid = parse_number(conversation_id, "conversationId", "Conversation")
            problems = Problems()
            after_id = chat.message_id(
                problems, "after", key_of(after, "Message") if after is not None else None
            )
            problems.raise_if_any()
            resources = info.context.resources
            stream = live.message_stream(
                resources.sessionmaker, resources.hub, viewer.id, cid, after_id
            )
            async with (
                online(info, viewer.id),
                resources.presence.hold(watching_key(viewer.id, cid)),
            ):
                async for message in stream:
                    yield MessageType(row=message, viewer_id=viewer.id)
        except DomainError as error:
            yield refusal(error)

    @strawberry.subscription(
        name="notifications",
        description="Your notifications after `after` (a notification id; omitted: from now "
        "on), then each new one. Holding it marks you online.",
    )
    async def notifications_live(
        self, info: Info, after: strawberry.ID | None = None
    ) -> AsyncGenerator[NotificationAddedResult, None]:
        try:
            viewer = await info.context.require_viewer()
            problems = Problems()
            after_id = row_id(
                problems, "after", key_of(after, "Notification") if after else after, "notification"
            )
            problems.raise_if_any()
            resources = info.context.resources
            async with online(info, viewer.id):
                stream = live.notification_stream(
                    resources.sessionmaker, resources.hub, viewer.id, after_id
                )
                async for notification in stream:
                    yield NotificationType(row=notification)
        except DomainError as error:
            yield refusal(error)

    @strawberry.subscription(description="The other member typing in this conversation.")
    async def typing(
        self, info: Info, conversation_id: strawberry.ID
    ) -> AsyncGenerator[TypingResult, None]:
        try:
            async for signal in _signals(info, conversation_id, "typing"):
                yield Typing(
                    conversation_id=global_id(
                        "Conversation", key_of(conversation_id, "Conversation")
                    ),
                    user_id=global_id("User", signal.user_id),
                )
        except DomainError as error:
            yield refusal(error)

    @strawberry.subscription(description="The other member's read receipts in this conversation.")
    async def read_receipts(
        self, info: Info, conversation_id: strawberry.ID
    ) -> AsyncGenerator[ReadReceiptResult, None]:
        try:
            async for signal in _signals(info, conversation_id, "read"):
                yield ReadReceipt(
                    conversation_id=global_id(
                        "Conversation", key_of(conversation_id, "Conversation")
                    ),
                    user_id=global_id("User", signal.user_id),
                    last_read_id=optional_global_id("Message", signal.up_to),
                )
        except DomainError as error:
            yield refusal(error)


async def _signals(
    info: Info, conversation_id: strawberry.ID, kind: str
) -> AsyncIterator[live.Signal]:
    viewer = await info.context.require_viewer()
    cid = parse_number(conversation_id, "conversationId", "Conversation")
    resources = info.context.resources
    async for signal in live.signal_stream(
        resources.sessionmaker, resources.hub, viewer.id, cid, kind
    ):
        yield signal


def refusal(error: DomainError) -> Any:
    """A subscription's typed error (the union member for an expected failure; typed Any
    because each subscription's union differs)."""
    return to_graphql(error)


@asynccontextmanager
async def online(info: Info, user_id: uuid.UUID) -> AsyncIterator[None]:
    """Online while a subscription lives; when it ends, remember when they were last seen."""
    resources = info.context.resources
    try:
        async with resources.presence.hold(online_key(user_id)):
            yield
    finally:
        # Deferred: the subscription is usually ending because its task was cancelled.
        resources.defer(_seen(resources.sessionmaker, user_id))


async def _seen(sessions: async_sessionmaker[OperationSession], user_id: uuid.UUID) -> None:
    async with sessions() as session:
        await accounts.seen(session, user_id)
