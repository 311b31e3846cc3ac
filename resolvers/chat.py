"""Chat rules: conversations between matched people, idempotent ordered sending, history,
read state. PostgreSQL is the source of truth; after each commit an event on the pub/sub
hub only says that something new exists (see resolvers/events.py)."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import and_, select, update
from sqlmodel import col

from models import (
    Conversation,
    ConversationMember,
    Match,
    MatchStatus,
    User,
)
from models.base import utcnow
from models.chat import MAX_BODY, MAX_CLIENT_ID, MESSAGE_COLUMNS, MessageRow
from models.matching import ordered_pair, other_of
from rapport.db import OperationSession
from rapport.errors import (
    ErrorCode,
    FieldProblem,
    Invalid,
    NotAllowedError,
    NotFoundError,
    Problems,
)
from rapport.presence import online_key, watching_key
from rapport.rate_limits import Limit
from resolvers import events, validation
from resolvers.accounts import Viewer
from resolvers.operation import Operation
from resolvers.pagination import (
    MAX_BIGINT,
    Page,
    is_int_key,
    make_page,
    page_request,
    page_sizes,
    row_id,
)
from resolvers.profiles import PERSON_COLUMNS, Person, person_of
from resolvers.visibility import active_account, blocked_between

if TYPE_CHECKING:
    from rapport.resources import Resources

REPLAY_BATCH = 200  # messages read per query when a subscription catches up
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    """A timestamp as whole microseconds since the epoch: exact, for cursors."""
    return (at - EPOCH) // timedelta(microseconds=1)


async def open_conversation(session: OperationSession, match: Match) -> Conversation:
    """The conversation of a new match, with its two members. Does not commit."""
    conversation = Conversation(match_id=match.id)  # type: ignore[arg-type]
    session.add(conversation)
    await session.flush()
    assert conversation.id is not None
    session.add_all(
        ConversationMember(conversation_id=conversation.id, user_id=user_id)
        for user_id in (match.user_low, match.user_high)
    )
    await session.flush()
    return conversation


@dataclass(frozen=True, slots=True)
class Membership:
    """The viewer's place in a conversation they can see: a block between its members hides
    it from both (it is not found) until the block is lifted."""

    conversation: Conversation
    match: Match
    member: ConversationMember

    @property
    def other_id(self) -> uuid.UUID:
        return other_of(self.match.user_low, self.match.user_high, self.member.user_id)

    @property
    def open(self) -> bool:
        """Writable: the match is still active (an unmatch closes it for good)."""
        return self.match.status is MatchStatus.ACTIVE


async def membership(
    session: OperationSession, viewer_id: uuid.UUID, conversation_id: int
) -> Membership:
    """The viewer's conversation, or NotFound (other people's conversations do not exist for
    them)."""
    query = (
        select(Conversation, Match, ConversationMember)
        .join(Match, col(Match.id) == col(Conversation.match_id))
        .join(
            ConversationMember,
            and_(
                col(ConversationMember.conversation_id) == col(Conversation.id),
                col(ConversationMember.user_id) == viewer_id,
            ),
        )
        .where(
            col(Conversation.id) == conversation_id,
            ~blocked_between(col(Match.user_low), col(Match.user_high)),
        )
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise _no_such_conversation(conversation_id)
    return Membership(*row)


def _no_such_conversation(conversation_id: int) -> NotFoundError:
    return NotFoundError("No such conversation.", field="conversationId", id=str(conversation_id))


def _client_message_id(problems: Problems, value: str) -> str:
    cleaned = value.strip()
    if not 1 <= len(cleaned) <= MAX_CLIENT_ID or not cleaned.isprintable():
        problems.add(
            "clientMessageId",
            ErrorCode.INVALID_FORMAT,
            f"clientMessageId must be 1 to {MAX_CLIENT_ID} printable characters.",
        )
    return cleaned


async def typing(op: Operation, conversation_id: int) -> bool:
    """Tell the other member the viewer is typing (never stored: no transaction to follow).
    NotFound unless a member; NotAllowed unless open. False if it could not be published."""
    m = await membership(op.session, op.viewer.id, conversation_id)
    if not m.open:
        raise NotAllowedError(ErrorCode.CONVERSATION_CLOSED, "This conversation is closed.")
    event = events.typing(conversation_id, op.viewer.id)
    return await op.resources.hub.publish(event.channel, event.message)


@dataclass(frozen=True, slots=True)
class Presence:
    user_id: uuid.UUID
    online: bool
    last_seen_at: datetime | None


async def presence(op: Operation, other_id: uuid.UUID) -> Presence:
    """Whether someone the viewer is matched with is online now, and when they were last
    active; NotFound for anyone else (presence is for matches only) or across a block."""
    low, high = ordered_pair(op.viewer.id, other_id)
    row = (
        await op.session.execute(
            select(col(User.last_active_at))
            .join(Match, and_(col(Match.user_low) == low, col(Match.user_high) == high))
            .where(
                col(User.id) == other_id,
                active_account(col(User.id)),
                col(Match.status) == MatchStatus.ACTIVE,
                ~blocked_between(low, high),
            )
        )
    ).first()
    if row is None:
        raise NotFoundError("No such match.", field="userId", id=str(other_id))
    return Presence(other_id, await is_online(op.resources, other_id), row[0])


async def is_online(resources: Resources, user_id: uuid.UUID) -> bool:
    """Whether they hold a live subscription now (resolvers/live.py), in any instance."""
    return await resources.presence.held(online_key(user_id))


@dataclass(frozen=True, slots=True)
class Sent:
    message: MessageRow
    recipient_id: uuid.UUID
    created: bool  # False: a retry answered with the message stored the first time
    # What follows the commit (resolvers/effects.py): the message event, and the recipient's
    # notification event if one was stored. Nothing for a retry.
    effects: tuple[Hashable, ...] = ()


def _key_used_elsewhere() -> Invalid:
    return Invalid(
        [
            FieldProblem(
                "clientMessageId",
                ErrorCode.DUPLICATE,
                "This clientMessageId was already used for another conversation.",
            )
        ]
    )


def _member_of(viewer: str) -> str:
    """FROM a conversation `c` of the viewer (the parameter `viewer` names), its match `mt`
    and the viewer's membership `me`: the raw SQL reads' and the send's one statement of
    membership (with _NOT_BLOCKED, what `membership` checks)."""
    return f"""conversations c
    JOIN matches mt ON mt.id = c.match_id
    JOIN conversation_members me ON me.conversation_id = c.id AND me.user_id = {viewer}"""


# No block between the members (resolvers/visibility.py blocked_between: the view).
_NOT_BLOCKED = """NOT EXISTS (
        SELECT 1 FROM block_pairs bp WHERE bp.person = mt.user_low AND bp.other = mt.user_high
    )"""

# Sending is the chat's hot path, so its write is one statement on the plain asyncpg pool (as
# authentication is; see resolvers/accounts.py): it locks the conversation row (sends are
# serialised per conversation, so ids grow in commit order and `last_message_id` read under
# the lock is exactly the message before), checks membership and that the conversation is
# open, stores the message (nothing if this sender already used the key), and moves the
# conversation's last message and the sender's read mark (one has read one's own). Its row
# says which of these happened. It also writes the recipient's NEW_MESSAGE notification unless
# $6 says they are watching the conversation (asked of presence before the statement, for the
# conversation's pair: ConversationPairs). One statement is one transaction: no BEGIN, no COMMIT, no
# separate insert, and no Redis round trip while the conversation row is locked. Profiled
# with py-spy under bench/chat.py, the ORM's statement building and flushing had been a third
# of the server's CPU per message; the four round trips of the transaction, a sixth.
_SEND_SQL = f"""
WITH target AS (
    SELECT c.last_message_id,
           mt.status = 'active' AS open,
           mt.user_low, mt.user_high
    FROM {_member_of("$2")}
    WHERE c.id = $1 AND {_NOT_BLOCKED}
    FOR UPDATE OF c
), stored AS (
    INSERT INTO messages (conversation_id, sender_id, body, client_message_id, created_at)
    SELECT $1, $2, $3, $4, $5 FROM target WHERE target.open
    ON CONFLICT (sender_id, client_message_id) DO NOTHING
    RETURNING id
), last_message AS (
    UPDATE conversations SET last_message_id = stored.id, last_message_at = $5
    FROM stored WHERE conversations.id = $1
), read_mark AS (
    UPDATE conversation_members SET last_read_id = stored.id
    FROM stored
    WHERE conversation_members.conversation_id = $1 AND conversation_members.user_id = $2
), notified AS (
    INSERT INTO notifications (user_id, kind, actor_id, data, created_at)
    SELECT CASE WHEN target.user_low = $2 THEN target.user_high ELSE target.user_low END,
           'new_message', $2,
           jsonb_build_object('conversationId', $1::bigint, 'messageId', stored.id), $5
    FROM target, stored  -- models/matching.py other_of
    WHERE NOT $6::bool
)
SELECT target.last_message_id, target.open, target.user_low, target.user_high, stored.id
FROM target LEFT JOIN stored ON true
"""  # noqa: S608 (fragments of this module; the only inputs are parameters)

_PAIR_SQL = """
SELECT mt.user_low, mt.user_high FROM conversations c JOIN matches mt ON mt.id = c.match_id
WHERE c.id = $1
"""


class ConversationPairs:
    """Conversations' pairs (their matches' two people), the most recent `kept` of them: fixed
    for a conversation's life, so a send asks presence about the recipient before its
    statement. One per process and database (rapport/resources.py), with the pool it reads."""

    def __init__(self, pool: asyncpg.Pool, kept: int = 10_000) -> None:
        self._pool, self._kept = pool, kept
        self._pairs: OrderedDict[int, tuple[uuid.UUID, uuid.UUID]] = OrderedDict()

    async def of(self, conversation_id: int) -> tuple[uuid.UUID, uuid.UUID] | None:
        pair = self._pairs.get(conversation_id)
        if pair is not None:
            self._pairs.move_to_end(conversation_id)
            return pair
        record = await self._pool.fetchrow(_PAIR_SQL, conversation_id)
        if record is None:
            return None
        pair = self._pairs[conversation_id] = (record[0], record[1])
        if len(self._pairs) > self._kept:
            self._pairs.popitem(last=False)
        return pair


_EARLIER_SQL = f"""
SELECT {", ".join(MESSAGE_COLUMNS)} FROM messages
WHERE sender_id = $1 AND client_message_id = $2
"""  # noqa: S608 (column names come from the model)


async def _earlier(
    pool: asyncpg.Pool, conversation_id: int, sender_id: uuid.UUID, client_id: str
) -> MessageRow | None:
    """A retry: the message this sender stored with this key (in this conversation; a key
    used for another conversation is refused)."""
    record = await pool.fetchrow(_EARLIER_SQL, sender_id, client_id)
    if record is None:
        return None
    earlier = MessageRow(*record)
    if earlier.conversation_id != conversation_id:
        raise _key_used_elsewhere()
    return earlier


async def send_message(
    op: Operation, conversation_id: int, body: str, client_message_id: str
) -> MessageRow:
    """Send a message (rate-limited per sender): stored and committed, then announced to the
    conversation (and, by notification, to a recipient not watching it). Idempotent per
    (sender, clientMessageId): a retry returns the message stored the first time, even after
    the conversation closed, and announces nothing."""
    await op.hit(Limit.MESSAGES_PER_MINUTE)
    presence = op.resources.presence
    sent = await store_message(
        op.resources.raw_pool,
        op.resources.conversation_pairs,
        op.viewer,
        conversation_id,
        body,
        client_message_id,
        watching=lambda user_id: presence.held(watching_key(user_id, conversation_id)),
    )
    await op.run(sent.effects)
    return sent.message


async def store_message(
    pool: asyncpg.Pool,
    pairs: ConversationPairs,
    viewer: Viewer,
    conversation_id: int,
    body: str,
    client_message_id: str,
    *,
    watching: Callable[[uuid.UUID], Awaitable[bool]],
) -> Sent:
    """Store a message (committed on return) and say what must follow the commit
    (`Sent.effects`). The recipient gets a NEW_MESSAGE notification, in the same
    statement, unless `watching(recipient)` says they are watching this conversation."""
    problems = Problems()
    cleaned = validation.text(
        problems, "body", body, max_length=MAX_BODY, multiline=True, required=True
    )
    client_id = _client_message_id(problems, client_message_id)
    problems.raise_if_any()
    assert cleaned is not None  # required
    now = utcnow()
    pair = await pairs.of(conversation_id)
    # Someone else's conversation: the statement finds no membership and says so.
    quiet = pair is not None and viewer.id in pair and await watching(other_of(*pair, viewer.id))
    record = await pool.fetchrow(
        _SEND_SQL, conversation_id, viewer.id, cleaned, client_id, now, quiet
    )
    if record is None:
        raise _no_such_conversation(conversation_id)
    previous_id, is_open, low, high, new_id = record
    other_id = other_of(low, high, viewer.id)
    if new_id is None:  # closed, or the key was used before (or, just now, elsewhere)
        earlier = await _earlier(pool, conversation_id, viewer.id, client_id)
        if earlier is not None:
            return Sent(earlier, other_id, created=False)
        if not is_open:
            raise NotAllowedError(
                ErrorCode.CONVERSATION_CLOSED,
                "This conversation is closed: you can no longer write.",
            )
        raise _key_used_elsewhere()
    notify_other = not quiet
    message = MessageRow(new_id, conversation_id, viewer.id, cleaned, client_id, now)
    effects: list[Hashable] = [events.message_added(message, previous_id)]
    if notify_other:
        effects.append(events.notified(other_id))
    return Sent(message, other_id, created=True, effects=tuple(effects))


def message_id(problems: Problems, field: str, value: str | None) -> int | None:
    """A message id as clients send it (the ID of a Message, which is also its cursor)."""
    return row_id(problems, field, value, "message")


# Reading a conversation's messages is one statement on the raw pool (no ORM session, no
# BEGIN/ROLLBACK): the membership check (a conversation of the viewer, not across a block) and
# up to `first` + 1 messages, newest first before an id or oldest first after one. Not a
# member: no row; a member of a conversation without messages (in range): one row of NULLs.
_HISTORY_SQL = """
SELECT {columns}
FROM {member_of}
LEFT JOIN LATERAL (
    SELECT * FROM messages
    WHERE conversation_id = $1 AND id {direction} $3 ORDER BY id {order} LIMIT $4
) msg ON true
WHERE c.id = $1 AND {not_blocked}
ORDER BY msg.id {order}
"""
_HISTORY_PARTS = {
    "columns": ", ".join(f"msg.{c}" for c in MESSAGE_COLUMNS),
    "member_of": _member_of("$2"),
    "not_blocked": _NOT_BLOCKED,
}
_NEWEST_BEFORE_SQL = _HISTORY_SQL.format(direction="<", order="DESC", **_HISTORY_PARTS)
_OLDEST_AFTER_SQL = _HISTORY_SQL.format(direction=">", order="ASC", **_HISTORY_PARTS)

# A message by id, if it is in one of the viewer's conversations.
_VISIBLE_MESSAGE_SQL = f"""
SELECT {", ".join(f"msg.{c}" for c in MESSAGE_COLUMNS)}
FROM messages msg JOIN {_member_of("$2")} ON c.id = msg.conversation_id
WHERE msg.id = $1 AND {_NOT_BLOCKED}
"""  # noqa: S608 (column names come from the model; the only inputs are parameters)

# For subscriptions, which checked membership when they started: the next messages after a
# cursor, oldest first.
_NEXT_SQL = f"""
SELECT {", ".join(MESSAGE_COLUMNS)} FROM messages
WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3
"""  # noqa: S608 (column names come from the model)


async def history(
    op: Operation,
    conversation_id: int,
    *,
    first: int | None,
    before: str | None,
    after: str | None,
) -> Page[MessageRow]:
    """Messages newest first (`before` a message id pages back in time), or, with `after` a
    message id, oldest first from just after it (catching up). Cursors are message ids."""
    problems = Problems()
    if before is not None and after is not None:
        problems.add("after", ErrorCode.NOT_ALLOWED, "Give before or after, not both.")
    request = page_request(
        problems, first, None, **page_sizes(op.resources.settings), key_shape=bool
    )
    after_id = message_id(problems, "after", after)
    before_id = message_id(problems, "before", before)
    problems.raise_if_any()
    if after_id is not None:
        statement, bound = _OLDEST_AFTER_SQL, after_id
    else:
        statement, bound = _NEWEST_BEFORE_SQL, MAX_BIGINT if before_id is None else before_id
    records = await op.resources.raw_pool.fetch(
        statement, conversation_id, op.viewer.id, bound, request.first + 1
    )
    if not records:
        raise _no_such_conversation(conversation_id)
    rows = [MessageRow(*r) for r in records if r[0] is not None]
    items = rows[: request.first]
    return Page(
        items=items,
        cursors=[str(m.id) for m in items],
        has_next_page=len(rows) > request.first,
        has_previous_page=after_id is not None or before_id is not None,
    )


async def messages_after(
    pool: asyncpg.Pool, conversation_id: int, after_id: int, limit: int = REPLAY_BATCH
) -> list[MessageRow]:
    """For subscriptions (membership already checked): the next messages after a cursor."""
    records = await pool.fetch(_NEXT_SQL, conversation_id, after_id, limit)
    return [MessageRow(*r) for r in records]


@dataclass(frozen=True, slots=True)
class ConversationView:
    """One of the viewer's conversations as `conversations` lists it."""

    id: int
    last_activity_at: datetime
    other_id: uuid.UUID
    # The other member as others see them; None unless their account is active (as
    # `public_profile`).
    other: Person | None
    open: bool
    last_message: MessageRow | None
    unread: int
    last_read_id: int
    other_last_seen_at: datetime | None


