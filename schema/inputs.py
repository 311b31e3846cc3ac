"""Turning Strawberry inputs into plain dicts of what the client actually sent."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

import strawberry


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return provided(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def provided(input_: Any) -> dict[str, Any]:
    """Fields the client set (UNSET left out, explicit null kept), nested inputs as dicts."""
    return {
        f.name: _plain(getattr(input_, f.name))
        for f in dataclasses.fields(input_)
        if getattr(input_, f.name) is not strawberry.UNSET
    }
