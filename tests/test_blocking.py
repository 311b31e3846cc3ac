"""A block hides two people from each other everywhere, both ways, until it is lifted:
profiles, matches, conversations and their messages, typing, receipts, presence, interest
requests and notifications. A block is never revealed: everything reads as not found."""

from __future__ import annotations

import asyncio
from typing import Any

from schema import schema
from schema.context import Context
from tests.support.chat import BLOCK, CONVERSATIONS, MARK, MESSAGES, matched, send
from tests.support.people import Person, person

UNBLOCK = "mutation($id: ID!) { unblock(userId: $id) { __typename } }"
USER = "query($id: ID!) { user(id: $id) { __typename } }"
MATCHES = "{ matches { ... on MatchConnection { nodes { id user { id } } } } }"
PRESENCE = "query($id: ID!) { presence(userId: $id) { __typename } }"
TYPING = "mutation($c: ID!) { sendTyping(conversationId: $c) { __typename } }"
NOTIFICATIONS = """{ notifications { ... on NotificationConnection { edges { node {
  kind actorId } } } } }"""
REQUESTS = """query($d: InterestDirection!) { interestRequests(direction: $d) {
  ... on InterestRequestConnection { nodes { id } } } }"""
INTEREST = 'mutation($id: ID!) { sendInterest(userId: $id, message: "hello") { __typename } }'


async def first_event(gql, query: str, variables: dict[str, Any], token: str) -> Any:
    """The first result a subscription yields (a refusal is its only one)."""
    context = Context(resources=gql.resources, token=token)
    stream = await schema.subscribe(query, variable_values=variables, context_value=context)
    try:
        result = await anext(stream)
    finally:
        await stream.aclose()
    assert result.errors is None, result.errors
    assert result.data is not None
    return next(iter(result.data.values()))


async def view_of(gql, me: Person, other: Person, conversation: str) -> dict[str, Any]:
    """Everything `me` can see of `other` and their conversation."""
    notes = (await gql(NOTIFICATIONS, token=me.token))["notifications"]["edges"]
    sent = (await gql(REQUESTS, {"d": "SENT"}, token=me.token))["interestRequests"]["nodes"]
    received = (await gql(REQUESTS, {"d": "RECEIVED"}, token=me.token))["interestRequests"]
    return {
        "user": (await gql(USER, {"id": other.id}, token=me.token))["user"]["__typename"],
        "matches": [
            n["user"]["id"] for n in (await gql(MATCHES, token=me.token))["matches"]["nodes"]
        ],
        "conversations": [
            e["node"]["id"]
            for e in (await gql(CONVERSATIONS, token=me.token))["conversations"]["edges"]
        ],
        "messages": (await gql(MESSAGES, {"c": conversation}, token=me.token))["messages"][
            "__typename"
        ],
        "presence": (await gql(PRESENCE, {"id": other.id}, token=me.token))["presence"][
            "__typename"
        ],
        "typing": (await gql(TYPING, {"c": conversation}, token=me.token))["sendTyping"][
            "__typename"
        ],
        "notifications from them": [
            n["node"]["kind"] for n in notes if n["node"]["actorId"] == other.id
        ],
        "requests": len(sent) + len(received["nodes"]),
    }


