"""Chat: conversations, messages, read state, presence, and the subscriptions of a
conversation (messages, typing, read receipts)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry

from models.chat import MessageRow
from resolvers import chat, live
from resolvers.chat import ConversationView, ReadMark
from resolvers.operation import Operation
from schema.context import Info
from schema.errors import AuthenticationRequired, NotAllowed, NotFound, RateLimited, ValidationError
from schema.fields import viewer_field, viewer_mutation
from schema.ids import Node, global_id, key_of, node_id, optional_global_id, repeated_id
from schema.live import each
from schema.types import Connection, User, connection, parse_number, parse_user_id


@strawberry.type(name="Message")
class MessageType(Node):
    """Its id is also its cursor (before/after/upTo): ids grow in each conversation's order."""

    row: strawberry.Private[MessageRow]
    viewer_id: strawberry.Private[uuid.UUID]
    id: strawberry.ID = node_id()
    conversation_id: strawberry.ID
    sender_id: strawberry.ID | None = strawberry.field(
        description="None once the sender deleted their account."
    )
    mine: bool = strawberry.field(description="Whether you sent it.")
    body: str
    client_message_id: str | None = strawberry.field(
        description="The id your client gave it (your own messages only)."
    )
    created_at: datetime

    def __init__(self, row: MessageRow, viewer_id: uuid.UUID) -> None:
        self.row, self.viewer_id = row, viewer_id
        self.id = global_id("Message", row.id)
        self.conversation_id = repeated_id("Conversation", row.conversation_id)
        sender = row.sender_id
        self.sender_id = repeated_id("User", sender) if sender else None
        self.mine = row.sender_id == viewer_id
        self.body = row.body
        self.client_message_id = row.client_message_id if self.mine else None
        self.created_at = row.created_at

    @classmethod
    def resolve_id(cls, root: MessageType, *, info: Info) -> str:
        return str(root.row.id)

    @strawberry.field(
        description="Its conversation as `conversations` shows it to you now (last message, "
        "unread count, read mark; null if no longer yours to see): select it in "
        "sendMessage's answer so a normalised cache updates the conversation too."
    )
    async def conversation(self, info: Info) -> ConversationType | None:
        # Through the loader: one short session for all the messages of a list or an event
        # (none is held by a long-lived subscription); None if no longer yours (a block since).
        view = await info.context.loaders.conversation.load(self.row.conversation_id)
        return ConversationType(view=view, viewer_id=self.viewer_id) if view else None


@strawberry.type(name="Conversation")
class ConversationType(Node):
    view: strawberry.Private[ConversationView]
    viewer_id: strawberry.Private[uuid.UUID]
    id: strawberry.ID = node_id()

    @classmethod
    def resolve_id(cls, root: ConversationType, *, info: Info) -> str:
        return str(root.view.id)

    async def _online(self, info: Info) -> bool:
        return await chat.is_online(info.context.resources, self.view.other_id)

    user: User | None = strawberry.field(
        description="The other member (None if their account is gone)."
    )
    open: bool = strawberry.field(
        description="False after an unmatch: it can be read, not written."
    )
    last_message: MessageType | None
    last_activity_at: datetime = strawberry.field(
        description="When it opened or last had a message."
    )
    unread_count: int = strawberry.field(
        description="Messages from the other member after your read mark."
    )
    last_read_id: strawberry.ID | None = strawberry.field(
        description="The last message you have read (your read mark)."
    )
    online: bool = strawberry.field(
        resolver=_online, description="Whether the other member is online now."
    )
    last_seen_at: datetime | None = strawberry.field(
        description="When the other member was last active."
    )

    def __init__(self, view: ConversationView, viewer_id: uuid.UUID) -> None:
        self.view, self.viewer_id = view, viewer_id
        self.id = global_id("Conversation", view.id)
        self.user = User(view.other) if view.other else None
        self.open = view.open
        last = view.last_message
        self.last_message = MessageType(row=last, viewer_id=viewer_id) if last else None
        self.last_activity_at = view.last_activity_at
        self.unread_count = view.unread
        self.last_read_id = optional_global_id("Message", view.last_read_id)
        self.last_seen_at = view.other_last_seen_at


@strawberry.type
class ReadState(Node):
    """Your read mark in one conversation (keyed by the conversation: only its members have
    one, and each sees their own)."""

    mark: strawberry.Private[ReadMark]
    conversation_id: strawberry.ID
    last_read_id: strawberry.ID | None = strawberry.field(
        description="Your read mark after this call (it never moves back)."
    )
    unread_count: int

    def __init__(self, mark: ReadMark) -> None:
        self.mark = mark
        self.conversation_id = global_id("Conversation", mark.conversation_id)
        self.last_read_id = optional_global_id("Message", mark.last_read_id)
        self.unread_count = mark.unread

    @classmethod
    def resolve_id(cls, root: ReadState, *, info: Info) -> str:
        return str(root.mark.conversation_id)

    @strawberry.field(
        description="The conversation with your read mark and unread count as they are now "
        "(so a normalised cache updates the conversation too)."
    )
    async def conversation(self, info: Info) -> ConversationType:
        op = info.context.operation(await info.context.require_viewer())
        view = await chat.conversation_view(op, self.mark.conversation_id)
        return ConversationType(view=view, viewer_id=op.viewer.id)


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

    @classmethod
    def of(cls, presence: chat.Presence) -> Presence:
        user_id = presence.user_id
        return cls(
            user_id=global_id("User", user_id),
            online=presence.online,
            last_seen_at=presence.last_seen_at,
            key=user_id,
        )


@strawberry.type
class Sent:
    ok: bool


