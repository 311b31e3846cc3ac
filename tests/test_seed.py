"""Synthetic people (rapport.seed) and the `rapport seed` / `rapport embed` commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, datetime

import numpy as np
from sqlalchemy import func, select, text
from sqlmodel import col

from matching.embeddings import count_pending
from models import (
    Gender,
    Intent,
    Interest,
    MentorshipRole,
    Preferences,
    Profile,
    ProfileEmbedding,
    User,
    UserInterest,
)
from models.profiles import age_on
from rapport.cli import embed_pending
from rapport.seed import (
    DEMO_PASSWORD,
    THEMES_BY_NAME,
    PersonSpec,
    generate,
    planted,
    seed,
)
from rapport.seed_data import MEN, NEUTRAL, WOMEN
from rapport.settings import PROJECT_ROOT

TODAY = date(2026, 3, 1)
LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  __typename ... on AuthPayload { token } } }"""


def sentences(text_: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text_) if s]


def test_generate_is_deterministic_and_resumable() -> None:
    first = generate(60, seed=3, today=TODAY)
    assert first == generate(60, seed=3, today=TODAY)
    assert first[:20] == generate(20, seed=3, today=TODAY)
    assert first[20:] == generate(40, seed=3, start=20, today=TODAY)
    other = generate(60, seed=4, today=TODAY)
    assert [p.profile["bio"] for p in first] != [p.profile["bio"] for p in other]
    assert len({p.email for p in first + other}) == 120  # unique across seeds too


def test_generated_people_are_varied_and_consistent() -> None:
    people = generate(500, seed=0, today=TODAY)
    n = len(people)
    intents = Counter(p.profile["intent"] for p in people)
    assert abs(intents[Intent.DATING] / n - 0.5) < 0.06
    assert abs(intents[Intent.FRIENDSHIP] / n - 0.3) < 0.06
    assert abs(intents[Intent.MENTORSHIP] / n - 0.2) < 0.05
    genders = Counter(p.profile["gender"] for p in people)
    assert 0.4 < genders[Gender.WOMAN] / n < 0.55 and 0.4 < genders[Gender.MAN] / n < 0.55
    assert 0.02 <= (genders[Gender.NON_BINARY] + genders[Gender.OTHER]) / n <= 0.1
    ages = [age_on(p.profile["birth_date"], TODAY) for p in people]
    assert min(ages) >= 18 and max(ages) <= 70
    assert sum(22 <= a <= 45 for a in ages) / n > 0.6
    assert len({p.theme for p in people}) >= 20
    assert len({p.profile["bio"] for p in people}) > 0.9 * n
    assert len({p.profile["goals"] for p in people}) > 0.7 * n
    same_gender = 0
    for person, age in zip(people, ages, strict=True):
        profile, prefs = person.profile, person.preferences
        assert 3 <= len(person.interests) <= 7 and len(set(person.interests)) == len(
            person.interests
        )
        assert set(person.interests) & set(THEMES_BY_NAME[person.theme].tags)
        assert profile["height_cm"] is None or 145 <= profile["height_cm"] <= 210
        assert 1 <= len(sentences(profile["goals"])) <= 2
        assert 2 <= len(sentences(profile["bio"])) <= 3
        assert prefs["intents"] == [profile["intent"]]
        assert 18 <= prefs["age_min"] <= prefs["age_max"] <= 120
        if profile["intent"] is Intent.DATING:
            assert prefs["age_min"] <= age <= prefs["age_max"] <= age + 15
            same_gender += profile["gender"] in prefs["genders"]
            assert prefs["max_distance_km"] is None or 25 <= prefs["max_distance_km"] <= 300
        else:
            assert set(prefs["genders"]) == set(Gender)
            assert prefs["age_min"] <= age <= prefs["age_max"]
        if profile["intent"] is Intent.MENTORSHIP:
            assert profile["mentorship_role"] in (MentorshipRole.MENTOR, MentorshipRole.MENTEE)
            assert set(profile["expertise"]) <= set(THEMES_BY_NAME[person.theme].expertise)
        else:
            assert "mentorship_role" not in profile and "expertise" not in profile
    dating = intents[Intent.DATING]
    assert 0.05 < same_gender / dating < 0.35  # some same-gender and some open to everyone
    roles = Counter(p.profile.get("mentorship_role") for p in people)
    assert roles[MentorshipRole.MENTOR] > 20 and roles[MentorshipRole.MENTEE] > 20