async def test_a_block_hides_both_people_everywhere_until_lifted(gql) -> None:
    a, b, conversation = await matched(gql)
    carol = await person(gql)
    # Something of each kind between a and b: messages (and their notifications) and a read
    # mark; and an interest request from carol to a, which the block must not hide.
    hello = await send(gql, a, conversation, "hello b", "k1")
    await send(gql, b, conversation, "hello a", "k2")
    assert (await gql(MARK, {"c": conversation, "u": hello["id"]}, token=b.token))["markRead"][
        "__typename"
    ] == "ReadState"
    assert (await gql(INTEREST, {"id": a.id}, token=carol.token))["sendInterest"][
        "__typename"
    ] == "InterestRequest"

    before = {me.id: await view_of(gql, me, other, conversation) for me, other in ((a, b), (b, a))}
    for seen in before.values():
        assert seen["user"] == "User" and seen["conversations"] == [conversation]
        assert seen["messages"] == "MessageConnection" and seen["presence"] == "Presence"
        assert seen["typing"] == "Sent"
        assert seen["notifications from them"]  # new match / new message notifications

    assert (await gql(BLOCK, {"id": a.id}, token=b.token))["block"]["__typename"] == (
        "BlockPayload"
    )
    for me, other in ((a, b), (b, a)):
        seen = await view_of(gql, me, other, conversation)
        assert seen == {
            "user": "NotFound",
            "matches": [],
            "conversations": [],
            "messages": "NotFound",
            "presence": "NotFound",
            "typing": "NotFound",
            "notifications from them": [],
            "requests": before[me.id]["requests"],  # carol's request to a is not hidden
        }, me
        refused = await send(gql, me, conversation, "still there?", f"x-{me.id}")
        assert refused == {"__typename": "NotFound", "code": "NOT_FOUND"}
        mark = await gql(MARK, {"c": conversation, "u": hello["id"]}, token=me.token)
        assert mark["markRead"]["__typename"] == "NotFound"
        for field in ("messageAdded", "typing", "readReceipts"):
            query = f"subscription($c: ID!) {{ {field}(conversationId: $c) {{ __typename }} }}"
            refusal = await first_event(gql, query, {"c": conversation}, me.token)
            assert refusal["__typename"] == "NotFound", field

    # Carol still sees both; the block is between a and b only.
    assert (await gql(USER, {"id": a.id}, token=carol.token))["user"]["__typename"] == "User"

    # Only the blocker can lift it; then everything is back as it was.
    await gql(UNBLOCK, {"id": b.id}, token=a.token)  # a did not block: changes nothing
    assert (await view_of(gql, a, b, conversation))["user"] == "NotFound"
    await gql(UNBLOCK, {"id": a.id}, token=b.token)
    for me, other in ((a, b), (b, a)):
        assert await view_of(gql, me, other, conversation) == before[me.id]
    again = await send(gql, a, conversation, "welcome back", "k3")
    assert again["__typename"] == "Message"
    # ...typing included: b's subscription hears a type again.
    context = Context(resources=gql.resources, token=b.token)
    stream = await schema.subscribe(
        "subscription($c: ID!) { typing(conversationId: $c) { __typename ... on Typing { userId } } }",
        variable_values={"c": conversation},
        context_value=context,
    )
    heard = asyncio.ensure_future(anext(stream))
    while not heard.done():  # typing signals are not stored: repeat until the live one lands
        assert (await gql(TYPING, {"c": conversation}, token=a.token))["sendTyping"][
            "__typename"
        ] == "Sent"
        await asyncio.wait({heard}, timeout=0.2)
    assert heard.result().data == {"typing": {"__typename": "Typing", "userId": a.id}}
    await stream.aclose()


async def test_a_block_hides_interest_requests_between_them(gql) -> None:
    a, b = await person(gql), await person(gql)
    assert (await gql(INTEREST, {"id": b.id}, token=a.token))["sendInterest"]["__typename"] == (
        "InterestRequest"
    )
    assert (
        len((await gql(REQUESTS, {"d": "RECEIVED"}, token=b.token))["interestRequests"]["nodes"])
        == 1
    )
    await gql(BLOCK, {"id": b.id}, token=a.token)
    for me, direction in ((a, "SENT"), (b, "RECEIVED")):
        nodes = (await gql(REQUESTS, {"d": direction}, token=me.token))["interestRequests"]["nodes"]
        assert nodes == []
    notes = (await gql(NOTIFICATIONS, token=b.token))["notifications"]["edges"]
    assert [n for n in notes if n["node"]["actorId"] == a.id] == []
