"""`node(id:)` and `nodes(ids:)` (GraphQL Global Object Identification, as Relay wants it):
any object by its global id (schema/ids.py), with the rules of the field that shows it.
Anything the viewer may not see — another person's private object, an object across a block,
anything at all without a token — is null, exactly like an id that names nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from graphql import GraphQLError

from rapport.errors import DomainError
from resolvers import chat, nodes, profiles
from resolvers.accounts import Viewer
from schema.chat import ConversationType, MessageType, Presence, ReadState
from schema.context import Info
from schema.ids import Node, decode
from schema.interest_requests import InterestRequestType
from schema.matching import SwipeType, match_type
from schema.moderation import ReportReceipt, ReportType
from schema.notifications import NotificationType
from schema.types import Me, OwnProfile, PreferencesType, User

Resolve = Callable[[Info, Viewer, str], Awaitable[Node | None]]


async def _user(info: Info, viewer: Viewer, key: str) -> Node | None:
    user_id = nodes.uuid_key(key)
    if user_id is None:
        return None
    # The same rule as user(id), profile views budget included.
    return User(await profiles.public_profile(info.context.operation(viewer), user_id))


def _own(key: str, viewer: Viewer) -> bool:
    return nodes.uuid_key(key) == viewer.id


async def _own_profile(info: Info, viewer: Viewer, key: str) -> Node | None:
    return OwnProfile(profile=viewer.profile) if _own(key, viewer) and viewer.profile else None


async def _me(info: Info, viewer: Viewer, key: str) -> Node | None:
    return Me(user=viewer.user, own_profile=viewer.profile) if _own(key, viewer) else None


async def _preferences(info: Info, viewer: Viewer, key: str) -> Node | None:
    if not _own(key, viewer):
        return None
    row = await profiles.preferences_of(info.context.session, viewer.id)
    return PreferencesType(row=row) if row else None


async def _presence(info: Info, viewer: Viewer, key: str) -> Node | None:
    other = nodes.uuid_key(key)
    if other is None:
        return None
    return Presence.of(await chat.presence(info.context.operation(viewer), other))


def _numbered(fetch: Callable[[Info, Viewer, int], Awaitable[Node | None]]) -> Resolve:
    async def resolve(info: Info, viewer: Viewer, key: str) -> Node | None:
        number = nodes.int_key(key)
        return None if number is None else await fetch(info, viewer, number)

    return resolve


async def _match(info: Info, viewer: Viewer, key: int) -> Node | None:
    row = await nodes.match(info.context.session, viewer, key)
    return await match_type(info.context.operation(viewer), row)


async def _request(info: Info, viewer: Viewer, key: int) -> Node | None:
    row = await nodes.interest_request(info.context.session, viewer, key)
    return InterestRequestType(row=row) if row else None


async def _conversation(info: Info, viewer: Viewer, key: int) -> Node | None:
    view = await chat.conversation_view(info.context.operation(viewer), key)
    return ConversationType(view=view, viewer_id=viewer.id)


async def _read_state(info: Info, viewer: Viewer, key: int) -> Node | None:
    return ReadState(mark=await chat.read_state(info.context.operation(viewer), key))


async def _message(info: Info, viewer: Viewer, key: int) -> Node | None:
    row = await chat.visible_message(info.context.operation(viewer), key)
    return MessageType(row=row, viewer_id=viewer.id)


async def _notification(info: Info, viewer: Viewer, key: int) -> Node | None:
    row = await nodes.notification(info.context.session, viewer, key)
    return NotificationType(row=row) if row else None


async def _swipe(info: Info, viewer: Viewer, key: int) -> Node | None:
    row = await nodes.swipe(info.context.session, viewer, key)
    return SwipeType(row=row) if row else None


async def _report(info: Info, viewer: Viewer, key: int) -> Node | None:
    row = await nodes.report(info.context.session, viewer, key)
    return ReportType(row=row) if row else None


async def _receipt(info: Info, viewer: Viewer, key: int) -> Node | None:
    row = await nodes.own_report(info.context.session, viewer, key)
    return ReportReceipt(key=key, status=row.status) if row else None


RESOLVERS: dict[str, Resolve] = {
    "User": _user,
    "OwnProfile": _own_profile,
    "Me": _me,
    "Preferences": _preferences,
    "Presence": _presence,
    "Match": _numbered(_match),
    "InterestRequest": _numbered(_request),
    "Conversation": _numbered(_conversation),
    "ReadState": _numbered(_read_state),
    "Message": _numbered(_message),
    "Notification": _numbered(_notification),
    "Swipe": _numbered(_swipe),
    "Report": _numbered(_report),
    "ReportReceipt": _numbered(_receipt),
}


async def resolve_node(info: Info, id: str) -> Node | None:
    viewer = await info.context.viewer()
    decoded = decode(id)
    if viewer is None or decoded is None or decoded[0] not in RESOLVERS:
        return None
    type_name, key = decoded
    try:
        return await RESOLVERS[type_name](info, viewer, key)
    except DomainError:  # NotFound, RateLimited, ...: null, like an id that names nothing
        return None


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="Any object by its global id (null if it does not exist or is not yours "
        "to see)."
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, id)

    @strawberry.field(
        description="Objects by their global ids, in the order asked (null for each that does "
        "not exist or is not yours to see); at most the maximum page size at once."
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        limit = info.context.page_sizes["max_size"]
        if len(ids) > limit:
            # A client error, as for a query over the limits (it cannot be a typed result:
            # the spec's nodes field is a plain list).
            raise GraphQLError(f"At most {limit} ids at once.", extensions={"code": "TOO_MANY"})
        return [await resolve_node(info, id) for id in ids]
