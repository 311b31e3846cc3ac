"""Profiles and preferences: the rules for creating, changing and showing them.

Inputs arrive as dicts of the fields the client actually sent (absent = unchanged,
None = cleared), keyed by Python attribute name; problems are reported under the GraphQL
(camelCase) field names."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from matching import grid
from matching.embeddings import embed_profile
from models import Gender, Intent, MentorshipRole, Preferences, Profile
from models.base import utcnow
from models.profiles import MAX_PHOTOS, age_on
from rapport.db import OperationSession
from rapport.errors import AlreadyExists, ErrorCode, NotFoundError, Problems
from rapport.rate_limits import Limit
from resolvers import interests, validation
from resolvers.effects import profile_changed
from resolvers.operation import Operation

MIN_AGE, MAX_AGE = 18, 120
MIN_HEIGHT, MAX_HEIGHT = 90, 250
MAX_DISTANCE_KM = 20040  # half the Earth's circumference
MAX_SOCIAL_LINKS = 10
MAX_EXPERTISE = 20
REQUIRED_ON_CREATE = ("display_name", "birth_date", "gender", "intent")
# What others are matched against: each change probes other people's private preferences.
MATCH_FIELDS = ("gender", "height_cm", "intent", "mentorship_role")
PREFERENCE_FIELDS = ("age_min", "age_max", "height_min_cm", "height_max_cm", "genders", "intents")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _clean_profile_fields(
    fields: Mapping[str, Any], today: date, problems: Problems
) -> dict[str, Any]:
    """Validate and normalise the given profile fields; returns column values."""
    out: dict[str, Any] = {}
    for name in REQUIRED_ON_CREATE:
        if name in fields and fields[name] is None:
            problems.add(camel(name), ErrorCode.REQUIRED, f"{camel(name)} cannot be cleared.")
    if (value := fields.get("display_name")) is not None:
        out["display_name"] = validation.text(
            problems, "displayName", value, max_length=50, required=True
        )
    for name, limit in (("bio", 2000), ("goals", 1000)):
        if name in fields:
            out[name] = validation.text(
                problems, name, fields[name] or "", max_length=limit, multiline=True
            )
    if (birth := fields.get("birth_date")) is not None:
        out["birth_date"] = clean_birth_date(problems, birth, today)
    if "height_cm" in fields:
        out["height_cm"] = validation.int_range(
            problems, "heightCm", fields["height_cm"], MIN_HEIGHT, MAX_HEIGHT
        )
    if fields.get("gender") is not None:
        out["gender"] = Gender(fields["gender"])
    if "location" in fields:
        out.update(_clean_location(problems, fields["location"]))
    if "photo_urls" in fields:
        out["photo_urls"] = validation.url_list(
            problems, "photoUrls", fields["photo_urls"] or [], max_items=MAX_PHOTOS
        )
    if "social_links" in fields:
        out["social_links"] = _clean_social_links(problems, fields["social_links"] or [])
    if fields.get("intent") is not None:
        out["intent"] = Intent(fields["intent"])
    if "mentorship_role" in fields:
        role = fields["mentorship_role"]
        out["mentorship_role"] = MentorshipRole(role) if role is not None else None
    if "expertise" in fields:
        out["expertise"] = validation.tag_list(
            problems, "expertise", fields["expertise"] or [], max_items=MAX_EXPERTISE, max_length=40
        )
    return out


def clean_birth_date(
    problems: Problems, birth: date, today: date, field: str = "birthDate"
) -> date:
    age = age_on(birth, today)
    if not MIN_AGE <= age <= MAX_AGE:
        problems.add(
            field,
            ErrorCode.OUT_OF_RANGE,
            f"Age must be between {MIN_AGE} and {MAX_AGE} (got {age}).",
        )
    return birth


def _clean_location(problems: Problems, location: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the centre of the point's grid cell is kept (matching/grid.py; README "Privacy")."""
    if location is None:
        return {"city": None, "latitude": None, "longitude": None}
    latitude = validation.float_range(
        problems, "location.latitude", location.get("latitude"), -90, 90
    )
    longitude = validation.float_range(
        problems, "location.longitude", location.get("longitude"), -180, 180
    )
    valid = not (problems.has("location.latitude") or problems.has("location.longitude"))
    if valid and latitude is not None and longitude is not None:
        latitude, longitude = grid.snap(latitude, longitude)
    return {
        "city": validation.text(
            problems, "location.city", location.get("city"), max_length=100, required=True
        ),
        "latitude": latitude,
        "longitude": longitude,
    }