def test_first_names_fit_gender() -> None:
    assert not set(WOMEN) & set(MEN)  # a copy-paste once gave women the men's names
    people = generate(400, seed=5, today=TODAY)
    for person in people:
        first = person.display_name.split()[0]
        gender = person.profile["gender"]
        expected = {Gender.WOMAN: WOMEN, Gender.MAN: MEN}.get(gender, NEUTRAL)
        assert first in expected or first in NEUTRAL, (first, gender)
    women = [p for p in people if p.profile["gender"] is Gender.WOMAN]
    assert sum(p.display_name.split()[0] in WOMEN for p in women) > 0.8 * len(women)


def test_planted_groups_share_rare_interests_and_a_theme() -> None:
    people = planted(4, 5, seed=1, today=TODAY)
    assert len(people) == 20 and planted(4, 5, seed=1, today=TODAY) == people
    for g in range(4):
        group = [p for p in people if p.group == g]
        assert len(group) == 5 and len({p.theme for p in group}) == 1
        shared = set.intersection(*(set(p.interests) for p in group))
        assert len(shared) >= 3 and shared <= set(THEMES_BY_NAME[group[0].theme].tags)
        for p in group:
            assert p.profile["intent"] is Intent.FRIENDSHIP
            assert p.preferences == group[0].preferences
            assert p.preferences["age_min"] == 18 and p.preferences["age_max"] == 120
            assert set(p.preferences["genders"]) == set(Gender)
            assert p.preferences["max_distance_km"] is None
    assert len({p.theme for p in people}) == 4
    assert all(p.group is None for p in generate(5))


async def test_seeded_people_pass_every_rule_and_are_embedded(resources) -> None:
    specs: list[PersonSpec] = generate(40, seed=11) + planted(2, 3, seed=11)
    ids = await seed(resources, specs, concurrency=6, progress=False)
    assert len(ids) == len(specs) == len(set(ids))
    async with resources.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Profile)) == len(specs)
        assert await session.scalar(select(func.count()).select_from(ProfileEmbedding)) == len(
            specs
        )
        assert await count_pending(session, resources.matcher.encoder.name) == 0
        for user_id, spec in list(zip(ids, specs, strict=True))[::7]:
            profile = await session.get_one(Profile, user_id)
            assert profile.goals == spec.profile["goals"] and profile.bio == spec.profile["bio"]
            assert profile.intent is spec.profile["intent"]
            prefs = await session.get_one(Preferences, user_id)
            assert prefs.intents == [i.value for i in spec.preferences["intents"]]
            assert (prefs.age_min, prefs.age_max) == (
                spec.preferences["age_min"],
                spec.preferences["age_max"],
            )
            names = await session.scalars(
                select(col(Interest.name))
                .join(UserInterest, col(UserInterest.interest_id) == col(Interest.id))
                .where(col(UserInterest.user_id) == user_id)
            )
            assert sorted(names) == sorted(spec.interests)


async def test_seeded_people_log_in_with_the_demo_password(gql) -> None:
    specs = generate(3, seed=5)
    await seed(gql.resources, specs, progress=False)
    for spec in specs:
        login = (await gql(LOGIN, {"i": {"email": spec.email, "password": DEMO_PASSWORD}}))["login"]
        assert login["__typename"] == "AuthPayload", login
        me = await gql("{ me { ... on Me { email } } }", token=login["token"])
        assert me["me"]["email"] == spec.email
    wrong = await gql(LOGIN, {"i": {"email": specs[0].email, "password": "not the password"}})
    assert wrong["login"]["__typename"] == "InvalidCredentials"
    async with gql.resources.sessionmaker() as session:
        hashes = set(await session.scalars(select(col(User.password_hash))))
    assert len(hashes) == 1 and DEMO_PASSWORD not in next(iter(hashes))  # hashed once, reused


