"""Rate limits as a client sees them: the RateLimited selection (RATE_LIMITED) and the check
that an answer is that refusal (refused)."""

from __future__ import annotations

RATE_LIMITED = "... on RateLimited { code limit retryAfter message }"


def refused(answer: dict, limit: str) -> None:
    assert answer["__typename"] == "RateLimited", answer
    assert answer["code"] == "RATE_LIMITED" and answer["limit"] == limit
    assert 1 <= answer["retryAfter"] <= 24 * 3600 and "try again in" in answer["message"]