def _clean_social_links(problems: Problems, links: list[Mapping[str, str]]) -> list[dict[str, str]]:
    if len(links) > MAX_SOCIAL_LINKS:
        problems.add("socialLinks", ErrorCode.TOO_MANY, f"At most {MAX_SOCIAL_LINKS} social links.")
    cleaned = []
    for i, link in enumerate(links):
        platform = validation.text(
            problems, f"socialLinks[{i}].platform", link["platform"], max_length=30, required=True
        )
        url = validation.https_url(problems, f"socialLinks[{i}].url", link["url"])
        cleaned.append({"platform": platform or "", "url": url})
    return cleaned


def _check_mentorship(problems: Problems, profile: Mapping[str, Any]) -> None:
    """Cross-field rules, checked on the profile as it would be after the change."""
    mentoring = profile.get("intent") is Intent.MENTORSHIP
    if mentoring and profile.get("mentorship_role") is None and not problems.has("mentorshipRole"):
        problems.add(
            "mentorshipRole",
            ErrorCode.REQUIRED,
            "Mentorship profiles say whether you are a mentor or a mentee.",
        )
    if not mentoring and profile.get("mentorship_role") is not None:
        problems.add(
            "mentorshipRole",
            ErrorCode.NOT_ALLOWED,
            "Only mentorship profiles have a mentorship role.",
        )
    if not mentoring and profile.get("expertise"):
        problems.add(
            "expertise", ErrorCode.NOT_ALLOWED, "Areas of expertise belong to mentorship profiles."
        )


async def _save(
    session: OperationSession, row: Profile | Preferences, values: Mapping[str, Any]
) -> None:
    """Apply validated values to a row and commit."""
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await session.commit()


async def create_profile(op: Operation, fields: Mapping[str, Any], today: date) -> Profile:
    """Create the viewer's profile (once), with default preferences."""
    session, viewer = op.session, op.viewer
    problems = Problems()
    for name in REQUIRED_ON_CREATE:
        if fields.get(name) is None:
            problems.add(camel(name), ErrorCode.REQUIRED, f"{camel(name)} is required.")
    values = _clean_profile_fields(fields, today, problems)
    _check_mentorship(problems, values)
    problems.raise_if_any()
    # ON CONFLICT: two concurrent createProfile calls cannot both insert (nor fail with a 500).
    created = (
        await session.execute(
            insert(Profile)
            .values(user_id=viewer.id, **values)
            .on_conflict_do_nothing(index_elements=["user_id"])
            .returning(col(Profile.user_id))
        )
    ).scalar_one_or_none()
    if created is None:
        raise AlreadyExists("You already have a profile: use updateProfile.", field="input")
    profile = await session.get_one(Profile, viewer.id)
    # Until told otherwise, a person is shown everyone of their own intent within the age bounds.
    session.add(
        Preferences(
            user_id=viewer.id,
            genders=[g.value for g in Gender],
            intents=[profile.intent.value],
        )
    )
    await embed_profile(session, op.resources.matcher.encoder, profile)
    session.after_commit(*profile_changed(viewer.id))
    await session.commit()
    return profile


