"""Limits on what one GraphQL document may ask, in one place (README: "Query limits")."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

MAX_DEPTH = 10  # deepest legitimate query today: 6
MAX_ALIASES = 30
MAX_TOKENS = 2_000


def limit_extensions() -> list[Any]:
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]
