"""Limits on what one GraphQL document may ask, in one place (README: "Query limits").

The depth and alias limits are validation rules built ONCE here: Strawberry's own limiter
extensions build new rule classes for every request, which defeats the validation cache
(measured: about 0.8 ms of extra CPU per request for each of the two limiters).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strawberry.extensions import ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

MAX_DEPTH = 10  # deepest legitimate query today: 6
MAX_ALIASES = 30
MAX_TOKENS = 2_000

_RULES: list[Any] = [depth_rule(MAX_DEPTH, None, None), aliases_rule(MAX_ALIASES)]


CACHE_SIZE = 1_024  # distinct documents whose parse and validation are kept


class LimitedDocuments(ParserCache, ValidationCache):
    """Parsing and validation, cached, with the limits above: what ParserCache,
    ValidationCache, MaxTokensLimiter and AddValidationRules do, in one extension. Strawberry
    pays for every extension at every stage of every operation (and every subscription
    result): profiled with py-spy under bench/chat.py, that bookkeeping was about 2% of the
    server's CPU per extension (the benchmark's run-to-run spread hides the gain)."""

    def __init__(self) -> None:
        ParserCache.__init__(self, maxsize=CACHE_SIZE)
        ValidationCache.__init__(self, maxsize=CACHE_SIZE)

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = MAX_TOKENS
        context.validation_rules = (*context.validation_rules, *_RULES)
        yield
