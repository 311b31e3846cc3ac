"""Global ids in tests (schema/ids.py): make one, read one back."""

from __future__ import annotations

from schema.ids import decode, global_id


def gid(type_name: str, key: object) -> str:
    return str(global_id(type_name, key))


def key(value: str) -> str:
    """The raw key of a global id."""
    decoded = decode(value)
    assert decoded is not None, value
    return decoded[1]


def number(value: str) -> int:
    return int(key(value))


def user_of(value: str) -> str:
    """The User id of the person a Me, OwnProfile or User id names."""
    return gid("User", key(value))
