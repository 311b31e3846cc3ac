"""Rate limits against abuse (README: "Rate limits"), on the `limits` library: counters in
Redis with REDIS_URL (shared by every instance), in process memory otherwise.

Each limit has a name, its rates come from settings (`RAPPORT_RATE_LIMITS`), and callers say
whose budget an action spends (`key`: a client address, an account id, a connection id).
The strategy is the moving window: exact, so `retry_after` is when the oldest counted action
leaves the window, not a guess.

If Redis is unreachable the limiter falls back to counting in this process (and logs it, at
most once a minute): refusing every login and message while Redis restarts would turn a blip
into an outage, and letting everything through would hand an attacker the limits by
overloading Redis. The fallback counts per process, so with N instances a budget is at worst
N times its size while Redis is away; when Redis answers again its counts are used again.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from rapport import metrics
from rapport.errors import RateLimitedError

log = logging.getLogger("rapport.rate_limits")


class Limit(StrEnum):
    """Every limit Rapport applies; settings give each its rates."""

    LOGIN_PER_ADDRESS = "login_per_address"  # every login attempt from one client address
    # Password checks (logins, sign-up codes, current passwords) against one email address:
    # from one client address, and from all the addresses it has not signed in from lately.
    LOGIN_PER_ACCOUNT_AND_ADDRESS = "login_per_account_and_address"
    LOGIN_PER_ACCOUNT = "login_per_account"
    REGISTER_PER_ADDRESS = "register_per_address"
    CONFIRM_REGISTRATION_PER_ADDRESS = "confirm_registration_per_address"
    SIGNUP_EMAILS_PER_RECIPIENT = "signup_emails_per_recipient"  # sign-up mail to one address
    LIKES_PER_DAY = "likes_per_day"  # per account
    LIKES_PER_MINUTE = "likes_per_minute"  # per account
    RECOMMENDATIONS_PER_HOUR = "recommendations_per_hour"  # people listed to one account
    PROFILE_VIEWS_PER_HOUR = "profile_views_per_hour"  # user(id) by one account
    INTEREST_REQUESTS_PER_DAY = "interest_requests_per_day"  # per account
    MESSAGES_PER_MINUTE = "messages_per_minute"  # per account, however many sockets
    REPORTS_PER_DAY = "reports_per_day"  # per account
    WEBSOCKET_CONNECTIONS_PER_ADDRESS = "websocket_connections_per_address"
    SUBSCRIBES_PER_MINUTE = "subscribes_per_minute"  # per websocket connection
    # Issue 12 (privacy): each probe of other people's location or private preferences
    # spends one of these per account (README "Privacy" says what they still cost to read).
    LOCATION_CHANGES = "location_changes"  # a move to another grid cell, or a new maxDistanceKm
    PROFILE_MATCH_CHANGES_PER_DAY = "profile_match_changes_per_day"  # gender, height, intent
    PREFERENCE_CHANGES_PER_DAY = "preference_changes_per_day"  # ages, heights, genders, intents


# Defaults: generous enough for people behind one carrier-grade NAT address, tight enough
# that guessing a password or scraping by brute force is hopeless.
DEFAULT_RATES: dict[Limit, str] = {
    Limit.LOGIN_PER_ADDRESS: "30/minute;300/hour",
    Limit.LOGIN_PER_ACCOUNT_AND_ADDRESS: "10 per 15 minutes",
    Limit.LOGIN_PER_ACCOUNT: "30/hour;100/day",
    Limit.REGISTER_PER_ADDRESS: "10/minute;50/hour",
    Limit.CONFIRM_REGISTRATION_PER_ADDRESS: "10/minute;50/hour",
    Limit.SIGNUP_EMAILS_PER_RECIPIENT: "5/hour;20/day",
    Limit.LIKES_PER_DAY: "500/day",
    Limit.LIKES_PER_MINUTE: "30/minute",
    Limit.RECOMMENDATIONS_PER_HOUR: "600/hour;3000/day",
    Limit.PROFILE_VIEWS_PER_HOUR: "300/hour;2000/day",
    Limit.INTEREST_REQUESTS_PER_DAY: "20/day",
    Limit.MESSAGES_PER_MINUTE: "60/minute;1000/hour",
    Limit.REPORTS_PER_DAY: "20/day",
    Limit.WEBSOCKET_CONNECTIONS_PER_ADDRESS: "60/minute",
    Limit.SUBSCRIBES_PER_MINUTE: "120/minute",
    Limit.LOCATION_CHANGES: "10/hour;30/day",
    Limit.PROFILE_MATCH_CHANGES_PER_DAY: "2/day",
    Limit.PREFERENCE_CHANGES_PER_DAY: "20/day",
}


RATE_FORMAT = "like '10/minute' or '5 per 15 minutes', several joined by ';'"
PERIODS = ("second", "minute", "hour", "day", "month", "year")


def parse_rates(value: str) -> list[RateLimitItem]:
    """'30/minute;300/hour' -> its limits. A ValueError names the part that is not a rate."""
    parts = [part.strip() for part in re.split(r"[,;|]", value)]
    if not any(parts):
        raise ValueError(f"{value!r} has no rate ({RATE_FORMAT})")
    items: list[RateLimitItem] = []
    for part in filter(None, parts):  # a trailing ';' is harmless
        try:
            items.extend(parse_many(part))
        except ValueError:
            period = re.fullmatch(r"\d+\s*(?:/|per)\s*(?:\d+\s*)?([a-z]+?)s?", part.lower())
            if period and period.group(1) not in PERIODS:
                raise ValueError(
                    f"{part!r}: unknown period {period.group(1)!r} (use {', '.join(PERIODS)})"
                ) from None
            raise ValueError(f"{part!r} is not a rate ({RATE_FORMAT})") from None
    return items


class _MemoryStorage(MemoryStorage):
    """limits' MemoryStorage, with a `clear` that takes the key's lock. limits 5.8 drops the
    key's events and lock without it, so its own expiry task, walking the keys meanwhile,
    fails with a KeyError (and stops expiring until the next count). Emptied under the lock,
    the key is left for that task to remove."""

    # The sweep of expired counts: limits starts it at every count, and it hops to a thread
    # for each key, so each request paid a thread hop (8% of a worker's CPU on `user(id)`,
    # py-spy under bench/peer.py). The counts do not need it (each check compares times), it
    # only frees memory: once a second is as good. limits' private `__schedule_expiry`,
    # overridden by its mangled name (checked below the class: a limits that renames it
    # fails at import instead of quietly sweeping at every count again).
    _swept_at = -math.inf

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._swept_at >= 1.0:
            self._swept_at = now
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]

    async def clear(self, key: str) -> None:
        async with self.locks[key]:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            if key in self.events:
                self.events[key] = []


assert hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry"), "limits renamed its sweep"


class RateLimits:
    def __init__(self, rates: dict[str, str], redis: Redis | None = None) -> None:
        """`redis`: the app's client; its connection pool is shared (and closed with it)."""
        self._items = {limit: parse_rates(rates[limit]) for limit in Limit}
        self._storage: Storage
        if redis is not None:
            self._storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix="rapport:limits",
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
            )
        else:
            self._storage = _MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        # Used while the shared storage fails (see the module's docstring).
        self._fallback = (
            self._limiter
            if isinstance(self._storage, MemoryStorage)
            else MovingWindowRateLimiter(_MemoryStorage())
        )
        self._warned_at = -math.inf

    async def hit(self, limit: Limit, key: str, cost: int = 1) -> None:
        """Count `cost` actions against `key`'s budget before they run, or raise
        RateLimitedError if it cannot take them. Each rate is one atomic test-and-count (a
        Lua script in Redis), so N concurrent attempts count N: they cannot slip in together
        between a check and a count. The action counts whether or not it then succeeds; a
        refused one is not counted in the rate that refused it."""

        async def step(limiter: MovingWindowRateLimiter, item: RateLimitItem) -> None:
            if not await limiter.hit(item, limit.value, key, cost=cost):
                metrics.RATE_LIMIT_REFUSALS.labels(limit.value).inc()
                stats = await limiter.get_window_stats(item, limit.value, key)
                raise RateLimitedError(
                    limit.value, max(1, math.ceil(stats.reset_time - time.time()))
                )

        await self._each_rate(limit, step)

    async def clear(self, limit: Limit, key: str) -> None:
        """Forget `key`'s count (an address's failed logins, once it sent the password)."""

        async def step(limiter: MovingWindowRateLimiter, item: RateLimitItem) -> None:
            await limiter.clear(item, limit.value, key)

        await self._each_rate(limit, step)

    async def _each_rate(
        self,
        limit: Limit,
        step: Callable[[MovingWindowRateLimiter, RateLimitItem], Awaitable[None]],
    ) -> None:
        try:
            for item in self._items[limit]:
                await step(self._limiter, item)
        except RateLimitedError:
            raise
        except Exception:  # Redis unreachable: see the module's docstring
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                log.exception("rate limit storage failed; counting %s in process", limit.value)
            for item in self._items[limit]:
                await step(self._fallback, item)

    async def reset(self) -> None:
        """Forget every count (tests, and an operator's escape hatch)."""
        await self._storage.reset()
        if self._fallback is not self._limiter:
            await self._fallback.storage.reset()
