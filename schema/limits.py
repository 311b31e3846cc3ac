"""Limits on what one GraphQL document may ask, in one place (README: "Query limits").

The depth and alias limits are validation rules built ONCE here: Strawberry's own limiter
extensions build new rule classes for every request, which defeats the validation cache
(measured: about 0.8 ms of extra CPU per request for each of the two limiters).
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

MAX_DEPTH = 10  # deepest legitimate query today: 6
MAX_ALIASES = 30
MAX_TOKENS = 2_000

_RULES: list[Any] = [depth_rule(MAX_DEPTH, None, None), aliases_rule(MAX_ALIASES)]


def limit_extensions() -> list[Any]:
    return [
        lambda: AddValidationRules(_RULES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]
