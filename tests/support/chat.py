"""Chat at the schema level (the `gql` fixture): two people who matched and their
conversation (matched), sending a message (send), and the operations on conversations."""

from __future__ import annotations

from tests.support.people import LIKE, Person, person

CONVERSATIONS = """query($first: Int, $after: String) { conversations(first: $first, after: $after) {
  __typename
  ... on ConversationConnection { edges { cursor node { id open unreadCount lastReadId
      user { id } lastMessage { id body mine senderId } } } pageInfo { hasNextPage endCursor } }
  ... on ValidationError { errors { field code } }
} }"""
SEND = """mutation($c: ID!, $b: String!, $k: String!) {
  sendMessage(conversationId: $c, body: $b, clientMessageId: $k) {
  __typename
  ... on Message { id conversationId body mine clientMessageId senderId }
  ... on ValidationError { errors { field code } }
  ... on NotFound { code }
  ... on NotAllowed { code }
} }"""
MESSAGES = """query($c: ID!, $first: Int, $before: ID, $after: ID) {
  messages(conversationId: $c, first: $first, before: $before, after: $after) {
  __typename
  ... on MessageConnection { nodes { id body mine } pageInfo { hasNextPage endCursor } }
  ... on ValidationError { errors { field code } }
  ... on NotFound { code }
} }"""
MARK = """mutation($c: ID!, $u: ID!) { markRead(conversationId: $c, upTo: $u) {
  __typename ... on ReadState { lastReadId unreadCount }
  ... on NotFound { code } ... on ValidationError { errors { field code } }
} }"""
BLOCK = "mutation($id: ID!) { block(userId: $id) { __typename } }"


async def matched(gql) -> tuple[Person, Person, str]:
    """Two people who liked each other, and their conversation's id."""
    a, b = await person(gql), await person(gql)
    await gql(LIKE, {"id": b.id}, token=a.token)
    result = await gql(LIKE, {"id": a.id}, token=b.token)
    assert result["like"]["match"] is not None, result
    convs = (await gql(CONVERSATIONS, token=a.token))["conversations"]["edges"]
    assert len(convs) == 1
    return a, b, convs[0]["node"]["id"]


async def send(gql, who: Person, conversation: str, body: str, key: str) -> dict:
    return (await gql(SEND, {"c": conversation, "b": body, "k": key}, token=who.token))[
        "sendMessage"
    ]