_LAST_MESSAGE = slice(7, 7 + len(MESSAGE_COLUMNS))
_PROFILE = slice(_LAST_MESSAGE.stop, None)

# The viewer's conversations (not across a block) with everything `conversations` shows of
# each, in one statement on the raw pool: the match's state, the viewer's read mark, the
# other member (their last activity, and their profile if their account is active), the
# last message and the unread count (messages from the other member after the read mark).
_VIEWS_SQL = f"""
SELECT c.id, c.last_message_at, mt.status = 'active', me.last_read_id, other.id,
       ou.last_active_at,
       (SELECT count(*) FROM messages n
        WHERE n.conversation_id = c.id AND n.id > me.last_read_id
          AND n.sender_id IS DISTINCT FROM $1),
       {", ".join(f"lm.{c}" for c in MESSAGE_COLUMNS)},
       {PERSON_COLUMNS}
FROM {_member_of("$1")}
CROSS JOIN LATERAL (
    SELECT CASE WHEN mt.user_low = $1 THEN mt.user_high ELSE mt.user_low END AS id
) other  -- models/matching.py other_of
LEFT JOIN users ou ON ou.id = other.id
LEFT JOIN messages lm ON lm.id = c.last_message_id
LEFT JOIN profiles p ON p.user_id = other.id  -- resolvers/visibility.py active_account
    AND EXISTS (SELECT 1 FROM active_users au WHERE au.id = p.user_id)
WHERE {_NOT_BLOCKED}
"""  # noqa: S608 (column names come from the models; the only inputs are parameters)
_BY_ACTIVITY = "ORDER BY c.last_message_at DESC, c.id DESC LIMIT $2"
_FIRST_PAGE_SQL = f"{_VIEWS_SQL} {_BY_ACTIVITY}"
_PAGE_AFTER_SQL = f"{_VIEWS_SQL} AND (c.last_message_at, c.id) < ($3, $4) {_BY_ACTIVITY}"
_BY_ID_SQL = f"{_VIEWS_SQL} AND c.id = ANY($2::bigint[])"


