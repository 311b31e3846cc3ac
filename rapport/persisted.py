"""Persisted queries over HTTP: Apollo's automatic persisted queries (APQ) and trusted
documents, answered as Apollo Server answers them (README: "Persisted queries and trusted
documents").

A request names a document by `extensions.persistedQuery` = `{"version": 1, "sha256Hash": H}`
(in a POST body, or as the `extensions` query parameter of a GET):

- APQ (the default): H alone runs the text stored under H, else `PersistedQueryNotFound`
  (`PERSISTED_QUERY_NOT_FOUND`, HTTP 200, uncached), and the client sends it again with the
  text; H with the text stores the text once its sha256 is H and it parses within the
  limits of schema/limits.py, else 400 `PERSISTED_QUERY_HASH_MISMATCH` ("provided sha does
  not match query", Apollo's words). Stored in Redis with REDIS_URL (every instance shares
  them, each for RAPPORT_PERSISTED_QUERY_TTL_S after its last use), else in a bounded
  in-process LRU. Registered documents (rapport/documents.py) are found by H too.
- An empty `query` with H is H alone: graphql-ws's client requires a string `query`, so a
  client that sends only ids (Relay's persisted queries) sends `""` over graphql-transport-ws.
- Trusted documents (RAPPORT_TRUSTED_DOCUMENTS): only registered documents run. H names one
  (by its manifest id or its sha256), else 404 `PERSISTED_QUERY_NOT_IN_LIST`; text without H
  runs only if it is a registered document's, else 400 `TRUSTED_DOCUMENT_REQUIRED`. Nothing
  is stored from requests.

Over HTTP, rapport/graphql_endpoint.py resolves the document before the operation runs,
answers refusals (`PersistedQueryRefused.response`) and sets Cache-Control on GET answers
(`cache_control`); rapport/transport.py does the same over graphql-transport-ws.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Protocol

from graphql import GraphQLError, parse
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from rapport.documents import ID_PATTERN, RegisteredDocuments, sha256_hex
from rapport.settings import Environment, Settings
from schema.limits import MAX_DOCUMENT_CHARS, MAX_TOKENS

log = logging.getLogger("rapport.persisted")

REDIS_PREFIX = "rapport:apq:"
# The in-process store holds at most RAPPORT_PERSISTED_QUERY_CACHE_SIZE documents and at most
# this many characters in all (100 documents of the largest size allowed).
LOCAL_MAX_CHARS = 100 * MAX_DOCUMENT_CHARS
# Apollo Server's header on persisted-query errors: the next identical request may succeed.
RETRY_CACHE_CONTROL = "private, no-cache, must-revalidate"


class PersistedQueryRefused(Exception):
    """A persisted-query answer given instead of running anything."""

    def __init__(
        self, status: int, message: str, code: str, cache_control: str = "no-store"
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.cache_control = cache_control

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"errors": [{"message": self.message, "extensions": {"code": self.code}}]},
            status_code=self.status,
            headers={"cache-control": self.cache_control},
        )


def not_found() -> PersistedQueryRefused:
    return PersistedQueryRefused(
        200, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", RETRY_CACHE_CONTROL
    )


def not_supported() -> PersistedQueryRefused:
    return PersistedQueryRefused(
        200, "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED", RETRY_CACHE_CONTROL
    )


def bad_request(message: str) -> PersistedQueryRefused:
    return PersistedQueryRefused(400, message, "BAD_REQUEST")


class DocumentStore(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, text: str) -> None: ...


class LocalDocumentStore:
    """Least recently used documents, at most `max_entries` and `max_chars` in all."""

    def __init__(self, max_entries: int, max_chars: int = LOCAL_MAX_CHARS) -> None:
        self._entries: OrderedDict[str, str] = OrderedDict()
        self.max_entries, self.max_chars = max_entries, max_chars
        self.chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> str | None:
        text = self._entries.get(key)
        if text is not None:
            self._entries.move_to_end(key)
        return text

    async def put(self, key: str, text: str) -> None:
        if len(text) > self.max_chars:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.chars -= len(old)
        self._entries[key] = text
        self.chars += len(text)
        while len(self._entries) > self.max_entries or self.chars > self.max_chars:
            _, dropped = self._entries.popitem(last=False)
            self.chars -= len(dropped)


class RedisDocumentStore:
    """Documents in Redis, each for `ttl_s` after it was last used. Redis failing is a miss
    (the client then sends the text, which runs): persisted queries never fail a request."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self._redis, self._ttl_s = redis, ttl_s

    async def get(self, key: str) -> str | None:
        try:
            text = await self._redis.getex(REDIS_PREFIX + key, ex=self._ttl_s)
        except RedisError as exc:
            log.warning("persisted query lookup failed, answered as not found: %r", exc)
            return None
        return text if isinstance(text, str) else None

    async def put(self, key: str, text: str) -> None:
        try:
            await self._redis.set(REDIS_PREFIX + key, text, ex=self._ttl_s)
        except RedisError as exc:
            log.warning("persisted query not stored: %r", exc)


