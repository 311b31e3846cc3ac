"""rapport.pubsub against a real, private redis-server (tests/support/redis_server.py) and the
in-process backend. No mocks. Timeouts here only keep a broken hub from hanging the run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from rapport.pubsub import (
    GAP,
    Hub,
    Item,
    PubSubUnavailable,
    RedisBackend,
    Subscription,
    create_hub,
)
from tests.support.redis_server import RedisServer

WAIT = 15  # seconds: only so that a failure does not hang the run


@pytest.fixture(params=["memory", "redis"])
def hub_url(request: pytest.FixtureRequest) -> str | None:
    """None: the in-process backend; else the URL of a private redis-server."""
    if request.param == "memory":
        return None
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def hub(hub_url: str | None) -> AsyncIterator[Hub]:
    async with create_hub(hub_url) as hub:
        yield hub


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client to the private server, to look at it from outside the hub."""
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def next_item(subscription: Subscription) -> Item:
    return await asyncio.wait_for(anext(subscription), WAIT)


async def numsub(redis: Redis, channel: str) -> int:
    [(_, count)] = await redis.pubsub_numsub(channel)
    return int(count)


async def wait_numsub(redis: Redis, channel: str, expected: int) -> None:
    """Until Redis counts `expected` subscribers (an UNSUBSCRIBE is not waited for)."""
    async with asyncio.timeout(WAIT):
        while True:
            if await numsub(redis, channel) == expected:
                return
            await asyncio.sleep(0.01)


async def wait_reconnected(hub: Hub, times: int) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            if hub.stats.reconnects >= times:
                return
            await asyncio.sleep(0.01)


async def test_publish_right_after_subscribe_is_received(hub: Hub) -> None:
    # The stock broadcaster backend reports ready before Redis subscribed: a publish right
    # after subscribe() then gets lost. A fresh channel each time, so each is a new SUBSCRIBE.
    for i in range(300):
        async with hub.subscribe(f"race:{i}") as subscription:
            assert await hub.publish(f"race:{i}", {"n": i})
            assert await next_item(subscription) == {"n": i}
    assert hub.stats.published == 300
    assert hub.stats.publish_failures == 0


async def test_subscribe_returns_only_once_redis_confirmed(redis_server: RedisServer) -> None:
    # On loopback a SUBSCRIBE is nearly always processed before the next PUBLISH, so the loop
    # above rarely catches a hub that does not wait; a frozen server makes the wait visible.
    async with Hub(RedisBackend(redis_server.url, subscribe_timeout=WAIT)) as hub:
        entered = asyncio.Event()

        async def listen() -> Item:
            async with hub.subscribe("confirmed") as subscription:
                entered.set()
                return await next_item(subscription)

        redis_server.pause()
        try:
            task = asyncio.create_task(listen())
            await asyncio.sleep(0.2)
            assert not entered.is_set()  # Redis, frozen, cannot have confirmed it
        finally:
            redis_server.resume()
        await asyncio.wait_for(entered.wait(), WAIT)
        assert await hub.publish("confirmed", {"n": 1})
        assert await asyncio.wait_for(task, WAIT) == {"n": 1}


async def test_two_subscribers_each_get_everything_in_order(hub: Hub) -> None:
    sent = [{"n": i, "text": f"message {i}"} for i in range(100)]
    async with hub.subscribe("pair") as first, hub.subscribe("pair") as second:
        for message in sent:
            assert await hub.publish("pair", message)
        assert [await next_item(first) for _ in sent] == sent
        assert [await next_item(second) for _ in sent] == sent
        assert first.pending == second.pending == 0


async def test_subscribers_share_one_redis_subscription(redis_server: RedisServer) -> None:
    async with (
        create_hub(redis_server.url) as hub,
        Redis.from_url(redis_server.url) as redis,
        hub.subscribe("shared") as first,
        hub.subscribe("shared") as second,
    ):
        assert await numsub(redis, "shared") == 1
        assert await hub.publish("shared", {"x": 1})
        assert await next_item(first) == await next_item(second) == {"x": 1}


