"""Global object ids (the GraphQL Global Object Identification spec, as Relay and Apollo's
normalised cache want them): every object a client caches implements `Node` and its `id` is
opaque, base64 of "<TypeName>:<key>" (standard alphabet, padded; strawberry.relay's GlobalID),
e.g. base64("Match:42") = "TWF0Y2g6NDI=". The key is the row's own key: a user's uuid for
User, OwnProfile, Me, Preferences and Presence; the number for Match, InterestRequest,
Conversation, Message, Notification, Report, ReportReceipt and Swipe; the conversation's
number for your ReadState; the person's uuid for a Recommendation (yours).

Arguments that name an object accept its global id and, for a transition, the old raw key
(README, API: Breaking changes). A global id of another type is not an id of this one."""

from __future__ import annotations

import base64
import binascii
from binascii import b2a_base64
from functools import lru_cache
from typing import Any

import strawberry
from strawberry.relay import Node

__all__ = [
    "PERSON",
    "Node",
    "decode",
    "global_id",
    "key_of",
    "node_id",
    "optional_global_id",
    "repeated_id",
]

# The types whose global ids name a person: any of them is accepted where a userId is asked.
PERSON = ("User", "OwnProfile", "Me")


def global_id(type_name: str, key: object) -> strawberry.ID:
    """strawberry.relay's `to_base64(type_name, key)`, without its layers of calls: lists
    build one or more per item (tests/test_ids.py checks they agree)."""
    return b2a_base64(f"{type_name}:{key}".encode(), newline=False).decode()  # type: ignore[return-value]


def node_id() -> Any:
    """A Node type's `id` as a plain attribute, set where the type is built
    (`self.id = global_id("User", key)`), for types that lists show many of: Strawberry reads
    it as it reads any attribute, where Node's own `id` field builds an Info, calls
    `resolve_id` and encodes, per object. The same field in the SDL and the same global id;
    the type keeps its `resolve_id` (Strawberry checks for one when it builds the schema)."""
    return strawberry.field(description="The Globally Unique ID of this object")


@lru_cache(maxsize=4096)
def repeated_id(type_name: str, key: object) -> strawberry.ID:
    """global_id of a key that repeats across a list, remembered (bounded): a page of a
    conversation's messages names one conversation and two senders fifty times."""
    return global_id(type_name, key)


def optional_global_id(type_name: str, key: object | None) -> strawberry.ID | None:
    """A reference to another object (None, or 0 for "no message yet", stays None)."""
    return global_id(type_name, key) if key else None


def decode(value: str) -> tuple[str, str] | None:
    """(type name, key) of a well-formed global id, else None (strictly: no stray characters,
    valid padding, UTF-8, a non-empty type name and key)."""
    if not value.isascii() or len(value) > 200:
        return None
    try:
        text = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    type_name, sep, key = text.partition(":")
    if not sep or not type_name.isidentifier() or not key:
        return None
    return type_name, key


def key_of(value: str, *types: str) -> str:
    """The key an id argument names: that of a global id of one of `types`; anything else is
    passed on as it came (an old raw id, during the transition; or junk, which the argument's
    own parsing refuses as before)."""
    decoded = decode(value)
    if decoded is not None and decoded[0] in types:
        return decoded[1]
    return value
