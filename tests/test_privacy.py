"""exportMyData returns everything held about the viewer and no secret; deleteAccount needs
the password, removes every personal row in one go and frees the email."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import func, select, text
from sqlmodel import SQLModel

from models import Report
from resolvers.privacy import EXPORTED_TABLES, NOT_EXPORTED_TABLES
from tests.support.chat import BLOCK, CONVERSATIONS, matched, send
from tests.support.ids import key, user_of
from tests.support.mailbox import PASSWORD
from tests.support.people import LIKE, Person, person, recommended

EXPORT = "{ exportMyData { __typename ... on DataExport { data } } }"
DELETE = """mutation($p: String!) { deleteAccount(password: $p) {
  __typename ... on AccountDeleted { deleted } ... on ValidationError { errors { field code } }
} }"""
REPORT = 'mutation($id: ID!) { report(userId: $id, reason: SPAM, details: "x") { __typename } }'
ME = "{ me { __typename ... on Me { id email } } }"
LOGIN = (
    "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { __typename } }"
)


def tables_about_people() -> dict[str, list[str]]:
    """Every table with a column referring to users.id, and those columns."""
    found: dict[str, list[str]] = {}
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "users" for fk in column.foreign_keys):
                found.setdefault(table.name, []).append(column.name)
    found["users"] = ["id"]
    return found


def test_every_table_about_people_is_exported_or_said_why_not() -> None:
    assert set(tables_about_people()) - {"conversations"} <= EXPORTED_TABLES | set(
        NOT_EXPORTED_TABLES
    )


async def test_export_holds_everything_about_me_and_no_secret(gql, resources) -> None:
    a, b, conversation = await matched(gql)
    await send(gql, a, conversation, "a private hello", "k1")
    await send(gql, b, conversation, "hello back", "k2")
    other = await person(gql)
    await gql(LIKE, {"id": other.id}, token=a.token)
    await gql(REPORT, {"id": other.id}, token=a.token)
    await gql(REPORT, {"id": a.id}, token=other.token)  # about a: not a's to see
    await gql(BLOCK, {"id": other.id}, token=a.token)
    await gql('mutation { setInterests(names: ["chess", "hiking"]) { __typename } }', token=a.token)
    anonymous = await gql(EXPORT)
    assert anonymous["exportMyData"]["__typename"] == "AuthenticationRequired"

    data = (await gql(EXPORT, token=a.token))["exportMyData"]["data"]
    me = (await gql(ME, token=a.token))["me"]
    # The export is a document of rows: raw keys, not global ids.
    assert data["account"]["id"] == key(a.id) and data["account"]["email"] == me["email"]
    assert data["profile"]["user_id"] == key(a.id) and data["preferences"]["user_id"] == key(a.id)
    assert data["interests"] == ["chess", "hiking"]
    assert len(data["embeddings"]) == 1 and len(data["embeddings"][0]["combined"]) == 384
    assert {(s["target_id"], s["kind"]) for s in data["swipes"]} >= {(key(other.id), "like")}
    assert [m["id"] for m in data["matches"]] and data["blocks"][0]["blocked_id"] == key(other.id)
    (chat,) = data["conversations"]
    assert chat["with_user_id"] == key(b.id)
    assert [m["body"] for m in chat["messages"]] == ["a private hello", "hello back"]
    assert data["notifications"] and len(data["sessions"]) >= 1
    assert [r["reported_id"] for r in data["reports_made"]] == [key(other.id)]
    serialised = json.dumps(data)
    for secret in ("$argon2", "password_hash", "token_hash", "rpt_"):
        assert secret not in serialised, secret
    assert key(other.id) not in {r.get("reporter_id") for r in data["reports_made"]}


async def test_delete_needs_the_password_and_removes_every_personal_row(gql, resources) -> None:
    email = f"leaving-{uuid.uuid4().hex[:8]}@example.com"
    _, b, conversation = await matched(gql)
    # The one leaving: registered with a known email, so the login afterwards can be tried.
    token = await gql.register(email)
    from tests.support.people import profile_input

    await gql(
        "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }",
        {"i": profile_input()},
        token=token,
    )
    me = Person(token, user_of((await gql(ME, token=token))["me"]["id"]))
    await gql(LIKE, {"id": b.id}, token=me.token)
    await gql(LIKE, {"id": me.id}, token=b.token)  # a match and a conversation with b
    convs = (await gql(CONVERSATIONS, token=me.token))["conversations"]["edges"]
    chat_id = next(e["node"]["id"] for e in convs)
    await send(gql, me, chat_id, "secret words", "d1")
    await gql(REPORT, {"id": b.id}, token=me.token)
    viewer = await person(gql)
    assert me.id in await recommended(gql, viewer)  # in viewer's cached list

    wrong = (await gql(DELETE, {"p": "not my password"}, token=me.token))["deleteAccount"]
    assert wrong == {
        "__typename": "ValidationError",
        "errors": [{"field": "password", "code": "WRONG_PASSWORD"}],
    }
    assert (await gql(ME, token=me.token))["me"]["__typename"] == "Me"

    done = (await gql(DELETE, {"p": PASSWORD}, token=me.token))["deleteAccount"]
    assert done == {"__typename": "AccountDeleted", "deleted": True}
    assert (await gql(ME, token=me.token))["me"]["__typename"] == "AuthenticationRequired"
    assert (await gql(LOGIN, {"e": email, "p": PASSWORD}))["login"][
        "__typename"
    ] == "InvalidCredentials"
    async with resources.sessionmaker() as session:
        for table, columns in tables_about_people().items():
            for column in columns:
                left = await session.scalar(
                    text(f"SELECT count(*) FROM {table} WHERE {column} = :id"),
                    {"id": uuid.UUID(key(me.id))},
                )
                assert left == 0, (table, column)
        messages = await session.scalar(
            text("SELECT count(*) FROM messages WHERE body = 'secret words'")
        )
        assert messages == 0
        kept = await session.scalar(select(func.count()).select_from(Report))
        assert kept == 1  # the report stays, without the person
    # b's side: the conversation is gone, b's own earlier conversation with a untouched.
    remaining = (await gql(CONVERSATIONS, token=b.token))["conversations"]["edges"]
    assert [e["node"]["id"] for e in remaining] == [conversation]
    assert me.id not in await recommended(gql, viewer)
    # The email is free again.
    assert await gql.register(email)