async def test_concurrent_first_subscribers_all_receive(hub: Hub) -> None:
    # broadcaster's own subscribe() loses all but one queue when several subscribers of a new
    # channel enter at once (each sees no subscriber yet, each replaces the set).
    count, entered, go = 10, 0, asyncio.Event()

    async def one() -> Item:
        nonlocal entered
        async with hub.subscribe("crowd") as subscription:
            entered += 1
            if entered == count:
                go.set()
            return await next_item(subscription)

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await asyncio.wait_for(go.wait(), WAIT)
    assert await hub.publish("crowd", {"hello": "all"})
    assert await asyncio.gather(*tasks) == [{"hello": "all"}] * count


async def test_unsubscribe_then_resubscribe(hub: Hub, hub_url: str | None) -> None:
    redis = Redis.from_url(hub_url) if hub_url else None
    try:
        async with hub.subscribe("again") as subscription:
            assert await hub.publish("again", {"n": 1})
            assert await next_item(subscription) == {"n": 1}
        # Left: iterating ends.
        assert await asyncio.wait_for(anext(subscription, "ended"), WAIT) == "ended"
        if redis is not None:
            await wait_numsub(redis, "again", 0)  # the hub let go of the Redis subscription
        assert await hub.publish("again", {"n": 2})  # sent, and nobody hears it
        async with hub.subscribe("again") as subscription:
            if redis is not None:
                assert await numsub(redis, "again") == 1
            assert await hub.publish("again", {"n": 3})
            assert await next_item(subscription) == {"n": 3}
            assert subscription.pending == 0
    finally:
        if redis is not None:
            await redis.aclose()


async def test_slow_subscriber_gets_gap_instead_of_unbounded_queue(hub_url: str | None) -> None:
    bound = 8
    async with (
        create_hub(hub_url, queue_size=bound) as hub,
        hub.subscribe("flood") as slow,
        hub.subscribe("flood") as reader,
    ):
        seen = 0
        for i in range(100):
            assert await hub.publish("flood", {"n": i})
            seen = max(seen, slow.pending)
        assert await hub.publish("flood", {"n": "end"})
        # `reader` reads until the last message: by then the hub has queued it for `slow` too.
        # (Under a burst `reader` may fall behind as well; the last message is never dropped.)
        while await next_item(reader) != {"n": "end"}:
            pass
        seen = max(seen, slow.pending)
        assert seen <= bound
        assert slow.pending <= bound
        backlog = [await next_item(slow) for _ in range(slow.pending)]
    assert backlog[0] is GAP
    assert backlog[-1] == {"n": "end"}
    numbers = [item["n"] for item in backlog[1:-1] if item is not GAP]
    assert numbers == sorted(numbers)  # what survived is the newest, in order
    assert hub.stats.overflows >= 1


async def test_shutdown_ends_live_subscriptions(hub_url: str | None) -> None:
    hub = create_hub(hub_url)
    await hub.__aenter__()
    received: dict[str, list[Item]] = {"a": [], "b": []}
    entered = {channel: asyncio.Event() for channel in received}
    got_one = asyncio.Event()

    async def consume(channel: str) -> None:
        async with hub.subscribe(channel) as subscription:
            entered[channel].set()
            async for item in subscription:
                received[channel].append(item)
                got_one.set()

    tasks = [asyncio.create_task(consume(channel)) for channel in received]
    async with asyncio.timeout(WAIT):
        for event in entered.values():
            await event.wait()
        assert await hub.publish("a", {"n": 1})
        await got_one.wait()

    await hub.__aexit__(None, None, None)
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT)  # both ended, neither raised
    assert received == {"a": [{"n": 1}], "b": []}
    assert await hub.publish("a", {"n": 2}) is False  # closed: refused, not raised
    with pytest.raises(PubSubUnavailable):
        async with hub.subscribe("a"):
            pass


async def test_publish_failures_are_returned_not_raised(hub: Hub) -> None:
    assert await hub.publish("odd", {"not json": object()}) is False
    assert hub.stats.publish_failures == 1


