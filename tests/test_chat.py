"""Chat at the schema level: conversations open with matches, idempotent ordered sending,
history, read state, closing, and typed refusals."""

from __future__ import annotations

import asyncio

from tests.support.chat import CONVERSATIONS, MARK, MESSAGES, SEND, matched, send
from tests.support.database import count_raw_statements, count_statements
from tests.support.ids import number
from tests.support.people import LIKE, person

UNMATCH = "mutation($id: ID!) { unmatch(matchId: $id) { __typename } }"


async def test_a_match_opens_one_conversation_for_both(gql) -> None:
    a, b, conversation = await matched(gql)
    for me, other in ((a, b), (b, a)):
        (edge,) = (await gql(CONVERSATIONS, token=me.token))["conversations"]["edges"]
        node = edge["node"]
        assert node["id"] == conversation and node["user"]["id"] == other.id
        assert node["open"] is True and node["unreadCount"] == 0 and node["lastMessage"] is None
    stranger = await person(gql)
    assert (await gql(CONVERSATIONS, token=stranger.token))["conversations"]["edges"] == []


async def test_messages_are_stored_ordered_and_counted_unread(gql) -> None:
    a, b, conversation = await matched(gql)
    sent = [await send(gql, a, conversation, f"  hello {i}  ", f"k{i}") for i in range(5)]
    assert [m["body"] for m in sent] == [f"hello {i}" for i in range(5)]  # trimmed
    assert all(m["mine"] and m["senderId"] == a.id for m in sent)
    ids = [number(m["id"]) for m in sent]
    assert ids == sorted(ids)

    (edge,) = (await gql(CONVERSATIONS, token=b.token))["conversations"]["edges"]
    assert edge["node"]["unreadCount"] == 5
    assert edge["node"]["lastMessage"] == {
        "id": sent[-1]["id"],
        "body": "hello 4",
        "mine": False,
        "senderId": a.id,
    }
    (mine,) = (await gql(CONVERSATIONS, token=a.token))["conversations"]["edges"]
    assert mine["node"]["unreadCount"] == 0  # one's own messages are read

    # Newest first, paging back with `before`; oldest first with `after`.
    page = (await gql(MESSAGES, {"c": conversation, "first": 3}, token=b.token))["messages"]
    assert [n["body"] for n in page["nodes"]] == ["hello 4", "hello 3", "hello 2"]
    assert page["pageInfo"]["hasNextPage"] is True
    back = await gql(
        MESSAGES, {"c": conversation, "before": page["pageInfo"]["endCursor"]}, token=b.token
    )
    assert [n["body"] for n in back["messages"]["nodes"]] == ["hello 1", "hello 0"]
    forward = await gql(MESSAGES, {"c": conversation, "after": sent[1]["id"]}, token=b.token)
    assert [n["body"] for n in forward["messages"]["nodes"]] == ["hello 2", "hello 3", "hello 4"]

    marked = (await gql(MARK, {"c": conversation, "u": sent[2]["id"]}, token=b.token))["markRead"]
    assert marked == {"__typename": "ReadState", "lastReadId": sent[2]["id"], "unreadCount": 2}
    back_mark = await gql(MARK, {"c": conversation, "u": sent[0]["id"]}, token=b.token)
    assert back_mark["markRead"]["lastReadId"] == sent[2]["id"]  # never moves back
    beyond = (await gql(MARK, {"c": conversation, "u": "999999999"}, token=b.token))["markRead"]
    assert beyond == {"__typename": "ReadState", "lastReadId": sent[-1]["id"], "unreadCount": 0}


async def test_sending_is_idempotent_per_client_message_id(gql) -> None:
    a, b, conversation = await matched(gql)
    first = await send(gql, a, conversation, "once", "same-key")
    again = await send(gql, a, conversation, "once", "same-key")
    assert again == first
    # Concurrent retries of one send: still one message.
    results = await asyncio.gather(
        *(send(gql, a, conversation, "race", "race-key") for _ in range(6))
    )
    assert all("id" in r for r in results), results
    assert len({r["id"] for r in results}) == 1
    # The same key from the other member is theirs: a different message.
    theirs = await send(gql, b, conversation, "mine too", "same-key")
    assert theirs["id"] != first["id"]
    nodes = (await gql(MESSAGES, {"c": conversation, "first": 50}, token=a.token))["messages"]
    assert sorted(n["body"] for n in nodes["nodes"]) == ["mine too", "once", "race"]


