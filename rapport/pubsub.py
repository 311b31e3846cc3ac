"""Rapport's pub/sub hub: broadcaster with a Redis backend of our own, and bounded queues.

What it guarantees:

- `Hub.subscribe(channel)` returns once the subscription is in effect (Redis confirmed it):
  a message published after that is delivered, or the subscriber is told it may have missed
  something (GAP). Subscriptions to one channel in one process share one Redis subscription;
  each receives every message, in the order Redis delivered them.
- After a lost Redis connection the backend reconnects (exponential backoff with jitter),
  subscribes to every channel again and then puts GAP on every channel it was listening to.
- Each subscriber's queue is bounded: a subscriber that falls `queue_size` messages behind has
  its pending messages replaced by a single GAP, so a slow consumer never grows memory.
- `Hub.publish` never raises and never waits longer than the backend's publish timeout: it
  returns False (and logs) when Redis did not acknowledge the message. (False means "not known
  to be sent": a message cut off by the timeout may still reach subscribers.)

What it does not guarantee: delivery. Redis pub/sub is at-most-once; a message published while
a subscriber is disconnected is gone. The database is the source of truth: messages only say
that something new exists, and GAP means "re-read from the database from your last cursor".

The stock broadcaster Redis backend is not usable with redis-py 8 (it reports ready before it
subscribes, never reconnects, and its queues are unbounded): see shared/design.md.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from broadcaster import Broadcast, Event
from broadcaster._backends.base import BroadcastBackend
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from rapport import metrics

__all__ = [
    "GAP",
    "Gap",
    "Hub",
    "HubStats",
    "Item",
    "LocalBackend",
    "PubSubUnavailable",
    "RedisBackend",
    "Subscription",
    "create_hub",
]

log = logging.getLogger(__name__)


class Gap(enum.Enum):
    GAP = "GAP"


GAP: Final = Gap.GAP
"""Yielded by a subscription when messages may have been missed: re-read from the database."""

Item: TypeAlias = dict[str, Any] | Literal[Gap.GAP]
"""What iterating a subscription yields: a decoded message, or GAP."""


class PubSubUnavailable(ConnectionError):
    """Redis could not be reached (connect, subscribe or publish), or the hub is closed."""


@dataclass
class HubStats:
    """Counters for tests and benchmarks."""

    published: int = 0
    publish_failures: int = 0
    reconnects: int = 0
    overflows: int = 0  # times a subscriber's full queue was replaced by GAP


class _GapEvent(Event):
    """A backend's notice that a channel's subscribers may have missed messages."""

    def __init__(self, channel: str) -> None:
        super().__init__(channel=channel, message="")


@dataclass
class _Pending:
    """One SUBSCRIBE sent and not yet confirmed: who waits for it, and whether its
    confirmation ends a disconnection (then the channel gets a GAP)."""

    waiters: list[asyncio.Future[None]]
    gap: bool = False


def _describe(exc: BaseException | None) -> str:
    """`Type: message` (redis-py 8's exceptions repr as e.g. "network:ConnectionError")."""
    if exc is None:
        return "no attempt finished"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _write(conn: AbstractConnection, *args: str) -> None:
    """Send a command, but never on a dropped connection: redis-py would silently connect
    again, and the new connection would be subscribed to nothing."""
    if not conn.is_connected:
        raise RedisConnectionError("connection closed")
    await conn.send_command(*args, check_health=False)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RedisBackend(BroadcastBackend):
    """A broadcaster backend on redis.asyncio that confirms, reconnects and reports gaps.

    One connection reads (SUBSCRIBE/UNSUBSCRIBE are written on it too); publishing uses a
    pooled client of its own. Redis answers commands in order, so each channel keeps a FIFO
    of SUBSCRIBEs awaiting confirmation. The reader sends PING after `ping_interval` seconds
    of silence and reconnects when a second interval passes without any answer.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        subscribe_timeout: float = 5.0,
        publish_timeout: float = 2.0,
        backoff: tuple[float, float] = (0.05, 2.0),
        ping_interval: float = 15.0,
    ) -> None:
        # BroadcastBackend.__init__ only raises NotImplementedError: not called.
        self.stats = HubStats()
        # No socket_timeout for publishing: `publish` bounds each call with asyncio.timeout,
        # while redis-py would wrap every send in asyncio.wait_for, a new Task per command
        # (measured against a local Redis: 62-67 µs of CPU per publish with it, 47-52 µs
        # without). The subscriber's connection keeps one (_run).
        self._client: Redis = Redis.from_url(
            url,
            socket_connect_timeout=publish_timeout,
            retry=Retry(NoBackoff(), 0),  # we retry ourselves; redis-py's retries hide outages
        )
        kwargs = self._client.connection_pool.connection_kwargs
        self._where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        self._connect_timeout = connect_timeout
        self._subscribe_timeout = subscribe_timeout
        self._publish_timeout = publish_timeout
        self._backoff = backoff
        self._ping_interval = ping_interval
        self._channels: set[str] = set()  # what we want to be subscribed to
        self._pending: dict[str, deque[_Pending]] = {}
        self._conn: AbstractConnection | None = None  # the live, subscribed connection
        self._attached = asyncio.Event()
        self._lock = asyncio.Lock()  # orders writes on the connection and its replacement
        self._events: asyncio.Queue[Event] = asyncio.Queue()  # drained at once by the hub
        self._reader: asyncio.Task[None] | None = None
        self._last_error: BaseException | None = None
        self._closed = False

    async def connect(self) -> None:
        """Start the reader; return once it is connected, or raise PubSubUnavailable."""
        self._closed = False
        self._reader = asyncio.create_task(self._run(), name="rapport-pubsub-reader")
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._attached.wait()
        except TimeoutError:
            await self.disconnect()
            raise PubSubUnavailable(
                f"Redis at {self._where} not reachable within {self._connect_timeout} s: "
                f"{_describe(self._last_error)}"
            ) from None

    async def disconnect(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait({self._reader})
            self._reader = None
        for entries in self._pending.values():
            for entry in entries:
                for waiter in entry.waiters:
                    if not waiter.done():
                        waiter.set_exception(PubSubUnavailable("pub/sub hub closed"))
        self._pending.clear()
        await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        """Return once Redis confirmed the subscription (after a reconnection if need be);
        PubSubUnavailable after `subscribe_timeout` seconds without confirmation."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._channels.add(channel)
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                # Shielded: a cancelled caller must not cut a command in half on the wire.
                await asyncio.shield(self._send("SUBSCRIBE", channel, waiter))
                await waiter
        except BaseException as exc:
            waiter.cancel()
            await self.unsubscribe(channel)
            if isinstance(exc, TimeoutError):
                raise PubSubUnavailable(
                    f"Redis at {self._where} did not confirm a subscription within "
                    f"{self._subscribe_timeout} s: {_describe(self._last_error)}"
                ) from None
            raise

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if not self._closed:
            await asyncio.shield(self._send("UNSUBSCRIBE", channel, None))

    async def publish(self, channel: str, message: Any) -> None:
        try:
            async with asyncio.timeout(self._publish_timeout):
                await self._client.publish(channel, message)
        except (RedisError, OSError) as exc:  # OSError covers TimeoutError
            raise PubSubUnavailable(
                f"could not publish to Redis at {self._where}: {_describe(exc)}"
            ) from exc

    async def next_published(self) -> Event:
        return await self._events.get()

    async def _send(self, command: str, channel: str, waiter: asyncio.Future[None] | None) -> None:
        async with self._lock:
            if waiter is not None:
                self._pending.setdefault(channel, deque()).append(_Pending([waiter]))
            conn = self._conn
            if conn is None:
                return  # reconnecting: _attach subscribes to what is wanted then
            try:
                await _write(conn, command, channel)
            except Exception as exc:
                # Maybe half written: drop the connection; the reader reconnects, resubscribes.
                log.debug("pub/sub: %s %s failed: %s", command, channel, _describe(exc))
                await conn.disconnect(nowait=True)

    async def _run(self) -> None:
        """The reader: connect, (re)subscribe, read until the connection fails; repeat."""
        low, high = self._backoff
        delay, connected_before = low, False
        while True:
            conn = self._client.connection_pool.make_connection()
            conn.socket_timeout = self._publish_timeout  # its SUBSCRIBE writes (_send)
            try:
                await conn.connect()
                await self._attach(conn, gap=connected_before)
                if connected_before:
                    self.stats.reconnects += 1
                    metrics.PUBSUB_RECONNECTS.inc()
                    log.warning("pub/sub: reconnected to Redis at %s", self._where)
                connected_before, delay = True, low
                await self._read(conn)
            except Exception as exc:
                self._last_error = exc
                expected = isinstance(exc, RedisError | OSError)
                if self._conn is conn:
                    log.warning(
                        "pub/sub: lost Redis at %s (%s); reconnecting",
                        self._where,
                        _describe(exc),
                        exc_info=not expected,
                    )
                else:
                    log.debug("pub/sub: cannot reach Redis at %s: %s", self._where, _describe(exc))
            finally:
                async with self._lock:  # not while _send is writing on it
                    if self._conn is conn:
                        self._conn = None
                        self._attached.clear()
                    await conn.disconnect(nowait=True)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
            delay = min(delay * 2, high)

    async def _attach(self, conn: AbstractConnection, *, gap: bool) -> None:
        """Subscribe a new connection to every wanted channel, and make it the live one.
        Whoever waited for a confirmation on the old connection waits for this one."""
        async with self._lock:
            stale, self._pending = self._pending, {}
            channels = sorted(self._channels)
            for channel in channels:
                entries = stale.pop(channel, None)
                waiters = [w for entry in entries or () for w in entry.waiters]
                # A channel still waiting for its first confirmation has no subscriber in yet:
                # nobody to warn (they read the database after they are in).
                self._pending[channel] = deque([_Pending(waiters, gap and entries is None)])
            for entries in stale.values():  # channels given up meanwhile
                for entry in entries:
                    for waiter in entry.waiters:
                        waiter.cancel()
            if channels:
                await _write(conn, "SUBSCRIBE", *channels)
            self._conn = conn
            self._attached.set()

    async def _read(self, conn: AbstractConnection) -> None:
        """Dispatch what arrives on `conn` until it fails (this only returns by raising)."""
        silent = 0
        while True:
            reply = await conn.read_response(
                timeout=self._ping_interval, disconnect_on_error=False, push_request=True
            )
            if reply is None:  # nothing for ping_interval seconds
                silent += 1
                if silent > 1:
                    raise TimeoutError("Redis did not answer PING")
                await _write(conn, "PING")
                continue
            silent = 0
            if not isinstance(reply, list) or len(reply) < 3:
                continue  # PONG
            kind, channel = _text(reply[0]), _text(reply[1])
            if kind == "message":
                self._events.put_nowait(Event(channel=channel, message=_text(reply[2])))
            elif kind == "subscribe":
                self._confirmed(channel)

    def _confirmed(self, channel: str) -> None:
        entries = self._pending.get(channel)
        if not entries:
            return
        entry = entries.popleft()
        if not entries:
            del self._pending[channel]
        for waiter in entry.waiters:
            if not waiter.done():
                waiter.set_result(None)
        if entry.gap and channel in self._channels:
            self._events.put_nowait(_GapEvent(channel))


class LocalBackend(BroadcastBackend):
    """In-process backend (no REDIS_URL): one process only. Like broadcaster's MemoryBackend,
    but a message reaches only channels subscribed when it is published."""

    def __init__(self) -> None:
        self._channels: set[str] = set()
        self._events: asyncio.Queue[Event] = asyncio.Queue()  # drained at once by the hub

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: Any) -> None:
        if channel in self._channels:
            self._events.put_nowait(Event(channel=channel, message=message))

    async def next_published(self) -> Event:
        return await self._events.get()