async def _embeddings(resources) -> dict:
    async with resources.sessionmaker() as session:
        rows = await session.execute(
            select(
                col(ProfileEmbedding.user_id),
                col(ProfileEmbedding.model),
                col(ProfileEmbedding.goals),
                col(ProfileEmbedding.embedded_at),
            )
        )
        return {user_id: (model, np.asarray(goals), at) for user_id, model, goals, at in rows}


async def test_embed_redoes_stale_rows_resumably_and_once(resources) -> None:
    encoder = resources.matcher.encoder
    ids = await seed(resources, generate(10, seed=21), progress=False)
    before = await _embeddings(resources)
    async with resources.sessionmaker() as session:
        await session.execute(text("UPDATE profile_embeddings SET model = 'old'"))
        await session.commit()
        assert await count_pending(session, encoder.name) == 10
        started: datetime = (await session.execute(text("SELECT now()"))).scalar_one()

    # Stopped after one batch (as an interruption would): that batch is saved, the rest pending.
    first = await embed_pending(
        resources.sessionmaker, encoder, batch=4, progress=False, max_batches=1
    )
    assert (first.pending, first.done, first.batches) == (10, 4, 1)
    async with resources.sessionmaker() as session:
        assert await count_pending(session, encoder.name) == 6
    middle = await _embeddings(resources)
    assert sum(m == encoder.name for m, _, _ in middle.values()) == 4

    # A rerun resumes with the other six only.
    second = await embed_pending(resources.sessionmaker, encoder, batch=4, progress=False)
    assert (second.pending, second.done, second.batches) == (6, 6, 2)
    after = await _embeddings(resources)
    assert set(after) == set(ids)  # one row per profile
    for user_id, (model, goals, at) in after.items():
        assert model == encoder.name and at >= started
        # Same text, same vector (up to int8 noise: the quantised encoder's output depends a
        # little on what else is in the batch).
        assert float(goals @ before[user_id][1]) > 0.98
        if middle[user_id][0] == encoder.name:
            assert at == middle[user_id][2]  # embedded in the first run, not again

    # Nothing pending: a no-op.
    third = await embed_pending(resources.sessionmaker, encoder, batch=4, progress=False)
    assert (third.pending, third.done, third.batches) == (0, 0, 0)
    final = await _embeddings(resources)
    assert final.keys() == after.keys() and all(after[k][2] == v[2] for k, v in final.items())


def _cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")},
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-c", "from rapport.cli import main; main()", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_seed_and_embed_commands(database_url: str) -> None:
    seeded = _cli("seed", "--users", "6", "--seed", "9", database_url=database_url)
    assert seeded.returncode == 0, seeded.stderr
    assert "Created 6 people" in seeded.stdout and DEMO_PASSWORD in seeded.stdout
    again = _cli("seed", "--users", "8", "--seed", "9", database_url=database_url)
    assert again.returncode == 0, again.stderr
    assert "Created 2 people" in again.stdout and "6 already existed" in again.stdout

    nothing = _cli("embed", database_url=database_url)
    assert nothing.returncode == 0, nothing.stderr
    assert "Nothing to embed" in nothing.stdout

    import asyncpg

    from tests.support.database import raw_dsn

    conn = await asyncpg.connect(raw_dsn(database_url))
    try:
        await conn.execute("UPDATE profile_embeddings SET model = 'old'")
    finally:
        await conn.close()
    redone = _cli("embed", "--batch", "3", database_url=database_url)
    assert redone.returncode == 0, redone.stderr
    assert "Embedded 8 profiles" in redone.stdout