async def update_profile(op: Operation, fields: Mapping[str, Any], today: date) -> Profile:
    """Change some fields. The birth date is fixed (a moderator corrects it); a move to another
    grid cell spends `location_changes`, a change of gender, height or intent
    `profile_match_changes_per_day` (README "Privacy": what those probes would reveal).
    Operators' tools are not limited."""
    session, viewer = op.session, op.viewer
    problems = Problems()
    values = _clean_profile_fields(fields, today, problems)
    profile = await session.get(Profile, viewer.id, with_for_update=True)
    if profile is None:
        problems.raise_if_any()
        raise NotFoundError("You have no profile yet: use createProfile.", field="input")
    merged = {name: getattr(profile, name) for name in ("intent", "mentorship_role", "expertise")}
    merged.update({k: v for k, v in values.items() if k in merged})
    if merged["intent"] is not Intent.MENTORSHIP and "intent" in values:
        # Leaving mentorship drops the role and expertise that only mentorship has.
        values.setdefault("mentorship_role", None)
        values.setdefault("expertise", [])
        merged.update(mentorship_role=values["mentorship_role"], expertise=values["expertise"])
    _check_mentorship(problems, merged)
    birth = values.get("birth_date", profile.birth_date)
    if birth != profile.birth_date and not problems.has("birthDate"):
        problems.add(
            "birthDate",
            ErrorCode.FIXED,
            "Your birth date cannot change once your profile exists; a moderator can correct it.",
        )
    problems.raise_if_any()
    spends = _spends(
        profile,
        values,
        {
            Limit.LOCATION_CHANGES: ("latitude", "longitude"),
            Limit.PROFILE_MATCH_CHANGES_PER_DAY: MATCH_FIELDS,
        },
    )
    await _spend(op, spends)
    for name, value in values.items():
        setattr(profile, name, value)
    await embed_profile(session, op.resources.matcher.encoder, profile)  # if goals or bio changed
    session.after_commit(*profile_changed(viewer.id))
    await _save(session, profile, {})
    return profile


def _spends(
    row: Profile | Preferences, values: Mapping[str, Any], limits: Mapping[Limit, tuple[str, ...]]
) -> list[Limit]:
    """The limits a change spends: those with a field whose value would really change (lists
    compared as sets; coordinates are already snapped, so a move within a cell is no change)."""

    def same(old: Any, new: Any) -> bool:
        return (
            set(old) == set(new) if isinstance(old, list) and isinstance(new, list) else old == new
        )

    return [
        limit
        for limit, names in limits.items()
        if any(name in values and not same(getattr(row, name), values[name]) for name in names)
    ]


async def _spend(op: Operation, spends: list[Limit]) -> None:
    """Count the change against each budget it spends, before anything changes (one atomic
    step each: concurrent updates cannot slip through together); RateLimitedError if one is
    spent, and then nothing changes."""
    for limit in spends:
        await op.hit(limit)


