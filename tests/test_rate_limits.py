"""Rate limits: each limit refuses with a typed RateLimited (retryAfter) and changes nothing;
websockets over their limits are closed with 4429; Redis shares counts between instances."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from models import AuthToken, Message, OutboundEmail, Swipe
from models.matching import InterestRequest
from rapport.errors import RateLimitedError
from rapport.rate_limits import DEFAULT_RATES, Limit, RateLimits
from rapport.settings import Settings
from tests.support.chat import SEND, matched
from tests.support.gql import Gql
from tests.support.mailbox import PASSWORD, sign_up_client
from tests.support.people import LIKE, person
from tests.support.rate_limits import RATE_LIMITED, refused
from tests.support.redis_server import RedisServer
from tests.support.settings import make_settings

TIGHT = {
    "login_per_address": "3/minute",
    "login_per_account_and_address": "2 per 15 minutes",
    "register_per_address": "2/minute",
    "likes_per_day": "2/day",
    "likes_per_minute": "3/minute",
    "recommendations_per_hour": "30/hour",
    "profile_views_per_hour": "2/hour",
    "interest_requests_per_day": "1/day",
    "messages_per_minute": "2/minute",
    "websocket_connections_per_address": "2/minute",
    "subscribes_per_minute": "3/minute",
}
LOGIN = (
    "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) "
    f"{{ __typename ... on AuthPayload {{ token }} {RATE_LIMITED} }} }}"
)
REGISTER = (
    "mutation($e: String!) { register(input: {email: $e, password: "
    f'"{PASSWORD}"}}) {{ __typename {RATE_LIMITED} }} }}'
)
INTEREST = (
    'mutation($id: ID!) { sendInterest(userId: $id, message: "hi") '
    f"{{ __typename {RATE_LIMITED} }} }}"
)
PROTOCOL = ["graphql-transport-ws"]


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """TIGHT, with a test's own overrides (parametrize "settings" indirectly)."""
    overrides = getattr(request, "param", {})
    return make_settings(database_url, rate_limits={**TIGHT, **overrides})


async def count(resources, model) -> int:
    async with resources.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def resources_sign_up(resources, email: str) -> None:
    """An account made in process (the per-address limits under test stay untouched)."""
    await Gql(resources).register(email)


