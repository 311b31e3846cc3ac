"""markNotificationsRead with a backlog: every unread notification is marked, however many,
and the answer lists at most a page of them (the newest), so its size stays bounded."""

from __future__ import annotations

import asyncpg

from tests.support.database import raw_dsn
from tests.support.ids import key, number
from tests.support.people import person

MARK = """mutation { markNotificationsRead {
  __typename ... on NotificationsRead { marked unreadCount notifications { id readAt } }
} }"""
UNREAD = "{ notifications(unreadOnly: true) { ... on NotificationConnection { nodes { id } } } }"


async def test_a_backlog_larger_than_a_statement_parameter_list_is_marked(
    gql, database_url: str
) -> None:
    someone = await person(gql)
    backlog = 40_000  # more ids than PostgreSQL takes as separate parameters (32,767)
    conn = await asyncpg.connect(raw_dsn(database_url))
    try:
        await conn.execute(
            "INSERT INTO notifications (user_id, kind, data, created_at) "
            "SELECT $1::uuid, 'new_match', '{}'::jsonb, now() FROM generate_series(1, $2)",
            key(someone.id),
            backlog,
        )
        newest = await conn.fetchval("SELECT max(id) FROM notifications")
    finally:
        await conn.close()

    read = (await gql(MARK, token=someone.token))["markNotificationsRead"]
    assert read["__typename"] == "NotificationsRead"
    assert read["marked"] == backlog and read["unreadCount"] == 0
    shown = [number(n["id"]) for n in read["notifications"]]
    assert len(shown) == 100  # RAPPORT_MAX_PAGE_SIZE: the newest page, newest first
    assert shown == list(range(newest, newest - 100, -1))
    assert all(n["readAt"] for n in read["notifications"])
    assert (await gql(UNREAD, token=someone.token))["notifications"]["nodes"] == []
    # Nothing left to mark: an empty answer, not an error.
    again = (await gql(MARK, token=someone.token))["markNotificationsRead"]
    assert again == {
        "__typename": "NotificationsRead",
        "marked": 0,
        "unreadCount": 0,
        "notifications": [],
    }
