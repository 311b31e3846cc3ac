"""`rapport import` and `rapport mail list/show`, run as commands (typer's CliRunner) against a
fresh test database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col
from typer.testing import CliRunner

from models import Profile, ProfileEmbedding, User, UserInterest
from rapport.cli import cli
from rapport.resources import Resources
from rapport.settings import PROJECT_ROOT
from tests.support.gql import Gql

GOOD = {
    "email": "Ada.Lovelace@Example.com",
    "password": "imported-password-1",
    "profile": {
        "displayName": "Ada",
        "birthDate": "1990-05-01",
        "gender": "WOMAN",
        "intent": "FRIENDSHIP",
        "bio": "I write programs for engines.",
        "goals": "Find people to build things with.",
        "location": {"city": "London", "latitude": 51.5, "longitude": -0.12},
    },
    "preferences": {"ageMin": 25, "ageMax": 50},
    "interests": ["Mathematics", "poetry"],
}


def _invoke(resources: Resources, *args: str) -> Any:
    env = {
        "DATABASE_URL": resources.settings.database_url or "",
        "RAPPORT_ENV": "test",
        "RAPPORT_SECRET_KEY": resources.settings.secret_key.get_secret_value(),
        "RAPPORT_DATA_DIR": str(PROJECT_ROOT / "var"),
    }
    return CliRunner().invoke(cli, list(args), env=env)


async def _count(resources: Resources, model: Any) -> int:
    async with resources.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_import_good_bad_and_rerun(resources: Resources, tmp_path: Path) -> None:
    bad = {**GOOD, "email": "bob@example.com"}
    bad["preferences"] = {"ageMin": 40, "ageMax": 30}  # fails after account and profile
    typo = {"email": "cy@example.com", "password": "x", "profile": {"displayName": "Cy"}}
    other = {**GOOD, "email": "dee@example.com", "interests": ["chess"]}
    file = tmp_path / "people.jsonl"
    file.write_text("\n".join(json.dumps(x) for x in (GOOD, bad, typo, other)) + "\n")

    result = await asyncio.to_thread(_invoke, resources, "import", str(file))
    assert result.exit_code == 1, result.output
    out = result.output
    assert "line 2: preferences.ageMin: min_above_max:" in out
    assert "line 3: profile.birthDate: required:" in out
    assert "line 3: profile.gender: required:" in out
    assert "Created 2, skipped 0 (already had an account), failed 2." in out
    async with resources.sessionmaker() as session:
        emails = set((await session.execute(select(col(User.email)))).scalars())
    assert emails == {"ada.lovelace@example.com", "dee@example.com"}  # nothing of bob or cy
    assert await _count(resources, Profile) == 2
    assert await _count(resources, ProfileEmbedding) == 2  # embedded as createProfile does
    assert await _count(resources, UserInterest) == 3

    again = await asyncio.to_thread(_invoke, resources, "import", str(file))
    assert "Created 0, skipped 2 (already had an account), failed 2." in again.output


async def test_imported_person_logs_in(resources: Resources, gql: Gql, tmp_path: Path) -> None:
    file = tmp_path / "one.jsonl"
    file.write_text(json.dumps(GOOD) + "\n")
    result = await asyncio.to_thread(_invoke, resources, "import", str(file))
    assert result.exit_code == 0, result.output
    data = await gql(
        'mutation { login(input: {email: "ada.lovelace@example.com", password: '
        '"imported-password-1"}) { __typename } }'
    )
    assert data["login"]["__typename"] == "AuthPayload"


async def test_import_takes_another_apps_argon2_hash(
    resources: Resources, gql: Gql, tmp_path: Path
) -> None:
    """A team moving from another app hands over argon2 hashes, not passwords: the person logs
    in with their old password, and that login rehashes it with Rapport's parameters."""
    from argon2 import PasswordHasher, Type

    theirs = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=2, type=Type.ID)
    moved = {"email": "moved@example.com", "passwordHash": theirs.hash("their-old-password-7")}
    both = {"email": "both@example.com", "password": "pw-123456789", "passwordHash": "x"}
    broken = {"email": "broken@example.com", "passwordHash": "$2b$12$notargon2"}
    file = tmp_path / "moved.jsonl"
    file.write_text("\n".join(json.dumps(x) for x in (moved, both, broken)) + "\n")
    result = await asyncio.to_thread(_invoke, resources, "import", str(file))
    assert "line 2: password: required:" in result.output
    assert "line 3: passwordHash: invalid_format:" in result.output
    assert "Created 1, skipped 0 (already had an account), failed 2." in result.output
    async with resources.sessionmaker() as session:
        before = await session.scalar(
            select(col(User.password_hash)).where(col(User.email) == "moved@example.com")
        )
    assert before == moved["passwordHash"]
    data = await gql(
        'mutation { login(input: {email: "moved@example.com", password: '
        '"their-old-password-7"}) { __typename } }'
    )
    assert data["login"]["__typename"] == "AuthPayload"
    async with resources.sessionmaker() as session:
        after = await session.scalar(
            select(col(User.password_hash)).where(col(User.email) == "moved@example.com")
        )
    assert after != before and not resources.credentials.needs_rehash(str(after))


async def test_mail_list_and_show_after_register(resources: Resources, gql: Gql) -> None:
    await gql.register("tester@example.com")
    listed = await asyncio.to_thread(_invoke, resources, "mail", "list")
    assert listed.exit_code == 0, listed.output
    assert "tester@example.com" in listed.output and "queued" in listed.output
    shown = await asyncio.to_thread(_invoke, resources, "mail", "show", "Tester@Example.com")
    assert shown.exit_code == 0, shown.output
    assert "Your Rapport sign-up code is " in shown.output
    missing = await asyncio.to_thread(_invoke, resources, "mail", "show", "nobody@example.com")
    assert missing.exit_code == 1