TypingResult = Annotated[
    Typing | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("TypingResult"),
]
ReadReceiptResult = Annotated[
    ReadReceipt | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("ReadReceiptResult"),
]
MessageAddedResult = Annotated[
    MessageType | ValidationError | NotFound | AuthenticationRequired,
    strawberry.union("MessageAddedResult"),
]


def _conversation_id(value: strawberry.ID) -> int:
    return parse_number(value, "conversationId", "Conversation")


def _message_key(value: strawberry.ID | None) -> str | None:
    return key_of(value, "Message") if value is not None else None


@strawberry.type
class ChatQueries:
    @viewer_field(
        "ConversationsResult", description="Your conversations, most recent activity first."
    )
    async def conversations(
        self, op: Operation, first: int | None = None, after: str | None = None
    ) -> Connection[ConversationType]:
        page = await chat.conversations(op, first=first, after=after)
        viewer_id = op.viewer.id  # once: an attribute of the account's ORM row
        return connection(page, lambda v: ConversationType(view=v, viewer_id=viewer_id))

    @viewer_field(
        "MessagesResult",
        description="A conversation's messages: newest first, or with `after` (a message id) "
        "oldest first from just after it. `before` pages back in time.",
    )
    async def messages(
        self,
        op: Operation,
        conversation_id: strawberry.ID,
        first: int | None = None,
        before: strawberry.ID | None = None,
        after: strawberry.ID | None = None,
    ) -> Connection[MessageType] | NotFound:
        page = await chat.history(
            op,
            _conversation_id(conversation_id),
            first=first,
            before=_message_key(before),
            after=_message_key(after),
        )
        viewer_id = op.viewer.id  # once: an attribute of the account's ORM row
        return connection(page, lambda m: MessageType(row=m, viewer_id=viewer_id))


@strawberry.type
class PresenceQueries:
    @viewer_field(
        "PresenceResult", description="Whether someone you are matched with is online now."
    )
    async def presence(self, op: Operation, user_id: strawberry.ID) -> Presence | NotFound:
        return Presence.of(await chat.presence(op, parse_user_id(user_id)))


@strawberry.type
class ChatMutations:
    @viewer_mutation(
        "SendMessageResult",
        description="Send a message. Idempotent per clientMessageId: a retry returns the same "
        "message. Stored before anyone is told.",
    )
    async def send_message(
        self, op: Operation, conversation_id: strawberry.ID, body: str, client_message_id: str
    ) -> MessageType | NotFound | NotAllowed | RateLimited:
        cid = _conversation_id(conversation_id)
        message = await chat.send_message(op, cid, body, client_message_id)
        return MessageType(row=message, viewer_id=op.viewer.id)

    @viewer_mutation(
        "MarkReadResult",
        description="Mark the conversation read up to a message; the other member is told.",
    )
    async def mark_read(
        self, op: Operation, conversation_id: strawberry.ID, up_to: strawberry.ID
    ) -> ReadState | NotFound:
        cid = _conversation_id(conversation_id)
        return ReadState(mark=await chat.mark_read(op, cid, key_of(up_to, "Message")))

    @viewer_mutation(
        "SendTypingResult",
        description="Tell the other member you are typing (send every few seconds while you "
        "type; never stored).",
    )
    async def send_typing(
        self, op: Operation, conversation_id: strawberry.ID
    ) -> Sent | NotFound | NotAllowed:
        return Sent(ok=await chat.typing(op, _conversation_id(conversation_id)))


@strawberry.type
class ChatSubscriptions:
    @strawberry.subscription(
        description="Every message after `after` (a message id; omitted: from now on) from the "
        "database, then each new one as it is sent: in order, none missed, none twice."
    )
    async def message_added(
        self, info: Info, conversation_id: strawberry.ID, after: strawberry.ID | None = None
    ) -> AsyncGenerator[MessageAddedResult, None]:
        async for item in each(
            info,
            lambda op: live.messages(op, _conversation_id(conversation_id), _message_key(after)),
            lambda op, row: MessageType(row=row, viewer_id=op.viewer.id),
        ):
            yield item


@strawberry.type
class SignalSubscriptions:
    """What passes straight from the other member, never stored."""

    @strawberry.subscription(description="The other member typing in this conversation.")
    async def typing(
        self, info: Info, conversation_id: strawberry.ID
    ) -> AsyncGenerator[TypingResult, None]:
        async for item in _signals(
            info,
            conversation_id,
            "typing",
            lambda conversation, signal: Typing(
                conversation_id=conversation, user_id=global_id("User", signal.user_id)
            ),
        ):
            yield item

    @strawberry.subscription(description="The other member's read receipts in this conversation.")
    async def read_receipts(
        self, info: Info, conversation_id: strawberry.ID
    ) -> AsyncGenerator[ReadReceiptResult, None]:
        async for item in _signals(
            info,
            conversation_id,
            "read",
            lambda conversation, signal: ReadReceipt(
                conversation_id=conversation,
                user_id=global_id("User", signal.user_id),
                last_read_id=optional_global_id("Message", signal.up_to),
            ),
        ):
            yield item


def _signals(
    info: Info,
    conversation_id: strawberry.ID,
    kind: str,
    item: Callable[[strawberry.ID, live.Signal], Any],
) -> AsyncIterator[Any]:
    """The other member's signals of one kind in a conversation, each mapped by `item` (given
    the conversation's global id)."""
    conversation = global_id("Conversation", key_of(conversation_id, "Conversation"))
    return each(
        info,
        lambda op: live.signals(op, _conversation_id(conversation_id), kind),
        lambda op, signal: item(conversation, signal),
    )