def _preference_values(fields: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("age_min", "age_max"):
        if name in fields:
            if fields[name] is None:
                problems.add(camel(name), ErrorCode.REQUIRED, f"{camel(name)} cannot be cleared.")
            out[name] = validation.int_range(problems, camel(name), fields[name], MIN_AGE, MAX_AGE)
    for name in ("height_min_cm", "height_max_cm"):
        if name in fields:
            out[name] = validation.int_range(
                problems, camel(name), fields[name], MIN_HEIGHT, MAX_HEIGHT
            )
    if "max_distance_km" in fields:
        out["max_distance_km"] = validation.int_range(
            problems, "maxDistanceKm", fields["max_distance_km"], 1, MAX_DISTANCE_KM
        )
    for name, enum in (("genders", Gender), ("intents", Intent)):
        if name in fields:
            chosen = list(dict.fromkeys(enum(v).value for v in fields[name] or []))
            if not chosen:
                problems.add(name, ErrorCode.REQUIRED, f"Choose at least one of {name}.")
            out[name] = chosen
    return out


async def update_preferences(op: Operation, fields: Mapping[str, Any]) -> Preferences:
    """A new maxDistanceKm spends `location_changes`; any other change
    `preference_changes_per_day` (operators' tools: nothing is limited)."""
    session, viewer = op.session, op.viewer
    problems = Problems()
    values = _preference_values(fields, problems)
    preferences = await session.get(Preferences, viewer.id, with_for_update=True)
    if preferences is None:
        problems.raise_if_any()
        raise NotFoundError("Create your profile first: preferences come with it.", field="input")
    merged = {
        c: getattr(preferences, c) for c in ("age_min", "age_max", "height_min_cm", "height_max_cm")
    }
    merged.update({k: v for k, v in values.items() if k in merged and not problems.has(camel(k))})
    validation.ordered(problems, "ageMin", merged["age_min"], "ageMax", merged["age_max"])
    validation.ordered(
        problems, "heightMinCm", merged["height_min_cm"], "heightMaxCm", merged["height_max_cm"]
    )
    problems.raise_if_any()
    spends = _spends(
        preferences,
        values,
        {
            Limit.LOCATION_CHANGES: ("max_distance_km",),
            Limit.PREFERENCE_CHANGES_PER_DAY: PREFERENCE_FIELDS,
        },
    )
    await _spend(op, spends)
    session.after_commit(*profile_changed(viewer.id))
    await _save(session, preferences, values)
    return preferences


async def preferences_of(session: OperationSession, user_id: uuid.UUID) -> Preferences | None:
    """Private: callers show these only to their owner."""
    return await session.get(Preferences, user_id)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone as others see them: the public columns of their profile (no coordinates) and
    their interests, alphabetically. Plain values, cheaper to build and read than a Profile."""

    user_id: uuid.UUID
    display_name: str
    bio: str
    goals: str
    birth_date: date
    height_cm: int | None
    gender: Gender
    city: str | None
    photo_urls: list[str]
    social_links: list[dict[str, str]]
    intent: Intent
    mentorship_role: MentorshipRole | None
    expertise: list[str]
    interests: list[str]


_PUBLIC_COLUMNS = tuple(f.name for f in fields(Person))[:-1]
# A person in a raw statement over `profiles p`, in Person's order (person_of makes it one).
PERSON_COLUMNS = ", ".join([*(f"p.{c}" for c in _PUBLIC_COLUMNS), interests.names_of("p.user_id")])


def person_of(values: Sequence[Any]) -> Person:
    """The Person of PERSON_COLUMNS' values (stored enums made members again)."""
    (user_id, name, bio, goals, birth, height, gender, city, photos, links, intent, role,
     expertise, names) = values  # fmt: skip
    return Person(
        user_id, name, bio, goals, birth, height, Gender(gender), city, photos, links,
        Intent(intent), MentorshipRole(role) if role is not None else None, expertise, names,
    )  # fmt: skip


# user(id) is one statement on the plain asyncpg pool (as authentication is; see
# resolvers/accounts.py): the profile and interests of an active account (active_users) that
# no block stands between with the viewer (block_pairs). Profiled under bench/peer.py, the
# ORM's statement building, session and transaction had been most of the server's CPU for it.
_PUBLIC_PROFILE_SQL = f"""
SELECT {PERSON_COLUMNS}
FROM profiles p
JOIN active_users u ON u.id = p.user_id  -- resolvers/visibility.py active_account
WHERE p.user_id = $1 AND NOT EXISTS (  -- resolvers/visibility.py blocked_between
    SELECT 1 FROM block_pairs bp WHERE bp.person = $2 AND bp.other = $1
)
"""  # noqa: S608 (column names come from the model; the only inputs are parameters)

_PEOPLE_SQL = f"""
SELECT {PERSON_COLUMNS}
FROM profiles p
JOIN active_users u ON u.id = p.user_id  -- resolvers/visibility.py active_account
WHERE p.user_id = ANY($1::uuid[])
"""  # noqa: S608 (column names come from the model; the only input is the $1 parameter)


async def public_profile(op: Operation, user_id: uuid.UUID) -> Person:
    """Someone's profile, as anyone signed in may see it: active accounts only, and not
    across a block (either way: a block is not revealed, it reads as NotFound). Viewing other
    people's spends `profile_views_per_hour` (scraping)."""
    viewer = op.viewer
    if user_id != viewer.id:
        await op.hit(Limit.PROFILE_VIEWS_PER_HOUR)
    record = await op.resources.raw_pool.fetchrow(_PUBLIC_PROFILE_SQL, user_id, viewer.id)
    if record is None:
        raise NotFoundError("No such user.", field="id", id=str(user_id))
    return person_of(record)


async def people(pool: asyncpg.Pool, ids: Sequence[uuid.UUID]) -> list[Person | None]:
    """Batch: the people of active accounts (others read as None), in the order asked. No
    block check: callers show only people they list under it (matches, requests, chats)."""
    found = {p.user_id: p for p in map(person_of, await pool.fetch(_PEOPLE_SQL, ids))}
    return [found.get(i) for i in ids]
