"""Property test: in random populations with random preferences and blocks, every person's
recommendations are exactly the people who fit them and whom they fit (checked against an
independent Python oracle of the rules), and never someone blocked."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from matching import grid
from models import User
from tests.support.ids import key, user_of
from tests.support.people import Person, profile_input, recommended, years_ago

CITIES = {"Lisbon": (38.72, -9.14), "Porto": (41.15, -8.61), "Madrid": (40.42, -3.70)}
GENDERS = ["WOMAN", "MAN", "NON_BINARY", "OTHER"]
INTENTS = ["DATING", "FRIENDSHIP", "MENTORSHIP"]


@dataclass(frozen=True)
class Spec:
    age: int
    height: int | None
    gender: str
    intent: str
    role: str | None
    city: str | None
    age_min: int
    age_max: int
    height_min: int | None
    height_max: int | None
    genders: tuple[str, ...]
    intents: tuple[str, ...]
    max_km: int | None


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    intent = draw(st.sampled_from(INTENTS))
    low = draw(st.integers(18, 60))
    height_min = draw(st.one_of(st.none(), st.integers(150, 185)))
    return Spec(
        age=draw(st.integers(18, 70)),
        height=draw(st.one_of(st.none(), st.integers(150, 200))),
        gender=draw(st.sampled_from(GENDERS)),
        intent=intent,
        role=draw(st.sampled_from(["MENTOR", "MENTEE"])) if intent == "MENTORSHIP" else None,
        city=draw(st.one_of(st.none(), st.sampled_from(sorted(CITIES)))),
        age_min=low,
        age_max=draw(st.integers(low, 80)),
        height_min=height_min,
        height_max=draw(st.one_of(st.none(), st.integers(height_min or 150, 210))),
        genders=tuple(draw(st.sets(st.sampled_from(GENDERS), min_size=1, max_size=4))),
        intents=tuple(draw(st.sets(st.sampled_from(INTENTS), min_size=1, max_size=3))),
        max_km=draw(st.sampled_from([None, None, 100, 400, 1000])),
    )


def km(a: str | None, b: str | None) -> float | None:
    if a is None or b is None:
        return None
    # between the centres of the two grid cells: the only coordinates stored
    (la1, lo1), (la2, lo2) = grid.snap(*CITIES[a]), grid.snap(*CITIES[b])
    h = (
        math.sin(math.radians(la2 - la1) / 2) ** 2
        + math.cos(math.radians(la1))
        * math.cos(math.radians(la2))
        * math.sin(math.radians(lo2 - lo1) / 2) ** 2
    )
    return 2 * 6371 * math.asin(math.sqrt(h))


def fits(who: Spec, seeker: Spec) -> bool:
    """`who` fits `seeker`'s preferences (the rules of the README, written independently)."""
    distance = km(who.city, seeker.city)
    return (
        who.gender in seeker.genders
        and who.intent in seeker.intents
        and seeker.age_min <= who.age <= seeker.age_max
        and (
            seeker.height_min is None
            or (who.height is not None and who.height >= seeker.height_min)
        )
        and (
            seeker.height_max is None
            or (who.height is not None and who.height <= seeker.height_max)
        )
        and (seeker.max_km is None or (distance is not None and distance <= seeker.max_km))
    )


def compatible(a: Spec, b: Spec) -> bool:
    mentors_clash = a.intent == b.intent == "MENTORSHIP" and a.role == b.role
    return fits(a, b) and fits(b, a) and not mentors_clash


async def create(gql, spec: Spec) -> Person:
    token = await gql.register()
    city = spec.city
    fields = profile_input(
        birthDate=years_ago(spec.age, days=1),
        heightCm=spec.height,
        gender=spec.gender,
        intent=spec.intent,
        mentorshipRole=spec.role,
        location={"city": city, "latitude": CITIES[city][0], "longitude": CITIES[city][1]}
        if city
        else None,
    )
    created = await gql(
        "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }",
        {"i": fields},
        token=token,
    )
    assert created["createProfile"]["__typename"] == "OwnProfile", created
    prefs = {
        "ageMin": spec.age_min,
        "ageMax": spec.age_max,
        "heightMinCm": spec.height_min,
        "heightMaxCm": spec.height_max,
        "genders": list(spec.genders),
        "intents": list(spec.intents),
        "maxDistanceKm": spec.max_km,
    }
    result = await gql(
        "mutation($i: UpdatePreferencesInput!) { updatePreferences(input: $i) { __typename } }",
        {"i": prefs},
        token=token,
    )
    assert result["updatePreferences"]["__typename"] == "Preferences", result
    me = await gql("{ me { ... on Me { id } } }", token=token)
    return Person(token, user_of(me["me"]["id"]))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    population=st.lists(specs(), min_size=2, max_size=9),
    block_pairs=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=4),
)
async def test_recommendations_are_exactly_the_compatible_unblocked_people(
    gql, resources, population, block_pairs
) -> None:
    async with resources.sessionmaker() as session:  # each example starts from an empty world
        await session.execute(delete(User))
        await session.commit()
    people = [await create(gql, spec) for spec in population]
    blocked: set[frozenset[int]] = set()
    for a, b in block_pairs:
        if a < len(people) and b < len(people) and a != b:
            await gql(
                "mutation($id: ID!) { block(userId: $id) { __typename } }",
                {"id": people[b].id},
                token=people[a].token,
            )
            blocked.add(frozenset((a, b)))
    for i, person in enumerate(people):
        expected = {
            people[j].id
            for j, other in enumerate(population)
            if j != i and compatible(population[i], other) and frozenset((i, j)) not in blocked
        }
        got = await recommended(gql, person, first=50)
        assert len(got) == len(set(got))
        assert set(got) == expected, (
            i,
            population[i],
            [population[j] for j in range(len(people)) if people[j].id in set(got) ^ expected],
        )
    assert all(uuid.UUID(key(p.id)) for p in people)