def _view(record: Sequence[Any]) -> ConversationView:
    values = tuple(record)
    last = values[_LAST_MESSAGE]
    profile = values[_PROFILE]
    return ConversationView(
        id=values[0],
        last_activity_at=values[1],
        open=values[2],
        last_read_id=values[3],
        other_id=values[4],
        other_last_seen_at=values[5],
        unread=values[6],
        last_message=MessageRow(*last) if last[0] is not None else None,
        other=person_of(profile) if profile[0] is not None else None,
    )


async def conversations(
    op: Operation, *, first: int | None, after: str | None
) -> Page[ConversationView]:
    """The viewer's conversations by last activity, each with its last message, the other
    member, whether it is open, and the viewer's unread count (messages from the other member
    after the viewer's read mark)."""
    problems = Problems()
    request = page_request(
        problems,
        first,
        after,
        **page_sizes(op.resources.settings),
        key_shape=lambda k: len(k) == 2 and is_int_key(k[0]) and is_int_key(k[1]),
    )
    problems.raise_if_any()
    pool, limit = op.resources.raw_pool, request.first + 1
    if request.after is None:
        records = await pool.fetch(_FIRST_PAGE_SQL, op.viewer.id, limit)
    else:
        at, last_id = EPOCH + timedelta(microseconds=request.after[0]), request.after[1]
        records = await pool.fetch(_PAGE_AFTER_SQL, op.viewer.id, limit, at, last_id)
    return make_page(
        [_view(r) for r in records],
        request,
        lambda v: [_micros(v.last_activity_at), v.id],
    )


