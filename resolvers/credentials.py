"""Password hashing (argon2id) and bearer tokens (random, stored only as a keyed hash)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from rapport.settings import Settings

TOKEN_PREFIX = "rpt_"  # noqa: S105 (recognisable by secret scanners)
CODE_DIGITS = 6


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

    async def hash_password(self, password: str) -> str:
        # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify_password(self, password_hash: str | None, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password) and (
                    password_hash is not None
                )
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

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
