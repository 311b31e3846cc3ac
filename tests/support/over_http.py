"""People and requests over HTTP to a real server (its base URL): a GraphQL request (gql), a
signed-up person with a profile (person), two who matched and their conversation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.ids import user_of
from tests.support.mailbox import PASSWORD, sign_up
from tests.support.people import profile_input

WAIT_S = 60  # the longest any one step may take before the test fails (never a timing target)


async def gql(
    base: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as client:
        body = (
            await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
        ).json()
    assert "errors" not in body, body
    return body["data"]


async def person(base: str, database_url: str) -> tuple[str, str]:
    async def post(body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as client:
            return (await client.post("/graphql", json=body)).json()

    email = f"c-{uuid.uuid4().hex[:10]}@example.com"
    signed_up = await sign_up(post, database_url, email, PASSWORD)
    token, user = signed_up["token"], user_of(signed_up["me"]["id"])
    created = await gql(
        base,
        "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }",
        {"i": profile_input()},
        token,
    )
    assert created["createProfile"]["__typename"] == "OwnProfile"
    return token, user


async def conversation(base: str, database_url: str) -> tuple[str, str, str]:
    """(sender token, receiver token, conversation id) of two new people who matched."""
    (a, a_id), (b, b_id) = await person(base, database_url), await person(base, database_url)
    like = "mutation($id: ID!) { like(userId: $id) { __typename } }"
    await gql(base, like, {"id": b_id}, a)
    await gql(base, like, {"id": a_id}, b)
    data = await gql(
        base, "{ conversations { ... on ConversationConnection { nodes { id } } } }", token=a
    )
    return a, b, data["conversations"]["nodes"][0]["id"]
