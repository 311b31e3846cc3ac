"""Settings for an app under test: make_settings(database_url, **overrides)."""

from __future__ import annotations

import secrets
from typing import Any

from rapport.settings import Settings


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "secret_key": secrets.token_urlsafe(48),
        "database_url": database_url,
        "log_requests": False,
        **overrides,
    }
    return Settings(_env_file=None, **values)
