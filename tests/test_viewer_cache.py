"""The per-process viewer cache: repeat requests skip the database, yet revocations and
profile edits show at once, and expired tokens are never served from it."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from models import User
from models.base import utcnow
from rapport.resources import open_resources
from resolvers import accounts
from resolvers.accounts import Viewer
from resolvers.viewer_cache import ViewerCache
from tests.support.gql import Gql
from tests.support.people import create
from tests.support.settings import make_settings

ME = "{ me { __typename ... on Me { profile { displayName } } } }"


@pytest.fixture
def auth_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = accounts.authenticate

    async def counted(*args, **kwargs):
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(accounts, "authenticate", counted)
    return calls


async def test_repeat_requests_skip_the_database(gql, auth_calls) -> None:
    token = await gql.register()
    for _ in range(3):
        assert (await gql(ME, token=token))["me"]["__typename"] == "Me"
    assert len(auth_calls) == 1


async def test_a_mutation_evicts_so_profile_edits_show_at_once(gql, auth_calls) -> None:
    token = await gql.register()
    await create(gql, token)  # a mutation: evicts
    assert (await gql(ME, token=token))["me"]["profile"] == {"displayName": "Ada"}
    await gql(
        'mutation { updateProfile(input: {displayName: "Grace"}) { __typename } }', token=token
    )
    assert (await gql(ME, token=token))["me"]["profile"] == {"displayName": "Grace"}


async def test_logout_everywhere_revokes_cached_tokens_of_all_sessions(gql) -> None:
    first = await gql.register("cache@example.com")
    login = 'mutation { login(input: {email: "cache@example.com", password: "correct horse battery staple"}) { ... on AuthPayload { token } } }'
    second = (await gql(login))["login"]["token"]
    for token in (first, second):  # both cached now
        assert (await gql(ME, token=token))["me"]["__typename"] == "Me"
    await gql("mutation { logoutEverywhere { __typename } }", token=first)
    for token in (first, second):
        assert (await gql(ME, token=token))["me"]["__typename"] == "AuthenticationRequired"


def _viewer() -> Viewer:
    user = User(id=uuid.uuid4(), email="x@example.com", password_hash="-", last_active_at=utcnow())
    return Viewer(user=user, token_id=uuid.uuid4())


def test_expired_tokens_are_never_served_from_the_cache() -> None:
    cache = ViewerCache(ttl_s=60)
    cache.put(b"live", _viewer(), utcnow() + timedelta(hours=1), cache.generation)
    cache.put(b"dead", _viewer(), utcnow() - timedelta(seconds=1), cache.generation)
    assert cache.get(b"live") is not None
    assert cache.get(b"dead") is None


def test_stale_activity_goes_back_to_the_database() -> None:
    """last_active_at is recorded by the database path, so an old one forces a miss."""
    viewer = _viewer()
    viewer.user.last_active_at = utcnow() - accounts.LAST_ACTIVE_RESOLUTION - timedelta(seconds=1)
    cache = ViewerCache(ttl_s=60)
    cache.put(b"t", viewer, utcnow() + timedelta(hours=1), cache.generation)
    assert cache.get(b"t") is None


def test_a_lookup_that_raced_an_eviction_is_not_stored() -> None:
    """A request read the token row before a logout committed; its late store must not
    bring the revoked token back."""
    cache = ViewerCache(ttl_s=60)
    viewer = _viewer()
    before_read = cache.generation
    cache.evict_user(viewer.id)  # the logout commits meanwhile
    cache.put(b"t", viewer, utcnow() + timedelta(hours=1), before_read)
    assert cache.get(b"t") is None


@asynccontextmanager
async def two_processes(
    database_url: str, redis_url: str, encoder: Any
) -> AsyncIterator[tuple[Gql, Gql]]:
    """Two app instances in this process (each its own resources, as two processes would
    have) on one database and one Redis: what one evicts, the other must drop."""
    key = secrets.token_urlsafe(48)
    settings = make_settings(database_url, redis_url=redis_url, secret_key=key)
    async with open_resources(settings, encoder) as one, open_resources(settings, encoder) as two:
        assert one.viewer_cache.enabled and two.viewer_cache.enabled
        yield Gql(one), Gql(two)


async def test_a_logout_in_one_process_is_refused_by_the_other_at_once(
    database_url, redis_server, encoder
) -> None:
    async with two_processes(database_url, redis_server.url, encoder) as (one, two):
        token = await one.register()
        for gql in (one, two):  # cached in both
            assert (await gql(ME, token=token))["me"]["__typename"] == "Me"
        assert len(two.resources.viewer_cache) == 1
        await one("mutation { logoutEverywhere { __typename } }", token=token)
        # The mutation answered after its eviction was published; the other process drops it
        # as the message arrives (a loop turn here, as the two share this event loop).
        await wait_for(lambda: len(two.resources.viewer_cache) == 0)
        assert (await two(ME, token=token))["me"]["__typename"] == "AuthenticationRequired"


async def test_a_process_that_may_have_missed_evictions_clears_its_cache(
    database_url, redis_server, encoder
) -> None:
    async with two_processes(database_url, redis_server.url, encoder) as (one, two):
        token = await one.register()
        assert (await two(ME, token=token))["me"]["__typename"] == "Me"
        assert len(two.resources.viewer_cache) == 1
        redis_server.stop()  # announcements made now would be lost
        redis_server.start()
        await wait_for(lambda: len(two.resources.viewer_cache) == 0)  # the reconnection's GAP
        assert (await two(ME, token=token))["me"]["__typename"] == "Me"  # and it fills again
        assert len(two.resources.viewer_cache) == 1


async def test_a_process_that_stopped_hearing_evictions_stops_using_its_cache(
    database_url, redis_server, encoder
) -> None:
    """If the listener ends while the process serves (here: its hub closes under it), the
    cache must not go on serving viewers nobody can evict any more."""
    settings = make_settings(database_url, redis_url=redis_server.url)
    async with open_resources(settings, encoder) as resources:
        cache = resources.viewer_cache
        assert cache.enabled and cache.announce is not None
        token = await Gql(resources).register()
        assert (await Gql(resources)(ME, token=token))["me"]["__typename"] == "Me"
        assert len(cache) == 1
        await resources.hub.__aexit__(None, None, None)
        await wait_for(lambda: not cache.enabled)
        assert len(cache) == 0


async def wait_for(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    """Until `condition()` holds (a bound against hanging, not a timing target)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (a plain condition, nobody to set an Event)
            await asyncio.sleep(0.01)