async def test_a_client_message_id_belongs_to_one_conversation(gql) -> None:
    me = await person(gql)
    for _ in range(2):
        other = await person(gql)
        await gql(LIKE, {"id": other.id}, token=me.token)
        await gql(LIKE, {"id": me.id}, token=other.token)
    edges = (await gql(CONVERSATIONS, token=me.token))["conversations"]["edges"]
    first, second = (e["node"]["id"] for e in edges)
    assert (await send(gql, me, first, "hi", "shared"))["__typename"] == "Message"
    refused = await send(gql, me, second, "hi", "shared")
    assert refused == {
        "__typename": "ValidationError",
        "errors": [{"field": "clientMessageId", "code": "DUPLICATE"}],
    }
    # Both at once (two conversations, two locks): one message, one typed refusal, no 500.
    raced = await asyncio.gather(
        send(gql, me, first, "a", "raced"), send(gql, me, second, "b", "raced")
    )
    assert sorted(r["__typename"] for r in raced) == ["Message", "ValidationError"]


async def test_concurrent_senders_get_increasing_ids_in_commit_order(gql) -> None:
    a, b, conversation = await matched(gql)
    results = await asyncio.gather(
        *(send(gql, who, conversation, f"m{i}", f"c{i}") for i, who in enumerate([a, b] * 10))
    )
    assert all(r["__typename"] == "Message" for r in results)
    nodes = (await gql(MESSAGES, {"c": conversation, "first": 50}, token=a.token))["messages"]
    ids = [number(n["id"]) for n in nodes["nodes"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 20


async def test_refusals_are_typed_and_change_nothing(gql) -> None:
    a, _, conversation = await matched(gql)
    stranger = await person(gql)
    cases = [
        (a, {"c": conversation, "b": "   ", "k": "k1"}, "ValidationError", [("body", "REQUIRED")]),
        (
            a,
            {"c": conversation, "b": "x" * 4001, "k": "k1"},
            "ValidationError",
            [("body", "TOO_LONG")],
        ),
        (
            a,
            {"c": conversation, "b": "hi", "k": ""},
            "ValidationError",
            [("clientMessageId", "INVALID_FORMAT")],
        ),
        (
            a,
            {"c": conversation, "b": "hi", "k": "x" * 65},
            "ValidationError",
            [("clientMessageId", "INVALID_FORMAT")],
        ),
        (
            a,
            {"c": "nope", "b": "hi", "k": "k1"},
            "ValidationError",
            [("conversationId", "INVALID_FORMAT")],
        ),
        (stranger, {"c": conversation, "b": "hi", "k": "k1"}, "NotFound", None),
        (a, {"c": "99999999", "b": "hi", "k": "k1"}, "NotFound", None),
    ]
    for who, variables, typename, problems in cases:
        result = (await gql(SEND, variables, token=who.token))["sendMessage"]
        assert result["__typename"] == typename, (variables, result)
        if problems:
            assert [(e["field"], e["code"]) for e in result["errors"]] == problems
    assert (await gql(MESSAGES, {"c": conversation}, token=a.token))["messages"]["nodes"] == []
    for query, variables in (
        (MESSAGES, {"c": conversation}),
        (MARK, {"c": conversation, "u": "1"}),
    ):
        result = await gql(query, variables, token=stranger.token)
        assert next(iter(result.values()))["__typename"] == "NotFound"
    anonymous = await gql.raw(CONVERSATIONS)
    assert anonymous.data["conversations"]["__typename"] == "AuthenticationRequired"


async def test_unmatch_closes_the_conversation_but_keeps_history(gql) -> None:
    """(A block hides the conversation from both instead: tests/test_blocking.py.)"""
    a, b, conversation = await matched(gql)
    kept = await send(gql, a, conversation, "before", "k-before")
    matches = await gql("{ matches { ... on MatchConnection { nodes { id } } } }", token=a.token)
    match_id = matches["matches"]["nodes"][0]["id"]
    assert (await gql(UNMATCH, {"id": match_id}, token=b.token))["unmatch"]["__typename"] == (
        "Match"
    )
    refused = await send(gql, a, conversation, "after", "k-after")
    assert refused == {"__typename": "NotAllowed", "code": "CONVERSATION_CLOSED"}
    assert (await send(gql, b, conversation, "after", "k-b"))["__typename"] == "NotAllowed"
    # A retry of a message sent before the end still gets its answer.
    assert await send(gql, a, conversation, "before", "k-before") == kept
    (edge,) = (await gql(CONVERSATIONS, token=a.token))["conversations"]["edges"]
    assert edge["node"]["open"] is False
    nodes = (await gql(MESSAGES, {"c": conversation}, token=b.token))["messages"]["nodes"]
    assert [n["body"] for n in nodes] == ["before"]


async def test_conversations_ordered_by_last_activity_and_paged(gql) -> None:
    me = await person(gql)
    others = []
    for _ in range(3):
        other = await person(gql)
        await gql(LIKE, {"id": other.id}, token=me.token)
        await gql(LIKE, {"id": me.id}, token=other.token)
        others.append(other)
    listed = (await gql(CONVERSATIONS, token=me.token))["conversations"]["edges"]
    assert [e["node"]["user"]["id"] for e in listed] == [o.id for o in reversed(others)]
    oldest = listed[-1]["node"]["id"]
    await send(gql, others[0], oldest, "wake up", "w1")
    first = (await gql(CONVERSATIONS, {"first": 1}, token=me.token))["conversations"]
    assert first["edges"][0]["node"]["id"] == oldest and first["pageInfo"]["hasNextPage"]
    rest = await gql(CONVERSATIONS, {"after": first["pageInfo"]["endCursor"]}, token=me.token)
    assert [e["node"]["user"]["id"] for e in rest["conversations"]["edges"]] == [
        others[2].id,
        others[1].id,
    ]
    bad = await gql(CONVERSATIONS, {"after": "garbage"}, token=me.token)
    assert bad["conversations"]["errors"] == [{"field": "after", "code": "INVALID_CURSOR"}]


LISTED = """query($c: ID!) {
  messages(conversationId: $c) { ... on MessageConnection { nodes {
    body conversation { id unreadCount lastMessage { body } } } } }
  conversations { ... on ConversationConnection { nodes {
    lastMessage { conversation { id unreadCount } } } } }
}"""


async def test_conversations_of_listed_messages_load_in_one_batch(gql, resources) -> None:
    """Message.conversation goes through the operation's conversation loader: the same
    statements for a list of one message in one conversation as for many in many."""
    a, b, conversation = await matched(gql)
    await send(gql, b, conversation, "first", "k0")
    with count_statements(resources.engine) as few, count_raw_statements() as few_raw:
        data = await gql(LISTED, {"c": conversation}, token=a.token)
    (message,) = data["messages"]["nodes"]
    assert message["conversation"] == {
        "id": conversation,
        "unreadCount": 1,
        "lastMessage": {"body": "first"},
    }

    for i in range(1, 6):
        await send(gql, b, conversation, f"more {i}", f"k{i}")
    for _ in range(3):  # more conversations of a's, each with a message
        other = await person(gql)
        await gql(LIKE, {"id": other.id}, token=a.token)
        await gql(LIKE, {"id": a.id}, token=other.token)
        (edge, *_) = (await gql(CONVERSATIONS, token=other.token))["conversations"]["edges"]
        await send(gql, other, edge["node"]["id"], "hi", "k")
    # its likes evicted a from the viewer cache: authenticated again now, not in the count
    await gql("{ me { __typename } }", token=a.token)
    with count_statements(resources.engine) as many, count_raw_statements() as many_raw:
        data = await gql(LISTED, {"c": conversation}, token=a.token)
    assert len(data["messages"]["nodes"]) == 6 and len(data["conversations"]["nodes"]) == 4
    assert {m["conversation"]["unreadCount"] for m in data["messages"]["nodes"]} == {6}
    assert [
        n["lastMessage"]["conversation"]["unreadCount"] for n in data["conversations"]["nodes"]
    ] == [1, 1, 1, 6]
    assert len(many) == len(few)
    # On the raw pool: each list one statement, and the conversations of each list's
    # messages one batch (the two lists' batches may coincide: they resolve concurrently).
    assert 0 < len(many_raw) <= 4 and 0 < len(few_raw) <= 4
