"""Regression tests for defects found in review of the foundation."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from models import Profile, UserInterest
from resolvers import profiles
from schema import schema
from schema.context import Context
from tests.support.people import profile_input

CREATE = "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }"


async def test_operations_sharing_a_context_keep_their_own_sessions(
    gql, resources, monkeypatch
) -> None:
    """A websocket shares one Context across concurrent operations: a query ending while a
    mutation is mid-transaction must not close the mutation's session (losing its write)."""
    token = await gql.register()
    await gql(CREATE, {"i": profile_input()}, token=token)
    real_save = profiles._save

    async def slow_save(*args, **kwargs):
        await asyncio.sleep(0.05)  # the query below finishes meanwhile
        await real_save(*args, **kwargs)

    monkeypatch.setattr(profiles, "_save", slow_save)
    shared = Context(resources=resources, token=token, connection_params={"token": token})
    update, query = await asyncio.gather(
        schema.execute(
            'mutation { updateProfile(input: {bio: "NEW BIO"}) { __typename } }',
            context_value=shared,
        ),
        schema.execute("{ me { ... on Me { email } } }", context_value=shared),
    )
    assert update.errors is None and query.errors is None
    async with resources.sessionmaker() as session:
        assert (await session.execute(select(col(Profile.bio)))).scalar_one() == "NEW BIO"


def test_an_operations_context_keeps_the_connections_and_nothing_of_another_operation(
    resources,
) -> None:
    """Context.for_operation copies field by field: a field added to Context later is either
    the connection's (copied) or the operation's own (fresh), never silently dropped."""
    from dataclasses import fields

    per_operation = {"outcome", "subscription_field", "mutation", "_session", "_viewer"}
    shared = Context(
        resources=resources,
        token="t",
        connection_params={"token": "t"},
        request_id="r",
        outcome="Me",
        subscription_field="messageAdded",
        mutation=True,
    )
    scoped = shared.for_operation()
    fresh = Context(resources=resources)
    for f in fields(Context):
        if f.name in per_operation:
            assert getattr(scoped, f.name) == getattr(fresh, f.name), f.name
        else:
            assert getattr(scoped, f.name) is getattr(shared, f.name), f.name


async def test_concurrent_create_profile_answers_already_exists(gql) -> None:
    token = await gql.register()
    results = await asyncio.gather(
        *(gql(CREATE, {"i": profile_input()}, token=token) for _ in range(3))
    )
    assert sorted(r["createProfile"]["__typename"] for r in results) == [
        "AlreadyExists",
        "AlreadyExists",
        "OwnProfile",
    ]


async def test_concurrent_set_interests_replace_the_set(gql, resources) -> None:
    token = await gql.register()
    await gql(CREATE, {"i": profile_input()}, token=token)
    sets = [[f"s{k}-{i}" for i in range(30)] for k in range(3)]
    await asyncio.gather(
        *(
            gql(
                "mutation($n: [String!]!) { setInterests(names: $n) { __typename } }",
                {"n": s},
                token=token,
            )
            for s in sets
        )
    )
    async with resources.sessionmaker() as session:
        assert (
            await session.execute(select(func.count()).select_from(UserInterest))
        ).scalar_one() == 30


def cursor(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "order,key",
    [
        ("POPULAR", [True, "a"]),
        ("POPULAR", [10**30, "a"]),
        ("POPULAR", [-1, "a"]),
        ("POPULAR", [1, "a\u0000"]),
        ("NAME", ["a\u0000"]),
        ("NAME", ["x" * 300]),
    ],
)
async def test_hostile_cursors_are_invalid_not_errors(gql, order, key) -> None:
    data = await gql(
        "query($o: InterestOrder, $a: String) { interests(orderBy: $o, after: $a) { __typename ... on ValidationError { errors { code } } } }",
        {"o": order, "a": cursor(key)},
    )
    assert data["interests"] == {
        "__typename": "ValidationError",
        "errors": [{"code": "INVALID_CURSOR"}],
    }


async def test_me_in_a_login_payload_shows_that_accounts_preferences(gql) -> None:
    a = await gql.register("pa@example.com")
    await gql(CREATE, {"i": profile_input()}, token=a)
    await gql("mutation { updatePreferences(input: {ageMin: 44}) { __typename } }", token=a)
    b = await gql.register("pb@example.com")
    await gql(CREATE, {"i": profile_input()}, token=b)
    login = """mutation { login(input: {email: "pb@example.com", password: "correct horse battery staple"}) {
      ... on AuthPayload { me { email preferences { ageMin } } } } }"""
    for token in (None, a):  # anonymous, or while sending someone else's token
        data = await gql(login, token=token)
        assert data["login"]["me"] == {"email": "pb@example.com", "preferences": {"ageMin": 18}}


async def test_query_limits(gql) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(31))
    too_many = await gql.raw(f"{{ {aliases} }}")
    assert too_many.errors and "aliases" in too_many.errors[0].message
    deep = "{ me { ... on Me { profile { " + "__typename " + "} } } }"
    assert (await gql.raw(deep)).errors is None
    huge = "{ " + " ".join("__typename" for _ in range(2100)) + " }"
    too_long = await gql.raw(huge)
    assert too_long.errors and "token" in too_long.errors[0].message.lower()


async def test_query_limits_keep_the_validation_cache_working(gql) -> None:
    """Strawberry's limiter extensions rebuild their rules per request, which made every
    request miss the validation cache (about 0.8 ms of CPU each): ours must hit."""
    from schema.limits import DOCUMENTS

    query = "{ __typename interests(first: 1) { __typename } }"
    await gql(query)
    misses, hits = DOCUMENTS.misses, DOCUMENTS.hits
    for _ in range(3):
        await gql(query)
    assert DOCUMENTS.misses == misses and DOCUMENTS.hits == hits + 3


async def test_people_adding_overlapping_new_tags_at_once_do_not_deadlock(gql) -> None:
    """Stress check: new tags are inserted (sorted), and interest rows locked (their counts
    change) in id order, so overlapping concurrent changes wait instead of deadlocking. A
    deadlock was seen seeding with 8 concurrent writers; this check does not reproduce the
    race on every run, but fails whenever PostgreSQL reports one."""
    tokens = []
    for _ in range(8):
        token = await gql.register()
        await gql(CREATE, {"i": profile_input()}, token=token)
        tokens.append(token)
    set_tags = "mutation($n: [String!]!) { setInterests(names: $n) { __typename } }"
    for round_ in range(10):
        tags = [f"r{round_}-tag{i:02d}" for i in range(30)]
        results = await asyncio.gather(
            *(
                gql(set_tags, {"n": tags if k % 2 else list(reversed(tags))}, token=t)
                for k, t in enumerate(tokens)
            )
        )
        assert all(r["setInterests"]["__typename"] == "InterestsPayload" for r in results)