class _End(enum.Enum):
    END = "END"


class Subscription(AsyncIterator[Item]):
    """One subscriber: a bounded queue. Iterating yields decoded messages (dicts) and GAP;
    it ends when the subscription is left or the hub is closed."""

    def __init__(self, channel: str, maxsize: int, stats: HubStats) -> None:
        self.channel = channel
        self.maxsize = maxsize
        self._queue: asyncio.Queue[str | Gap | _End] = asyncio.Queue(maxsize)
        self._stats = stats
        self._closed = False

    @property
    def pending(self) -> int:
        """Items waiting to be read (never more than `maxsize`)."""
        return self._queue.qsize()

    def put(self, item: str | Gap) -> None:
        """Queue a message without ever waiting: when full, everything pending becomes GAP."""
        if self._closed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._replace_all(GAP)
            self._stats.overflows += 1
            metrics.PUBSUB_OVERFLOWS.inc()
            log.info("pub/sub: subscriber on %s fell behind; sent GAP", self.channel)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._queue.put_nowait(_End.END)
            except asyncio.QueueFull:
                self._replace_all(_End.END)

    def _replace_all(self, item: Gap | _End) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    async def __anext__(self) -> Item:
        while True:
            item = await self._queue.get()
            if item is _End.END:
                self._queue.put_nowait(item)  # so that a later __anext__ ends too
                raise StopAsyncIteration
            if item is GAP:
                return GAP
            try:
                message = json.loads(item)
            except ValueError:
                message = None
            if isinstance(message, dict):
                message.pop(metrics.SENT_KEY, None)
                return message
            log.warning("pub/sub: skipped a message on %s that is not a JSON object", self.channel)