async def test_redis_restart_gives_gap_then_live_messages(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rapport.pubsub")
    async with (
        create_hub(redis_server.url) as hub,
        hub.subscribe("chat:1") as one,
        hub.subscribe("chat:2") as two,
    ):
        assert await hub.publish("chat:1", {"n": "before"})
        assert await next_item(one) == {"n": "before"}

        redis_server.stop()
        async with asyncio.timeout(WAIT):  # bounded: an outage must not hang publishers
            assert await hub.publish("chat:1", {"n": "lost"}) is False
        assert hub.stats.publish_failures == 1

        redis_server.start()  # same port
        assert await next_item(one) is GAP  # resubscribed; what came meanwhile may be lost
        assert await next_item(two) is GAP
        assert await hub.publish("chat:1", {"n": "after"})
        assert await hub.publish("chat:2", {"n": "after"})
        assert await next_item(one) == {"n": "after"}
        assert await next_item(two) == {"n": "after"}
        assert hub.stats.reconnects == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_subscribe_during_outage_completes_when_redis_returns(
    redis_server: RedisServer,
) -> None:
    async with Hub(RedisBackend(redis_server.url, subscribe_timeout=WAIT)) as hub:
        redis_server.stop()
        entered = asyncio.Event()

        async def listen() -> Item:
            async with hub.subscribe("late") as subscription:
                entered.set()
                return await next_item(subscription)

        task = asyncio.create_task(listen())
        await asyncio.sleep(0.2)
        assert not entered.is_set()  # Redis cannot have confirmed it
        redis_server.start()
        await asyncio.wait_for(entered.wait(), WAIT)
        assert await hub.publish("late", {"n": 1})
        assert await asyncio.wait_for(task, WAIT) == {"n": 1}  # no GAP: it was not in yet


async def test_subscribe_fails_cleanly_while_redis_stays_down(redis_server: RedisServer) -> None:
    async with Hub(RedisBackend(redis_server.url, subscribe_timeout=0.5)) as hub:
        redis_server.stop()
        with pytest.raises(PubSubUnavailable):
            async with hub.subscribe("nowhere"):
                pass
        redis_server.start()
        await wait_reconnected(hub, 1)  # the reader may still be in its backoff sleep
        async with hub.subscribe("nowhere") as subscription:
            assert await hub.publish("nowhere", {"n": 1})
            assert await next_item(subscription) == {"n": 1}


async def test_publish_to_unresponsive_redis_returns_false(redis_server: RedisServer) -> None:
    async with (
        Hub(RedisBackend(redis_server.url, publish_timeout=0.5)) as hub,
        hub.subscribe("frozen") as subscription,
    ):
        redis_server.pause()  # accepts connections, answers nothing
        try:
            async with asyncio.timeout(WAIT):
                assert await hub.publish("frozen", {"n": "during"}) is False
        finally:
            redis_server.resume()
        assert await hub.publish("frozen", {"n": "after"})
        # A command cut off by the timeout may still have reached Redis: False means
        # "not known to be sent", never "known not to be sent".
        received = [await next_item(subscription)]
        if received[0] == {"n": "during"}:
            received.append(await next_item(subscription))
        assert received[-1] == {"n": "after"}


async def test_connect_fails_when_redis_is_unreachable(redis_server: RedisServer) -> None:
    redis_server.stop()
    hub = Hub(RedisBackend(redis_server.url, connect_timeout=0.5))
    with pytest.raises(PubSubUnavailable, match="not reachable"):
        await hub.__aenter__()


async def test_messages_that_are_not_json_objects_are_skipped(
    redis_server: RedisServer, redis: Redis
) -> None:
    async with create_hub(redis_server.url) as hub, hub.subscribe("mixed") as subscription:
        await redis.publish("mixed", b"not json")
        await redis.publish("mixed", b"[1, 2]")
        assert await hub.publish("mixed", {"ok": True})
        assert await next_item(subscription) == {"ok": True}
