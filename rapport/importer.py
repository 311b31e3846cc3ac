"""`rapport import FILE.jsonl`: people from another app, one JSON object a line, created through
the API's own code (README: Importing people).

A line holds `email`, either `password` or `passwordHash` (an argon2 hash in the PHC format,
as another app using argon2 stores it; the first login rehashes it with Rapport's
parameters), and optionally `profile` (createProfile's input),
`preferences` (updatePreferences' input) and `interests` (setInterests' names), with the
GraphQL field names. Nested inputs are checked against the schema's own input types (as the
API checks variables), then the same resolver functions run, all in ONE transaction per line:
the resolvers' commits become savepoints, so a line that fails anywhere stores nothing.
Profiles are embedded as createProfile embeds them. People whose email (normalised as the API
normalises it) already has an account are skipped, so a rerun picks up where one stopped."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLInputObjectType
from graphql.utilities import coerce_input_value, validate_input_value
from sqlalchemy import select
from sqlmodel import col
from strawberry.types.arguments import convert_argument

from models import User
from rapport.db import OperationSession
from rapport.errors import AlreadyExists, ErrorCode, FieldProblem, Invalid, Problems
from rapport.resources import Resources
from resolvers import accounts, interests, profiles, validation
from resolvers.operation import Operation

FIELDS = ("email", "password", "passwordHash", "profile", "preferences", "interests")


@dataclass
class Report:
    created: int = 0
    skipped: int = 0
    failed: int = 0
    problems: list[tuple[int, FieldProblem]] = field(default_factory=list)


@dataclass(frozen=True)
class Person:
    email: str
    password: str | None
    password_hash: str | None
    profile: dict[str, Any] | None
    preferences: dict[str, Any] | None
    interests: list[str] | None


_REQUIRED = re.compile(r"to include required field '(\w+)'")
_UNKNOWN = re.compile(r"not to include unknown field '(\w+)'")


def _path(prefix: str, path: list[Any]) -> str:
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _graphql_input(problems: Problems, name: str, value: Any, type_name: str, cls: Any) -> Any:
    """`value` checked and converted exactly as the API converts a variable of that type."""
    from schema import schema

    gql_type = schema._schema.get_type(type_name)
    assert isinstance(gql_type, GraphQLInputObjectType)
    before = len(problems.items)

    def on_error(error: Any, path: list[Any]) -> None:
        message = error.message.split(", found:")[0]
        where, code = _path(name, path), ErrorCode.INVALID_FORMAT
        if found := _REQUIRED.search(message):
            where, code, message = f"{where}.{found[1]}", ErrorCode.REQUIRED, "Required."
        elif found := _UNKNOWN.search(message):
            where, code, message = f"{where}.{found[1]}", ErrorCode.NOT_ALLOWED, "Unknown field."
        problems.add(where, code, message)

    validate_input_value(value, gql_type, on_error, True)
    if len(problems.items) > before:
        return None
    coerced = coerce_input_value(value, gql_type)
    from schema.inputs import provided

    return provided(
        convert_argument(coerced, cls, schema.schema_converter.scalar_registry, schema.config)
    )


def parse(text: str) -> Person:
    """One line as a Person, or Invalid naming every bad field."""
    from schema.profiles import CreateProfileInput, UpdatePreferencesInput

    problems = Problems()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add("line", ErrorCode.INVALID_FORMAT, f"Not JSON: {exc}")
        problems.raise_if_any()
    if not isinstance(data, dict):
        problems.add("line", ErrorCode.INVALID_FORMAT, "A line is one JSON object.")
        problems.raise_if_any()
    for key in data:
        if key not in FIELDS:
            problems.add(key, ErrorCode.NOT_ALLOWED, f"Unknown field; known: {', '.join(FIELDS)}.")
    if not isinstance(data.get("email"), str):
        problems.add("email", ErrorCode.REQUIRED, "email is required (a string).")
    secrets = [k for k in ("password", "passwordHash") if data.get(k) is not None]
    if len(secrets) != 1:
        problems.add(
            "password", ErrorCode.REQUIRED, "Give either password or passwordHash (not both)."
        )
    elif not isinstance(data[secrets[0]], str):
        problems.add(secrets[0], ErrorCode.INVALID_FORMAT, f"{secrets[0]} is a string.")
    profile = preferences = names = None
    if data.get("profile") is not None:
        profile = _graphql_input(
            problems, "profile", data["profile"], "CreateProfileInput", CreateProfileInput
        )
    elif data.get("preferences") is not None or data.get("interests") is not None:
        problems.add("profile", ErrorCode.REQUIRED, "Preferences and interests need a profile.")
    if data.get("preferences") is not None:
        preferences = _graphql_input(
            problems,
            "preferences",
            data["preferences"],
            "UpdatePreferencesInput",
            UpdatePreferencesInput,
        )
    if data.get("interests") is not None:
        raw = data["interests"]
        if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
            problems.add("interests", ErrorCode.INVALID_FORMAT, "A list of strings.")
        else:
            names = list(raw)
    problems.raise_if_any()
    return Person(
        data["email"], data.get("password"), data.get("passwordHash"), profile, preferences, names
    )


def _prefixed(exc: Invalid, prefix: str) -> Invalid:
    return Invalid([FieldProblem(prefix + p.field, p.code, p.message) for p in exc.problems])


async def create(resources: Resources, person: Person) -> bool:
    """Create one person in one transaction; False if the address already has an account."""
    today = datetime.now(UTC).date()
    address = validation.email(Problems(), "email", person.email)
    async with resources.engine.connect() as conn:
        await conn.begin()
        # The rules commit savepoints of the person's one transaction: what they register to
        # follow a commit waits for that transaction's commit (and is dropped if it rolls back).
        follow: list[Hashable] = []

        async def collect(effects: Sequence[Hashable]) -> None:
            follow.extend(effects)

        session = OperationSession(
            bind=conn,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
            effects=collect,
        )
        try:
            if await session.scalar(select(col(User.id)).where(col(User.email) == address)):
                return False
            try:
                signed_up = await accounts.create_account(
                    session,
                    resources.credentials,
                    resources.token_ttl,
                    person.email,
                    person.password,
                    password_hash=person.password_hash,
                )
            except AlreadyExists:  # the same address twice in the file
                return False
            viewer = accounts.Viewer(user=signed_up.user, token_id=uuid.UUID(int=0))
            op = Operation.of_tool(viewer, resources, session)
            if person.profile is not None:
                try:
                    await profiles.create_profile(op, person.profile, today)
                except Invalid as exc:
                    raise _prefixed(exc, "profile.") from None
            if person.preferences is not None:
                try:
                    await profiles.update_preferences(op, person.preferences)
                except Invalid as exc:
                    raise _prefixed(exc, "preferences.") from None
            if person.interests is not None:
                await interests.set_interests(op, person.interests)
            await session.close()
            await conn.commit()
            await resources.effects.run(follow)
            return True
        finally:
            await session.close()
            if conn.in_transaction():
                await conn.rollback()


def lines(path: str) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8-sig") as file:
        for number, text in enumerate(file, start=1):
            if text.strip():
                yield number, text


async def run(resources: Resources, path: str, *, progress: bool = True) -> Report:
    """Import every line of `path` in order; bad lines are reported (stderr) and stored not."""
    import sys

    from tqdm import tqdm

    todo = list(lines(path))
    report = Report()
    with tqdm(total=len(todo), unit="people", disable=not progress, file=sys.stderr) as bar:
        for number, text in todo:
            try:
                if await create(resources, parse(text)):
                    report.created += 1
                else:
                    report.skipped += 1
            except Invalid as exc:
                report.failed += 1
                for problem in exc.problems:
                    report.problems.append((number, problem))
                    bar.write(
                        f"line {number}: {problem.field}: {problem.code.value}: {problem.message}",
                        file=sys.stderr,
                    )
            bar.update(1)
    return report
