"""The per-process viewer cache: repeat requests skip the database, yet revocations and
profile edits show at once, and expired tokens are never served from it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from models import User
from models.base import utcnow
from rapport.resources import open_resources
from resolvers import accounts
from resolvers.accounts import Viewer
from resolvers.viewer_cache import ViewerCache
from tests.conftest import make_settings
from tests.test_profiles import create

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
    cache.forget_user(viewer.id)  # the logout commits meanwhile
    cache.put(b"t", viewer, utcnow() + timedelta(hours=1), before_read)
    assert cache.get(b"t") is None


async def test_cache_is_off_with_several_processes(database_url, encoder) -> None:
    settings = make_settings(database_url, redis_url="redis://127.0.0.1:6379/0")
    async with open_resources(settings, encoder) as resources:
        assert resources.viewer_cache.enabled is False
    async with open_resources(make_settings(database_url), encoder) as resources:
        assert resources.viewer_cache.enabled is True
