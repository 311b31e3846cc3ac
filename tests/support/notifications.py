"""A notification seen end to end: a subscription to notifications (NOTIFICATIONS), an
interest request that makes one (INTEREST), and the result it must bring (interest_from)."""

from __future__ import annotations

from typing import Any

NOTIFICATIONS = """subscription($after: ID) { notifications(after: $after) {
  __typename ... on Notification { kind actorId } } }"""
INTEREST = 'mutation($id: ID!) { sendInterest(userId: $id, message: "hi") { __typename } }'


def interest_from(actor: str) -> dict[str, Any]:
    """The NOTIFICATIONS result for an interest `actor` sent."""
    notification = {"__typename": "Notification", "kind": "INTEREST_RECEIVED", "actorId": actor}
    return {"data": {"notifications": notification}}
