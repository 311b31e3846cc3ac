"""Trusted documents: the operations a client's build registered, kept in PostgreSQL
(`persisted_documents`), so they survive restarts and every instance sees them.

- `read_manifest`: the documents of a manifest, checked entry by entry before anything is
  stored. Two shapes are read: a flat JSON object `{id: document}` (graphql-codegen's client
  preset `persisted-documents.json`, Relay's persisted queries JSON) and Apollo's
  `{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{id, name, type,
  body}]}` (`@apollo/generate-persisted-query-manifest`). Each body gets the checks a request
  gets (schema/limits.py: characters, tokens, depth, aliases, expanded size, introspection as
  the settings say) plus: exactly one operation, and an id that looks like a sha256 must be
  the body's sha256. The first bad entry refuses the whole manifest (`ManifestError`, naming it).
- `register`: inserts them in one transaction; an id already registered with another body
  refuses the lot. Documents are never changed or deleted, which lets `RegisteredDocuments`
  keep hits in memory for good.
- `RegisteredDocuments`: the lookup the HTTP view uses, by id or by the body's sha256.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from graphql import GraphQLError, OperationDefinitionNode, parse, specified_rules, validate
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import PersistedDocument
from rapport.settings import Settings
from schema.limits import MAX_DOCUMENT_CHARS, MAX_TOKENS, introspection_allowed, rules_for

APOLLO_FORMAT = "apollo-persisted-query-manifest"
# Ids as clients send them in extensions.persistedQuery.sha256Hash (hex digests, base64url,
# "sha256:..." prefixes); anything else is refused, in manifests and in requests.
ID_PATTERN = re.compile(r"[A-Za-z0-9_:.\-]{1,128}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
CACHE_SIZE = 4_096  # registered documents one process keeps in memory


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ManifestError(ValueError):
    """A manifest that cannot be registered; the message names the entry."""


@dataclass(frozen=True)
class Document:
    id: str
    body: str
    sha256: str
    operation_name: str | None
    operation_type: str


def check_document(body: str, settings: Settings | None = None) -> OperationDefinitionNode:
    """The one operation of `body`, if it passes what a request must pass before it runs;
    else ValueError with the first reason."""
    if len(body) > MAX_DOCUMENT_CHARS:
        raise ValueError(f"{len(body)} characters; at most {MAX_DOCUMENT_CHARS} are allowed")
    try:
        document = parse(body, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        raise ValueError(f"syntax error: {exc.message}") from None
    from schema import schema

    rules = (*specified_rules, *rules_for(introspection_allowed(settings), True))
    errors = validate(schema._schema, document, rules)
    if errors:
        raise ValueError(errors[0].message)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise ValueError(f"holds {len(operations)} operations; a registered document holds one")
    return operations[0]


def _document(key: str, body: object, settings: Settings | None) -> Document:
    if not ID_PATTERN.fullmatch(key):
        raise ValueError("the id must be 1 to 128 letters, digits or _ : . -")
    if not isinstance(body, str):
        raise ValueError("the document must be a string")
    digest = sha256_hex(body)
    if _SHA256_HEX.fullmatch(key) and key != digest:
        raise ValueError(f"the id looks like a sha256 but the document's is {digest}")
    operation = check_document(body, settings)
    return Document(
        id=key,
        body=body,
        sha256=digest,
        operation_name=operation.name.value if operation.name else None,
        operation_type=operation.operation.value,
    )


def read_manifest(text: str, settings: Settings | None = None) -> list[Document]:
    """Every document of a manifest (see the module's doc), or ManifestError at the first bad
    entry."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(f"the manifest is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError("the manifest must be a JSON object")
    entries: list[tuple[str, str, object, dict[str, Any] | None]] = []  # (where, id, body, meta)
    if "format" in data:
        if data.get("format") != APOLLO_FORMAT or data.get("version") != 1:
            raise ManifestError(
                f"unknown manifest format {data.get('format')!r} version {data.get('version')!r}"
                f" (known: {APOLLO_FORMAT!r} version 1, or a flat {{id: document}} object)"
            )
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ManifestError('"operations" must be a list')
        for index, entry in enumerate(operations):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise ManifestError(f"operations[{index}]: must be an object with a string id")
            entries.append((f"operations[{index}]", entry["id"], entry.get("body"), entry))
    else:
        entries = [(repr(key), key, body, None) for key, body in data.items()]
    if not entries:
        raise ManifestError("the manifest holds no documents")
    documents: dict[str, Document] = {}
    for where, key, body, meta in entries:
        label = f"entry {where}" if meta is None else f"entry {where} (id {key!r})"
        try:
            document = _document(key, body, settings)
            if meta is not None:
                _check_apollo_entry(meta, document)
        except ValueError as exc:
            raise ManifestError(f"{label}: {exc}") from None
        previous = documents.get(key)
        if previous is not None and previous.body != document.body:
            raise ManifestError(f"{label}: the id appears twice with different documents")
        documents[key] = document
    return list(documents.values())


def _check_apollo_entry(meta: dict[str, Any], document: Document) -> None:
    if meta.get("type") != document.operation_type:
        raise ValueError(
            f"type {meta.get('type')!r} but the document is a {document.operation_type}"
        )
    if meta.get("name") != document.operation_name:
        raise ValueError(
            f"name {meta.get('name')!r} but the operation is named {document.operation_name!r}"
        )


@dataclass(frozen=True)
class Registered:
    added: int
    already: int


async def register(session: AsyncSession, documents: list[Document]) -> Registered:
    """Store `documents` in one transaction. ManifestError, storing nothing, if an id is
    already registered with another body."""
    table = PersistedDocument.__table__  # type: ignore[attr-defined]
    ids = [d.id for d in documents]
    existing: dict[str, str] = dict(
        (await session.execute(select(table.c.id, table.c.body).where(table.c.id.in_(ids)))).all()
    )
    for document in documents:
        if document.id in existing and existing[document.id] != document.body:
            raise ManifestError(
                f"entry {document.id!r}: that id is already registered with another document "
                "(registered documents never change; give the new one a new id)"
            )
    new = [d for d in documents if d.id not in existing]
    if new:
        await session.execute(
            insert(table)
            .values(
                [
                    {
                        "id": d.id,
                        "sha256": d.sha256,
                        "body": d.body,
                        "operation_name": d.operation_name,
                        "operation_type": d.operation_type,
                    }
                    for d in new
                ]
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
    await session.commit()
    return Registered(added=len(new), already=len(documents) - len(new))


@dataclass(frozen=True)
class Listed:
    id: str
    operation_type: str
    operation_name: str | None
    chars: int
    registered_at: datetime


async def listed(session: AsyncSession) -> list[Listed]:
    table = PersistedDocument.__table__  # type: ignore[attr-defined]
    rows = await session.execute(
        select(
            table.c.id,
            table.c.operation_type,
            table.c.operation_name,
            table.c.body,
            table.c.registered_at,
        ).order_by(table.c.registered_at, table.c.id)
    )
    return [
        Listed(r.id, r.operation_type, r.operation_name, len(r.body), r.registered_at) for r in rows
    ]


class RegisteredDocuments:
    """Registered documents by id or by their body's sha256, from PostgreSQL, with hits kept
    in memory (bounded; documents never change). Misses are asked every time: a client asking
    for unknown ids costs one indexed query each."""

    def __init__(self, pool: asyncpg.Pool, cache_size: int = CACHE_SIZE) -> None:
        self._pool = pool
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    async def get(self, key: str) -> str | None:
        body = self._cache.get(key)
        if body is not None:
            self._cache.move_to_end(key)
            return body
        body = await self._pool.fetchval(
            "SELECT body FROM persisted_documents WHERE id = $1 "
            "UNION ALL (SELECT body FROM persisted_documents WHERE sha256 = $1 LIMIT 1) LIMIT 1",
            key,
        )
        if body is not None:
            self._cache[key] = body
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return body
