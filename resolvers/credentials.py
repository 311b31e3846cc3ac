"""Password hashing (argon2id) and bearer tokens (random, stored only as a keyed hash).

argon2 costs tens of milliseconds of CPU by design, so a flood of logins spread over many
addresses (each under its own rate limit) can still queue hashes without end: measured before
this bound, p99 of 25 s. Every hash and verification therefore goes through `HashingQueue`:
a few threads (one per CPU by default) and a bounded number of hashes waiting for them. When
it is full, `hash_password` and `verify_password` raise `RateLimitedError` ("password_hashing")
at once, with `retryAfter` the time the threads need for what is already queued, so each
mutation that hashes answers `RateLimited` instead of making its client wait for seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from rapport import metrics
from rapport.errors import RateLimitedError
from rapport.settings import Settings

TOKEN_PREFIX = "rpt_"  # noqa: S105 (recognisable by secret scanners)
CODE_DIGITS = 6
HASHING_LIMIT = "password_hashing"  # the `limit` of RateLimited when the queue is full
T = TypeVar("T")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def queue_size(threads: int, cost_s: float, settings: Settings) -> int:
    """Hashes that may wait: as many as `threads` finish in RAPPORT_PASSWORD_HASH_MAX_WAIT_S,
    but with room for them all, and the ones hashing, within RAPPORT_DB_POOL_SIZE. A login
    holds a database connection while it waits for its hash (resolvers/accounts.py): were the
    queue longer than the pool, logins would queue for a connection instead, without bound
    (bench/login_flood.py measured it: the queue never filled, and p99 grew with the flood)."""
    by_time = int(threads * settings.password_hash_max_wait_s / cost_s)
    return max(1, min(by_time, settings.db_pool_size - threads))


class HashingQueue:
    """`threads` hashing threads and at most `waiting` hashes queued for them; one more is
    refused (RateLimitedError) rather than queued. `cost_s` is the time one hash takes, first
    as measured at start-up, then a moving average of the hashes run."""

    def __init__(self, threads: int, waiting: int, cost_s: float) -> None:
        self.threads = threads
        self.waiting = waiting
        self.cost_s = cost_s
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._lock = threading.Lock()
        self._admitted = 0  # running or waiting

    def retry_after(self) -> int:
        """Seconds until the threads have done what is admitted now: a retry then finds room
        unless others took it first."""
        return max(1, math.ceil(self._admitted * self.cost_s / self.threads))

    async def run(self, work: Callable[[], T]) -> T:
        with self._lock:
            full = self._admitted >= self.threads + self.waiting
            if not full:
                self._admitted += 1
        if full:
            metrics.RATE_LIMIT_REFUSALS.labels(HASHING_LIMIT).inc()
            raise RateLimitedError(HASHING_LIMIT, self.retry_after())
        metrics.PASSWORD_HASHES.inc()
        # Released when the thread is done (or the hash is cancelled before it started), not
        # when the caller stops waiting: a client that hangs up does not free a busy thread.
        future = self._executor.submit(self._timed, work)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _timed(self, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return work()
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.cost_s = 0.9 * self.cost_s + 0.1 * elapsed

    def _release(self, future: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1
        metrics.PASSWORD_HASHES.dec()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Credentials:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._key = settings.secret_key.get_secret_value().encode()
        # Verified when the email is unknown, so both answers take the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        threads = settings.password_hash_threads or available_cpus()
        cost = self._time_one_hash()
        waiting = settings.password_hash_queue
        if waiting is None:
            waiting = queue_size(threads, cost, settings)
        self.hashing = HashingQueue(threads, waiting, cost)

    def _time_one_hash(self) -> float:
        """Seconds one verification takes here (the first hash paid for warming up)."""
        started = time.perf_counter()
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self._dummy_hash, "")
        return time.perf_counter() - started

    async def hash_password(self, password: str) -> str:
        """RateLimitedError when the hashing queue is full (see the module's docstring)."""
        return await self.hashing.run(lambda: self._hasher.hash(password))

    async def verify_password(self, password_hash: str | None, password: str) -> bool:
        """RateLimitedError when the hashing queue is full (see the module's docstring)."""

        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password) and (
                    password_hash is not None
                )
            except (VerificationError, InvalidHashError):
                return False

        return await self.hashing.run(verify)

    @staticmethod
    def is_argon2_hash(value: str) -> bool:
        """An argon2 hash in the PHC format (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), as
        another app using argon2 stores them: usable as is; the first login rehashes it with
        Rapport's parameters if they differ (see `needs_rehash`)."""
        try:
            extract_parameters(value)
        except (InvalidHashError, ValueError):
            return False
        return value.count("$") == 5

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def new_token(self) -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    def token_digest(self, token: str) -> bytes:
        """Tokens are stored and looked up only as this keyed hash: the lookup compares
        digests an attacker cannot compute without the secret key, so its timing tells
        nothing about any token (and the database never holds a usable one)."""
        return hmac.new(self._key, token.encode(), hashlib.sha256).digest()

    def new_code(self) -> str:
        """A one-time sign-up code, uniformly random."""
        return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"

    def code_digest(self, email: str, code: str) -> bytes:
        """Keyed and bound to its address: a code is worth nothing for another address."""
        return self.token_digest(f"sign-up:{email}:{code}")