class PersistedDocuments:
    """Fills in a request's document from its persisted-query hash, or refuses it."""

    def __init__(
        self, settings: Settings, store: DocumentStore, registered: RegisteredDocuments
    ) -> None:
        self.apq = settings.persisted_queries
        self.trusted = settings.trusted_documents
        self.store, self.registered = store, registered
        if settings.env is Environment.PRODUCTION and not self.trusted:
            log.warning(
                "RAPPORT_TRUSTED_DOCUMENTS is off: any query text runs. In production, register "
                "your clients' operations (rapport documents register) and turn it on."
            )

    async def resolve(self, request: GraphQLRequestData) -> None:
        key = self._key(request.extensions)
        if key is not None and request.query == "":
            # An id with empty text is the id alone: graphql-ws's client requires `query` to
            # be a string, so a client sending only ids (Relay's persisted queries) sends "".
            request.query = None
        if self.trusted:
            await self._trusted(request, key)
        elif key is not None:
            await self._automatic(request, key)

    def _key(self, extensions: dict[str, Any] | None) -> str | None:
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return None
        if not self.apq and not self.trusted:
            raise not_supported()
        if not isinstance(persisted, dict):
            raise bad_request("extensions.persistedQuery must be an object.")
        if persisted.get("version") != 1:
            raise bad_request("Unsupported persisted query version")
        key = persisted.get("sha256Hash")
        if not isinstance(key, str) or not ID_PATTERN.fullmatch(key):
            raise bad_request(
                "extensions.persistedQuery.sha256Hash must be a string of 1 to 128 letters, "
                "digits or _ : . -"
            )
        return key

    async def _automatic(self, request: GraphQLRequestData, key: str) -> None:
        if request.query is None:
            text = await self.store.get(key) or await self.registered.get(key)
            if text is None:
                raise not_found()
            request.query = text
            return
        if sha256_hex(request.query) != key:
            if await self.registered.get(key) == request.query:  # e.g. a Relay id
                return
            raise PersistedQueryRefused(
                400, "provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH"
            )
        if _parses(request.query):  # what will not run is not kept (it fails as usual)
            await self.store.put(key, request.query)

    async def _trusted(self, request: GraphQLRequestData, key: str | None) -> None:
        if key is not None:
            body = await self.registered.get(key)
            if body is None:
                raise PersistedQueryRefused(
                    404,
                    "This operation is not registered; only trusted documents run here "
                    "(rapport documents register).",
                    "PERSISTED_QUERY_NOT_IN_LIST",
                )
            if request.query is not None and request.query != body:
                raise PersistedQueryRefused(
                    400, "provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH"
                )
            request.query = body
        elif (
            request.query is not None
            and await self.registered.get(sha256_hex(request.query)) is None
        ):
            raise PersistedQueryRefused(
                400,
                "Only registered operations run here: send the id of a trusted document "
                "(extensions.persistedQuery.sha256Hash), not query text.",
                "TRUSTED_DOCUMENT_REQUIRED",
            )


def _parses(text: str) -> bool:
    if len(text) > MAX_DOCUMENT_CHARS:
        return False
    try:
        parse(text, max_tokens=MAX_TOKENS, no_location=True)
    except GraphQLError:
        return False
    return True


def cache_control(request: Request, result: object, max_age_s: int) -> str:
    """For a GET answer: per viewer when it carries a token (never in a shared cache), public
    for `max_age_s` when anonymous and without errors, else not stored."""
    if "authorization" in request.headers:
        return "private, no-store"
    if max_age_s > 0 and isinstance(result, ExecutionResult) and not result.errors:
        return f"public, max-age={max_age_s}"
    return "no-store"
