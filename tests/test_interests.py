"""Interests: a person's set, the catalogue with counts, prefix search and pagination."""

from __future__ import annotations

import asyncio
import uuid

from resolvers import accounts
from schema.context import Context
from tests.support.database import count_statements
from tests.support.ids import key, user_of
from tests.support.people import SET_INTERESTS, create

CATALOGUE = """query($prefix: String, $order: InterestOrder, $first: Int, $after: String) {
  interests(prefix: $prefix, orderBy: $order, first: $first, after: $after) {
    __typename
    ... on InterestCountConnection {
      edges { cursor node { name userCount } }
      pageInfo { hasNextPage hasPreviousPage endCursor }
    }
    ... on ValidationError { errors { field code } }
  }
}"""


async def person(gql, interests: list[str]) -> str:
    token = await gql.register()
    await create(gql, token)
    result = (await gql(SET_INTERESTS, {"n": interests}, token=token))["setInterests"]
    assert result["__typename"] == "InterestsPayload", result
    return token


async def test_set_interests_normalises_and_replaces(gql) -> None:
    token = await person(gql, ["  Rock   Climbing ", "rock climbing", "ＣＨＥＳＳ", "Chess"])
    me = await gql("{ me { ... on Me { profile { interests } } } }", token=token)
    assert me["me"]["profile"]["interests"] == ["chess", "rock climbing"]
    replaced = (await gql(SET_INTERESTS, {"n": ["jazz"]}, token=token))["setInterests"]
    assert replaced["interests"] == ["jazz"]
    cleared = (await gql(SET_INTERESTS, {"n": []}, token=token))["setInterests"]
    assert cleared["interests"] == []


async def test_set_interests_validation(gql) -> None:
    token = await person(gql, ["kept"])
    bad = (
        await gql(
            SET_INTERESTS,
            {"n": ["ok", "   ", "x" * 41] + [f"t{i}" for i in range(30)]},
            token=token,
        )
    )["setInterests"]
    assert {(e["field"], e["code"]) for e in bad["errors"]} == {
        ("interests[1]", "REQUIRED"),
        ("interests[2]", "TOO_LONG"),
        ("interests", "TOO_MANY"),
    }
    me = await gql("{ me { ... on Me { profile { interests } } } }", token=token)
    assert me["me"]["profile"]["interests"] == ["kept"]  # unchanged
    no_profile = (await gql(SET_INTERESTS, {"n": ["x"]}, token=await gql.register()))[
        "setInterests"
    ]
    assert no_profile == {"__typename": "NotFound", "code": "NOT_FOUND"}


async def test_catalogue_counts_people_and_orders_by_popularity(gql) -> None:
    await person(gql, ["chess", "climbing", "cooking"])
    await person(gql, ["chess", "climbing"])
    await person(gql, ["chess"])
    data = await gql(CATALOGUE, {})  # public: no token needed
    nodes = [e["node"] for e in data["interests"]["edges"]]
    assert nodes == [
        {"name": "chess", "userCount": 3},
        {"name": "climbing", "userCount": 2},
        {"name": "cooking", "userCount": 1},
    ]
    by_name = await gql(CATALOGUE, {"order": "NAME", "prefix": " CL"})
    assert [e["node"]["name"] for e in by_name["interests"]["edges"]] == ["climbing"]


async def test_prefix_search_escapes_wildcards(gql) -> None:
    await person(gql, ["c++", "c#", "100% cotton", "1000 piece puzzles", "a_b", "axb"])
    names = lambda d: [e["node"]["name"] for e in d["interests"]["edges"]]  # noqa: E731
    assert names(await gql(CATALOGUE, {"prefix": "100%"})) == ["100% cotton"]
    assert names(await gql(CATALOGUE, {"prefix": "a_"})) == ["a_b"]
    assert names(await gql(CATALOGUE, {"prefix": "c+", "order": "NAME"})) == ["c++"]


async def test_catalogue_pages_cover_everything_once(gql) -> None:
    await person(gql, [f"tag{i:02d}" for i in range(12)])
    await person(gql, [f"tag{i:02d}" for i in range(0, 12, 3)])
    for order in ("POPULAR", "NAME"):
        seen, after, pages = [], None, 0
        while True:
            data = (await gql(CATALOGUE, {"order": order, "first": 5, "after": after}))["interests"]
            seen += [e["node"]["name"] for e in data["edges"]]
            pages += 1
            assert data["pageInfo"]["hasPreviousPage"] == (after is not None)
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
        assert pages == 3
        assert sorted(seen) == [f"tag{i:02d}" for i in range(12)] and len(seen) == 12
        if order == "POPULAR":
            assert seen[:4] == ["tag00", "tag03", "tag06", "tag09"]


async def test_page_size_is_capped_and_cursors_checked(gql, settings) -> None:
    too_big = await gql(CATALOGUE, {"first": settings.max_page_size + 1})
    assert too_big["interests"]["errors"] == [{"field": "first", "code": "OUT_OF_RANGE"}]
    zero = await gql(CATALOGUE, {"first": 0})
    assert zero["interests"]["errors"] == [{"field": "first", "code": "OUT_OF_RANGE"}]
    for cursor in (
        "garbage!",
        "W10",
        "WyJhIl0",
    ):  # not base64 / empty list / NAME cursor for POPULAR
        bad = await gql(CATALOGUE, {"after": cursor})
        assert bad["interests"]["errors"] == [{"field": "after", "code": "INVALID_CURSOR"}], cursor


async def test_interests_of_many_users_load_in_one_query(gql, resources) -> None:
    """The interests DataLoader answers any number of users with one SQL statement."""
    ids = []
    for i in range(5):
        token = await person(gql, [f"i{i}", "shared"])
        ids.append(
            uuid.UUID(key((await gql("{ me { ... on Me { id } } }", token=token))["me"]["id"]))
        )
    context = Context(resources=resources)
    try:
        with count_statements(resources.engine) as statements:
            loaded = await asyncio.gather(*(context.loaders.interests.load(i) for i in ids))
    finally:
        await context.close()
    assert loaded == [sorted([f"i{i}", "shared"]) for i in range(5)]
    assert len(statements) == 1


async def test_sibling_fields_share_one_session_and_one_authentication(
    gql, resources, monkeypatch
) -> None:
    """graphql-core resolves sibling fields concurrently: they must neither trip over the shared
    AsyncSession nor authenticate the viewer more than once."""
    viewer = await gql.register()
    ids = []
    for i in range(4):
        token = await person(gql, [f"x{i}"])
        ids.append(user_of((await gql("{ me { ... on Me { id } } }", token=token))["me"]["id"]))
    calls = []
    real = accounts.authenticate

    async def counted(*args, **kwargs):
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(accounts, "authenticate", counted)
    fields = " ".join(
        f'u{k}: user(id: "{ids[k]}") {{ ... on User {{ displayName interests }} }}'
        for k in range(4)
    )
    query = f"{{ {fields} me {{ ... on Me {{ profile {{ displayName }} preferences {{ ageMin }} }} }} }}"
    data = await gql(query, token=viewer)
    assert [data[f"u{k}"]["interests"] for k in range(4)] == [[f"x{k}"] for k in range(4)]
    assert len(calls) == 1


async def test_viewer_profile_comes_with_authentication(gql, resources) -> None:
    """`me { profile }` needs no query beyond the authentication one."""
    token = await person(gql, ["chess"])
    with count_statements(resources.engine) as statements:
        data = await gql("{ me { ... on Me { email profile { displayName } } } }", token=token)
    assert data["me"]["profile"] == {"displayName": "Ada"}
    assert statements == []  # the one authentication query runs on the raw driver