async def gql_http(client, query: str, variables: dict, token: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


async def test_registration_per_address(client, resources) -> None:
    for _ in range(2):
        ok = await gql_http(client, REGISTER, {"e": f"r-{uuid.uuid4().hex[:8]}@example.com"})
        assert ok["__typename"] == "RegistrationStarted"
    emails = await count(resources, OutboundEmail)
    refused(await gql_http(client, REGISTER, {"e": "third@example.com"}), "register_per_address")
    assert await count(resources, OutboundEmail) == emails  # nothing was sent


async def test_login_per_address_counts_every_attempt(client, resources) -> None:
    email = "login-addr@example.com"
    await resources_sign_up(resources, email)
    for _ in range(3):
        ok = await gql_http(client, LOGIN, {"e": email, "p": PASSWORD})
        assert ok["__typename"] == "AuthPayload"
    tokens = await count(resources, AuthToken)
    refused(await gql_http(client, LOGIN, {"e": email, "p": PASSWORD}), "login_per_address")
    assert await count(resources, AuthToken) == tokens


async def test_failed_logins_lock_guessing_not_other_accounts(gql) -> None:
    """In process (one client address for all). Unknown addresses are limited the same way,
    so the limit tells nothing about which emails exist (tests/test_login_budgets.py has the
    budgets across client addresses)."""
    victim = f"victim-{uuid.uuid4().hex[:6]}@example.com"
    other = f"other-{uuid.uuid4().hex[:6]}@example.com"
    await gql.register(victim)
    await gql.register(other)
    for email in (victim, "nobody-here@example.com"):
        for _ in range(2):
            wrong = (await gql(LOGIN, {"e": email, "p": "wrong password!"}))["login"]
            assert wrong["__typename"] == "InvalidCredentials"
        # Past the limit even the right password is refused: guessing cannot go on.
        refused(
            (await gql(LOGIN, {"e": email, "p": PASSWORD}))["login"],
            "login_per_account_and_address",
        )
    # Case and spacing do not open a new budget: the normalised address is the key.
    upper = (await gql(LOGIN, {"e": f"  {victim.upper()} ", "p": PASSWORD}))["login"]
    refused(upper, "login_per_account_and_address")
    assert (await gql(LOGIN, {"e": other, "p": PASSWORD}))["login"]["__typename"] == "AuthPayload"


async def test_successful_logins_do_not_spend_the_account_budget(gql) -> None:
    email = f"fine-{uuid.uuid4().hex[:6]}@example.com"
    await gql.register(email)
    for _ in range(4):
        ok = (await gql(LOGIN, {"e": email, "p": PASSWORD}))["login"]
        assert ok["__typename"] == "AuthPayload"


async def test_likes_per_day_refused_without_a_swipe(gql, resources) -> None:
    me = await person(gql)
    others = [await person(gql) for _ in range(3)]
    query = LIKE.replace("__typename", f"__typename {RATE_LIMITED}", 1)
    for other in others[:2]:
        assert (await gql(query, {"id": other.id}, token=me.token))["like"]["__typename"] == (
            "SwipePayload"
        )
    swipes = await count(resources, Swipe)
    refused((await gql(query, {"id": others[2].id}, token=me.token))["like"], "likes_per_day")
    assert await count(resources, Swipe) == swipes


async def test_likes_are_counted_before_they_run(gql) -> None:
    """So concurrent likes cannot overshoot: a like refused by the rules (no such person)
    spends the budget too; one refused as bad input does not."""
    me, other = await person(gql), await person(gql)
    assert (await gql(LIKE, {"id": "not-an-id"}, token=me.token))["like"]["__typename"] == (
        "ValidationError"
    )
    for _ in range(2):
        answer = (await gql(LIKE, {"id": str(uuid.uuid4())}, token=me.token))["like"]
        assert answer["__typename"] == "NotFound"
    query = LIKE.replace("__typename", f"__typename {RATE_LIMITED}", 1)
    refused((await gql(query, {"id": other.id}, token=me.token))["like"], "likes_per_day")


@pytest.mark.parametrize("settings", [{"likes_per_day": "100/day"}], indirect=True)
async def test_likes_per_minute(gql) -> None:
    me = await person(gql)
    query = LIKE.replace("__typename", f"__typename {RATE_LIMITED}", 1)
    for _ in range(3):
        answer = (await gql(query, {"id": str(uuid.uuid4())}, token=me.token))["like"]
        assert answer["__typename"] == "NotFound"
    refused(
        (await gql(query, {"id": str(uuid.uuid4())}, token=me.token))["like"], "likes_per_minute"
    )


async def test_interest_requests_per_day(gql, resources) -> None:
    me, first, second = await person(gql), await person(gql), await person(gql)
    assert (await gql(INTEREST, {"id": first.id}, token=me.token))["sendInterest"][
        "__typename"
    ] == "InterestRequest"
    requests = await count(resources, InterestRequest)
    answer = (await gql(INTEREST, {"id": second.id}, token=me.token))["sendInterest"]
    refused(answer, "interest_requests_per_day")
    assert await count(resources, InterestRequest) == requests


async def test_messages_per_minute_per_account(gql, resources) -> None:
    a, b, conversation = await matched(gql)
    query = SEND.replace("__typename", f"__typename {RATE_LIMITED}", 1)
    for n in range(2):
        sent = await gql(query, {"c": conversation, "b": f"m{n}", "k": f"k{n}"}, token=a.token)
        assert sent["sendMessage"]["__typename"] == "Message"
    messages = await count(resources, Message)
    third = await gql(query, {"c": conversation, "b": "m2", "k": "k2"}, token=a.token)
    refused(third["sendMessage"], "messages_per_minute")
    assert await count(resources, Message) == messages
    # The other member has a budget of their own.
    reply = await gql(query, {"c": conversation, "b": "hi", "k": "r0"}, token=b.token)
    assert reply["sendMessage"]["__typename"] == "Message"


@pytest.fixture
def http(settings, encoder_model) -> Iterator[TestClient]:
    from app import create_app
    from matching.batching import BatchingEncoder

    with TestClient(create_app(settings, BatchingEncoder(encoder_model))) as client:
        yield client


def _token(http: TestClient) -> str:
    return sign_up_client(http, f"ws-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)["token"]


def test_websocket_connections_per_address_close_with_4429(http) -> None:
    token = _token(http)
    for _ in range(2):
        with http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            ws.send_json({"type": "connection_init", "payload": {"token": token}})
            assert ws.receive_json()["type"] == "connection_ack"
    with http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"token": token}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4429
    assert "websocket_connections_per_address" in closed.value.reason


def test_flooding_subscribe_messages_close_with_4429(http) -> None:
    token = _token(http)
    with http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"token": token}})
        assert ws.receive_json()["type"] == "connection_ack"
        for n in range(3):
            ws.send_json(
                {"id": str(n), "type": "subscribe", "payload": {"query": "{ __typename }"}}
            )
            assert ws.receive_json()["type"] == "next"
            assert ws.receive_json()["type"] == "complete"
        ws.send_json({"id": "3", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4429 and "subscribes_per_minute" in closed.value.reason


async def test_redis_counts_are_shared_by_instances() -> None:
    rates = {limit.value: rate for limit, rate in DEFAULT_RATES.items()}
    rates[Limit.MESSAGES_PER_MINUTE] = "3/minute"
    with RedisServer() as server:
        clients = [Redis.from_url(server.url, decode_responses=True) for _ in range(2)]
        one, two = (RateLimits(rates, client) for client in clients)
        await one.hit(Limit.MESSAGES_PER_MINUTE, "alice")
        await two.hit(Limit.MESSAGES_PER_MINUTE, "alice")
        await one.hit(Limit.MESSAGES_PER_MINUTE, "alice")
        with pytest.raises(RateLimitedError) as error:
            await two.hit(Limit.MESSAGES_PER_MINUTE, "alice")
        assert 1 <= error.value.retry_after <= 60
        await two.hit(Limit.MESSAGES_PER_MINUTE, "bob")  # a budget per key
        await one.reset()
        for client in clients:
            await client.aclose()


async def test_unreachable_redis_falls_back_to_counting_in_process(caplog) -> None:
    """Not to no limit at all: an attacker who can overload Redis must not get the limits off."""
    rates = {limit.value: "2/minute" for limit in Limit}
    redis = Redis.from_url("redis://127.0.0.1:1/0")
    limits = RateLimits(rates, redis)
    for _ in range(2):
        await limits.hit(Limit.LOGIN_PER_ADDRESS, "1.2.3.4")
    with pytest.raises(RateLimitedError) as error:
        await limits.hit(Limit.LOGIN_PER_ADDRESS, "1.2.3.4")
    assert 1 <= error.value.retry_after <= 60
    await limits.hit(Limit.LOGIN_PER_ADDRESS, "5.6.7.8")  # a budget per key still
    await limits.clear(Limit.LOGIN_PER_ADDRESS, "1.2.3.4")
    await limits.hit(Limit.LOGIN_PER_ADDRESS, "1.2.3.4")
    await redis.aclose()
    assert caplog.text.count("rate limit storage failed") == 1  # said once, not per action


async def test_the_apps_redis_pool_waits_for_a_connection() -> None:
    """A burst beyond the pool's connections waits (bounded) rather than raising."""
    import asyncio

    from rapport.resources import redis_client

    with RedisServer() as server:
        client = redis_client(server.url, max_connections=2, timeout=10)
        try:
            # six calls that each hold a connection for 0.2 s, through two connections
            results = await asyncio.gather(
                *(client.execute_command("BLPOP", f"nothing-{i}", 0.2) for i in range(6))
            )
        finally:
            await client.aclose()
    assert results == [None] * 6


def test_settings_merge_defaults_and_refuse_unknown_or_malformed(database_url: str) -> None:
    merged = make_settings(database_url, rate_limits={"likes_per_day": "5/day"}).rate_limits
    assert merged["likes_per_day"] == "5/day"
    assert merged["messages_per_minute"] == DEFAULT_RATES[Limit.MESSAGES_PER_MINUTE]
    with pytest.raises(ValueError, match="unknown rate limit"):
        make_settings(database_url, rate_limits={"likes_per_year": "5/day"})
    with pytest.raises(ValueError, match="likes_per_day: 'lots' is not a rate"):
        make_settings(database_url, rate_limits={"likes_per_day": "lots"})


RECOMMENDATIONS = (
    "query($n: Int) { recommendations(first: $n) { __typename "
    f"... on RecommendationConnection {{ pageInfo {{ hasNextPage }} }} {RATE_LIMITED} }} }}"
)
USER = f"query($id: ID!) {{ user(id: $id) {{ __typename {RATE_LIMITED} }} }}"


async def test_recommendations_count_the_people_asked_for(gql) -> None:
    me = await person(gql)
    for size in (20, 10):  # 30 per hour (TIGHT)
        answer = (await gql(RECOMMENDATIONS, {"n": size}, token=me.token))["recommendations"]
        assert answer["__typename"] != "RateLimited", answer
    refused(
        (await gql(RECOMMENDATIONS, {"n": 1}, token=me.token))["recommendations"],
        "recommendations_per_hour",
    )


async def test_profile_views_per_hour_not_ones_own(gql) -> None:
    me, other = await person(gql), await person(gql)
    for _ in range(2):
        assert (await gql(USER, {"id": other.id}, token=me.token))["user"]["__typename"] == "User"
    refused((await gql(USER, {"id": other.id}, token=me.token))["user"], "profile_views_per_hour")
    assert (await gql(USER, {"id": me.id}, token=me.token))["user"]["__typename"] == "User"