@dataclass(frozen=True, slots=True)
class ReadMark:
    conversation_id: int
    reader_id: uuid.UUID
    other_id: uuid.UUID
    last_read_id: int
    unread: int


async def mark_read(op: Operation, conversation_id: int, up_to: str) -> ReadMark:
    """Move the viewer's read mark forward to `up_to` (a message id; past the conversation's
    last message it stops there); never backwards. Commits; then the other member is told."""
    problems = Problems()
    mark_id = message_id(problems, "upTo", up_to)
    problems.raise_if_any()
    assert mark_id is not None
    session, viewer = op.session, op.viewer
    m = await membership(session, viewer.id, conversation_id)
    last = m.conversation.last_message_id or 0
    mark = min(mark_id, last)
    await session.execute(
        update(ConversationMember)
        .where(
            col(ConversationMember.conversation_id) == conversation_id,
            col(ConversationMember.user_id) == viewer.id,
            col(ConversationMember.last_read_id) < mark,
        )
        .values(last_read_id=mark)
    )
    stored = max(mark, m.member.last_read_id)
    op.after_commit(events.read(conversation_id, viewer.id, stored))
    await session.commit()
    view = await _view_of(op, conversation_id)
    return ReadMark(conversation_id, viewer.id, m.other_id, stored, view.unread if view else 0)