@dataclass
class _Channel:
    subscribers: set[Subscription] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # orders backend (un)subscribes
    subscribed: bool = False


class _Broadcast(Broadcast):
    """Broadcast with bounded, never-blocking subscriber queues, GAP events, subscriptions
    that are confirmed before they are entered (concurrent first subscribers included), and a
    shutdown that ends live subscriptions."""

    def __init__(self, backend: BroadcastBackend, *, queue_size: int, stats: HubStats) -> None:
        super().__init__(backend=backend)
        self._queue_size = queue_size
        self._stats = stats
        self._channels: dict[str, _Channel] = {}
        self.open = False

    async def connect(self) -> None:
        await super().connect()
        self.open = True

    async def disconnect(self) -> None:
        self.open = False
        task: asyncio.Task[None] | None = getattr(self, "_listener_task", None)
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.error("pub/sub: the listener had failed", exc_info=task.exception())
        for channel in self._channels.values():
            for subscription in channel.subscribers:
                subscription.close()
        await self._backend.disconnect()

    async def _listener(self) -> None:
        while True:
            event = await self._backend.next_published()
            channel = self._channels.get(event.channel)
            if channel is not None:
                item: str | Gap = GAP if isinstance(event, _GapEvent) else event.message
                if item is not GAP:
                    metrics.observe_delivery(item)
                for subscription in channel.subscribers:
                    subscription.put(item)

    # Yields our Subscription, not broadcaster's Subscriber (unbounded, no GAP).
    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:  # type: ignore[override]
        if not self.open:
            raise PubSubUnavailable("pub/sub hub is not open")
        subscription = Subscription(channel, self._queue_size, self._stats)
        state = self._channels.setdefault(channel, _Channel())
        state.subscribers.add(subscription)  # before confirmation: nothing after it is missed
        try:
            async with state.lock:
                if not state.subscribed:
                    await self._backend.subscribe(channel)
                    state.subscribed = True
            yield subscription
        finally:
            subscription.close()
            state.subscribers.discard(subscription)
            async with state.lock:
                if not state.subscribers:
                    if state.subscribed and self.open:
                        await self._backend.unsubscribe(channel)
                    state.subscribed = False
                    if self._channels.get(channel) is state:
                        del self._channels[channel]


