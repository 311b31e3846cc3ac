"""A quick look at Redis before `rapport serve` (or seed, embed) starts: an unreachable
REDIS_URL is one line naming it, within seconds, instead of a traceback from every worker."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError


class RedisUnreachable(ConnectionError):
    """Redis did not answer PING; the message names the URL (without its password)."""


def redacted(url: str) -> str:
    """`url` with its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def check_redis(url: str, *, timeout_s: float = 3.0) -> None:
    """PING Redis at `url`; RedisUnreachable (one line) if it does not answer in time."""
    try:
        client = Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry_on_timeout=False
        )
    except ValueError as exc:  # e.g. an unknown scheme
        raise RedisUnreachable(f"REDIS_URL {redacted(url)} is not a Redis URL: {exc}") from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise RedisUnreachable(
            f"cannot reach Redis at {redacted(url)} (REDIS_URL): {reason.splitlines()[0]}"
        ) from None
    finally:
        await client.aclose()