async def _view_of(op: Operation, conversation_id: int) -> ConversationView | None:
    views = await conversation_views(op.resources.raw_pool, op.viewer.id, [conversation_id])
    return views.get(conversation_id)


async def conversation_views(
    pool: asyncpg.Pool, viewer_id: uuid.UUID, ids: Collection[int]
) -> dict[int, ConversationView]:
    """Those of `ids` that are the viewer's conversations (not across a block), as
    `conversations` lists them, by id: one statement however many."""
    records = await pool.fetch(_BY_ID_SQL, viewer_id, list(set(ids)))
    return {view.id: view for view in map(_view, records)}


async def conversation_view(op: Operation, conversation_id: int) -> ConversationView:
    """One of the viewer's conversations as `conversations` lists it; NotFound otherwise."""
    view = await _view_of(op, conversation_id)
    if view is None:
        raise _no_such_conversation(conversation_id)
    return view


async def read_state(op: Operation, conversation_id: int) -> ReadMark:
    """The viewer's read mark in one of their conversations; NotFound otherwise."""
    view = await conversation_view(op, conversation_id)
    return ReadMark(conversation_id, op.viewer.id, view.other_id, view.last_read_id, view.unread)


async def visible_message(op: Operation, message_id: int) -> MessageRow:
    """A message of one of the viewer's conversations; NotFound otherwise."""
    record = await op.resources.raw_pool.fetchrow(_VISIBLE_MESSAGE_SQL, message_id, op.viewer.id)
    if record is None:
        raise NotFoundError("No such message.", field="id", id=str(message_id))
    return MessageRow(*record)