class Hub:
    """Rapport's pub/sub: JSON messages on named channels. Use as an async context manager."""

    def __init__(self, backend: BroadcastBackend, *, queue_size: int = 256) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.stats = backend.stats if isinstance(backend, RedisBackend) else HubStats()
        self._broadcast = _Broadcast(backend, queue_size=queue_size, stats=self.stats)

    async def __aenter__(self) -> Hub:
        """Connect; with Redis, raises PubSubUnavailable if it is not reachable in time."""
        await self._broadcast.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Disconnect; live subscriptions stop iterating."""
        await self._broadcast.disconnect()

    async def publish(self, channel: str, message: dict[str, Any]) -> bool:
        """Send `message` as JSON. False (logged, never raised) if it could not be sent.
        The JSON starts with the time of sending (`_sent`, for the delivery-latency metric),
        which subscribers never see."""
        try:
            if not self._broadcast.open:
                raise PubSubUnavailable("pub/sub hub is not open")
            envelope = {metrics.SENT_KEY: round(time.time(), 6), **message}
            await self._broadcast.publish(channel, json.dumps(envelope, separators=(",", ":")))
        except Exception as exc:
            self.stats.publish_failures += 1
            metrics.PUBSUB_PUBLISH_FAILURES.inc()
            log.warning(
                "pub/sub: could not publish on %s: %s",
                channel,
                exc,
                exc_info=not isinstance(exc, PubSubUnavailable),
            )
            return False
        self.stats.published += 1
        return True

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """Entered: subscribed, confirmed by Redis (PubSubUnavailable if that cannot happen).
        Iterate the Subscription for decoded messages and GAP."""
        return self._broadcast.subscribe(channel)

    def subscribers(self, channel: str) -> int:
        """Live subscriptions to `channel` in this process (a subscription counts from the
        moment nothing published after it can be missed)."""
        state = self._broadcast._channels.get(channel)
        return len(state.subscribers) if state is not None and state.subscribed else 0


def create_hub(redis_url: str | None, *, queue_size: int = 256) -> Hub:
    """A hub on Redis when `redis_url` is set, else in-process (one process only)."""
    backend = RedisBackend(redis_url) if redis_url else LocalBackend()
    return Hub(backend, queue_size=queue_size)
