"""Synthetic people for demos, benchmarks and matching-quality tests.

`generate(n, seed)` is pure and deterministic: person `i` of seed `s` is always the same
(each person has their own `random.Random`), so `generate(100, s)[:10] == generate(10, s)`
and `generate(90, s, start=10)` continues where `generate(10, s)` stopped. People are built
around ~25 themes (each with goal phrases, bio sentences, rare-ish interest tags and areas of
expertise) plus a pool of common interests, with realistic shares of intents, genders, ages,
heights and cities, and preferences that fit their intent.

`planted(groups, size, seed)` makes groups of people who share three rare interests and goals
on one theme, with permissive identical preferences, so that only similarity decides whom
they are shown (matching-quality tests).

`seed(resources, specs)` creates people through the same resolver functions as the API
(createProfile, updatePreferences, setInterests; accounts skip the emailed sign-up code), so
profiles are validated and embedded exactly as in production. Every seeded account has the
password DEMO_PASSWORD.
"""

from __future__ import annotations

import asyncio
import random
import sys
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from models import Gender, Intent, MentorshipRole, User
from rapport.seed_data import (
    CITIES,
    CLOSERS,
    COMMON_INTERESTS,
    DATING_GOALS,
    DISTANCES_KM,
    FRIENDSHIP_GOALS,
    GENDER_SHARES,
    INTENT_SHARES,
    JOB_SENTENCES,
    JOBS,
    MAX_AGE,
    MEN,
    MENTEE_GOALS,
    MENTOR_GOALS,
    MIN_AGE,
    NEUTRAL,
    SECOND_GOALS,
    SURNAMES,
    THEMES,
    WOMEN,
    Theme,
)
from rapport.seed_data import THEMES_BY_NAME as THEMES_BY_NAME  # re-exported for callers
from rapport.settings import Settings
from resolvers import accounts, interests, profiles
from resolvers.credentials import Credentials
from resolvers.operation import Operation

if TYPE_CHECKING:
    from rapport.resources import Resources

T = TypeVar("T")

DEMO_PASSWORD = "rapport-demo-password"  # noqa: S105 (synthetic accounts only)
EMAIL_DOMAIN = "example.com"


# --- specs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonSpec:
    """One synthetic person, as API inputs: `profile` is what createProfile receives (Python
    attribute names), `preferences` what updatePreferences receives, `interests` setInterests."""

    email: str
    display_name: str
    profile: dict[str, Any]
    preferences: dict[str, Any]
    interests: list[str]
    theme: str
    group: int | None = None  # planted(): the group this person belongs to
    secondary_theme: str | None = field(default=None, compare=False)


def _pick(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _birth_date(age: int, today: date, rng: random.Random) -> date:
    """Someone exactly `age` years old today (their birthday 1-360 days ago)."""
    return _years_before(today, age) - timedelta(days=rng.randint(1, 360))


def _age(rng: random.Random) -> int:
    """18-70, most people 22-45."""
    band = rng.random()
    if band < 0.08:
        return rng.randint(18, 21)
    if band < 0.83:
        return round(rng.triangular(22, 45, 29))
    return rng.randint(46, MAX_AGE)


def _height(gender: Gender, rng: random.Random) -> int | None:
    if rng.random() < 0.08:
        return None  # not everyone says
    mean, sd = {Gender.WOMAN: (165, 7), Gender.MAN: (178, 7.5)}.get(gender, (171, 9))
    return max(145, min(210, round(rng.gauss(mean, sd))))


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _name(gender: Gender, rng: random.Random) -> tuple[str, str]:
    pool: tuple[str, ...] = {Gender.WOMAN: WOMEN, Gender.MAN: MEN}.get(gender, NEUTRAL)
    if gender in (Gender.WOMAN, Gender.MAN) and rng.random() < 0.1:
        pool = NEUTRAL
    return rng.choice(pool), rng.choice(SURNAMES)


def _location(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.03:
        return None  # no location given
    city = _pick(rng, [(c, c.weight) for c in CITIES])
    return {
        "city": city.name,
        "latitude": round(city.latitude + rng.gauss(0, 0.04), 5),
        "longitude": round(city.longitude + rng.gauss(0, 0.06), 5),
    }


def _sentence(template: str, theme: Theme, rng: random.Random, **extra: str) -> str:
    return template.format(
        goal=rng.choice(theme.goals),
        activity=rng.choice(theme.activities),
        credential=rng.choice(theme.credentials),
        **extra,
    )


def _goals(theme: Theme, intent: Intent, role: MentorshipRole | None, rng: random.Random) -> str:
    templates: tuple[str, ...]
    if intent is Intent.DATING:
        templates = DATING_GOALS
    elif intent is Intent.FRIENDSHIP:
        templates = FRIENDSHIP_GOALS
    else:
        templates = MENTOR_GOALS if role is MentorshipRole.MENTOR else MENTEE_GOALS
    first = _sentence(rng.choice(templates), theme, rng)
    if rng.random() < 0.4 and role is not MentorshipRole.MENTOR:
        second = _sentence(rng.choice(SECOND_GOALS), theme, rng)
        if second.split(" to ", 1)[-1] not in first:
            return f"{first} {second}"
    return first


def _bio(theme: Theme, secondary: Theme | None, city: str | None, rng: random.Random) -> str:
    sentences = [rng.choice(theme.bio)]
    if secondary is not None:
        sentences.append(rng.choice(secondary.bio))
    else:
        template = rng.choice(JOB_SENTENCES)
        if city is None and "{city}" in template:
            template = JOB_SENTENCES[0]
        sentences.append(template.format(job=rng.choice(JOBS), city=city or ""))
    if rng.random() < 0.6:
        sentences.append(rng.choice(CLOSERS))
    if rng.random() < 0.5:
        sentences[:2] = sentences[1::-1]  # not always the theme first
    return " ".join(sentences)


def _common_interests(rng: random.Random, k: int, exclude: Iterable[str] = ()) -> list[str]:
    chosen: list[str] = []
    skip = set(exclude)
    while len(chosen) < k:
        tag = _pick(rng, COMMON_INTERESTS)
        if tag not in chosen and tag not in skip:
            chosen.append(tag)
    return chosen


def _interests(theme: Theme, secondary: Theme | None, rng: random.Random) -> list[str]:
    total = rng.randint(3, 7)
    own = rng.sample(theme.tags, k=min(rng.randint(1, 3), total))
    if secondary is not None and len(own) < total:
        own += [t for t in rng.sample(secondary.tags, k=1) if t not in own]
    chosen = own + _common_interests(rng, total - len(own), exclude=own)
    rng.shuffle(chosen)
    return chosen


def _dating_genders(gender: Gender, rng: random.Random) -> list[Gender]:
    everyone = list(Gender)
    roll = rng.random()
    if gender is Gender.WOMAN:
        return [Gender.MAN] if roll < 0.8 else [Gender.WOMAN] if roll < 0.9 else everyone
    if gender is Gender.MAN:
        return [Gender.WOMAN] if roll < 0.85 else [Gender.MAN] if roll < 0.93 else everyone
    if roll < 0.5:
        return everyone
    return rng.sample(everyone, k=rng.randint(1, 3))


def _preferences(gender: Gender, age: int, intent: Intent, rng: random.Random) -> dict[str, Any]:
    prefs: dict[str, Any] = {"intents": [intent]}
    if intent is Intent.DATING:
        prefs["genders"] = _dating_genders(gender, rng)
        low = max(MIN_AGE, age - rng.randint(2, 8) - age // 15)
        high = max(low + 2, age + rng.randint(2, 10) + age // 20)
        prefs.update(age_min=low, age_max=min(120, high))
        prefs["max_distance_km"] = rng.choice(DISTANCES_KM) if rng.random() < 0.8 else None
        if rng.random() < 0.12:
            prefs.update(height_min_cm=rng.choice((155, 160, 165, 170, 175)), height_max_cm=None)
    elif intent is Intent.FRIENDSHIP:
        prefs["genders"] = list(Gender)
        prefs.update(age_min=max(MIN_AGE, age - rng.randint(8, 15)), age_max=age + 15)
        prefs["max_distance_km"] = rng.choice(DISTANCES_KM) if rng.random() < 0.5 else None
    else:
        prefs["genders"] = list(Gender)
        prefs.update(age_min=MIN_AGE, age_max=rng.choice((70, 80, 99, 120)))
        prefs["max_distance_km"] = None if rng.random() < 0.85 else rng.choice((100, 300))
    return prefs


def _person_rng(seed: int, index: int, kind: str = "person") -> random.Random:
    return random.Random(f"rapport-seed:{kind}:{seed}:{index}")  # noqa: S311 (not for secrets)


def _make(
    index: int,
    seed: int,
    today: date,
    rng: random.Random,
    *,
    theme: Theme | None = None,
    intent: Intent | None = None,
    email: str | None = None,
) -> PersonSpec:
    gender = _pick(rng, GENDER_SHARES)
    intent = intent or _pick(rng, INTENT_SHARES)
    role = None
    if intent is Intent.MENTORSHIP:
        role = MentorshipRole.MENTOR if rng.random() < 0.45 else MentorshipRole.MENTEE
    if theme is None:
        weights = [t.mentoring_weight if intent is Intent.MENTORSHIP else 1.0 for t in THEMES]
        theme = rng.choices(THEMES, weights=weights)[0]
    secondary = rng.choice([t for t in THEMES if t is not theme]) if rng.random() < 0.3 else None
    age = _age(rng)
    if role is MentorshipRole.MENTOR:
        age = max(age, rng.randint(28, 40))  # mentors have some years behind them
    first, last = _name(gender, rng)
    display = f"{first} {last[0]}." if rng.random() < 0.6 else first
    location = _location(rng)
    profile: dict[str, Any] = {
        "display_name": display,
        "birth_date": _birth_date(age, today, rng),
        "gender": gender,
        "intent": intent,
        "bio": _bio(theme, secondary, location["city"] if location else None, rng),
        "goals": _goals(theme, intent, role, rng),
        "height_cm": _height(gender, rng),
        "location": location,
    }
    if role is not None:
        profile["mentorship_role"] = role
        profile["expertise"] = rng.sample(theme.expertise, k=rng.randint(1, 3))
    return PersonSpec(
        email=email or f"{_ascii(first)}.{_ascii(last)}.{seed}-{index}@{EMAIL_DOMAIN}",
        display_name=display,
        profile=profile,
        preferences=_preferences(gender, age, intent, rng),
        interests=_interests(theme, secondary, rng),
        theme=theme.name,
        secondary_theme=secondary.name if secondary else None,
    )


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


def generate(
    n: int, seed: int = 0, *, start: int = 0, today: date | None = None
) -> list[PersonSpec]:
    """People number `start` to `start + n - 1` of `seed`: deterministic (for a given `today`,
    which only shifts birth dates so that ages stay as generated)."""
    day = _today(today)
    return [_make(i, seed, day, _person_rng(seed, i)) for i in range(start, start + n)]


def planted(
    groups: int, size: int, seed: int = 0, *, today: date | None = None
) -> list[PersonSpec]:
    """`groups` groups of `size` people: each group shares three rare interests and goals on
    its own theme; everyone wants friendship with anyone 18-120 anywhere, so only similarity
    decides who is shown to whom."""
    if not 1 <= groups <= len(THEMES):
        raise ValueError(f"groups must be between 1 and {len(THEMES)}")
    day = _today(today)
    themes = _person_rng(seed, 0, "planted-themes").sample(THEMES, k=groups)
    specs = []
    for g, theme in enumerate(themes):
        shared = _person_rng(seed, g, "planted-tags").sample(theme.tags, k=3)
        for k in range(size):
            rng = _person_rng(seed, g * 10_000 + k, "planted")
            spec = _make(
                g * size + k,
                seed,
                day,
                rng,
                theme=theme,
                intent=Intent.FRIENDSHIP,
                email=f"planted.{seed}.g{g}.{k}@{EMAIL_DOMAIN}",
            )
            profile = {
                **spec.profile,
                "bio": _bio(theme, None, None, rng),
                "goals": _goals(theme, Intent.FRIENDSHIP, None, rng),
            }
            specs.append(
                PersonSpec(
                    email=spec.email,
                    display_name=spec.display_name,
                    profile=profile,
                    preferences={
                        "genders": list(Gender),
                        "age_min": 18,
                        "age_max": 120,
                        "intents": [Intent.FRIENDSHIP],
                        "max_distance_km": None,
                        "height_min_cm": None,
                        "height_max_cm": None,
                    },
                    interests=shared + _common_interests(rng, rng.randint(0, 2), exclude=shared),
                    theme=theme.name,
                    group=g,
                )
            )
    return specs


# --- creating them through the API's code paths --------------------------------------------


class SeedCredentials(Credentials):
    """The app's credentials, except that hashing DEMO_PASSWORD is done once and the hash
    reused: argon2 costs tens of milliseconds per account, which would dominate seeding.
    Register still calls `hash_password`, and seeded people log in with DEMO_PASSWORD.
    (Every seeded account shares one salt: fine for synthetic data, never for real users.)"""

    def __init__(self, settings: Settings, password: str = DEMO_PASSWORD) -> None:
        super().__init__(settings)
        self._password = password
        self._hash: str | None = None
        self._lock = asyncio.Lock()

    async def hash_password(self, password: str) -> str:
        if password != self._password:
            return await super().hash_password(password)
        async with self._lock:
            if self._hash is None:
                self._hash = await super().hash_password(password)
        return self._hash


class SeedError(RuntimeError):
    """Creating one person failed; the message names them."""


# SQLSTATEs after which a transaction may simply be tried again.
_TRANSIENT = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
_ATTEMPTS = 5


@dataclass
class SeedStats:
    retries: int = 0  # operations tried again after a deadlock or serialization failure


async def _retrying(step: Callable[[], Awaitable[T]], stats: SeedStats) -> T:
    """Run one operation (its own session and transaction); on a deadlock or serialization
    failure, which roll the whole transaction back, try it again as a client would."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return await step()
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _TRANSIENT or attempt == _ATTEMPTS:
                raise
            stats.retries += 1
            await asyncio.sleep(0.02 * attempt * (1 + random.random()))  # noqa: S311
    raise AssertionError("unreachable")


async def create_person(
    resources: Resources,
    credentials: Credentials,
    spec: PersonSpec,
    today: date,
    stats: SeedStats | None = None,
) -> uuid.UUID:
    """One person, as a client would make them (except that the account is made without the
    emailed code): createProfile, updatePreferences and setInterests, each in its own session
    (one per operation)."""
    stats = stats or SeedStats()

    async def register() -> accounts.SignIn:
        async with resources.sessionmaker() as session:
            return await accounts.create_account(
                session, credentials, resources.token_ttl, spec.email, DEMO_PASSWORD
            )

    signed_up = await _retrying(register, stats)
    # The viewer the API would resolve from that token.
    found = await accounts.authenticate(resources.raw_pool, credentials, signed_up.token)
    if found is None:
        raise SeedError(f"{spec.email}: the token issued at sign-up does not authenticate")
    viewer, _ = found

    async def create_profile() -> None:
        async with resources.sessionmaker() as session:
            op = Operation.of_tool(viewer, resources, session)
            await profiles.create_profile(op, spec.profile, today)

    async def update_preferences() -> None:
        async with resources.sessionmaker() as session:
            op = Operation.of_tool(viewer, resources, session)
            await profiles.update_preferences(op, spec.preferences)

    async def set_interests() -> None:
        async with resources.sessionmaker() as session:
            await interests.set_interests(
                Operation.of_tool(viewer, resources, session), spec.interests
            )

    for step in (create_profile, update_preferences, set_interests):
        await _retrying(step, stats)
    return viewer.id


async def existing_emails(resources: Resources, specs: Sequence[PersonSpec]) -> set[str]:
    """Which of these people already have an account (to resume or top up a seeded database)."""
    found: set[str] = set()
    emails = [s.email for s in specs]
    async with resources.sessionmaker() as session:
        for i in range(0, len(emails), 5000):
            rows = await session.execute(
                select(col(User.email)).where(col(User.email).in_(emails[i : i + 5000]))
            )
            found.update(rows.scalars())
    return found


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group


async def seed(
    resources: Resources,
    specs: Sequence[PersonSpec],
    *,
    concurrency: int = 8,
    progress: bool = True,
) -> list[uuid.UUID]:
    """Create `specs` through the API's resolver functions, `concurrency` at a time (so the
    batching encoder embeds several profiles per call); returns their ids in spec order.
    The first failure stops everything and is raised as SeedError naming the person."""
    from tqdm import tqdm

    credentials = SeedCredentials(resources.settings)
    stats = SeedStats()
    today = datetime.now(UTC).date()
    ids: list[uuid.UUID | None] = [None] * len(specs)
    gate = asyncio.Semaphore(concurrency)
    interactive = sys.stderr.isatty()
    with tqdm(
        total=len(specs),
        unit="people",
        disable=not progress,
        mininterval=0.5 if interactive else 15,
        smoothing=0.05,
        dynamic_ncols=interactive,
    ) as bar:

        async def one(i: int, spec: PersonSpec) -> None:
            try:
                ids[i] = await create_person(resources, credentials, spec, today, stats)
            except Exception as exc:
                raise SeedError(f"seeding {spec.email} failed: {exc!r}") from exc
            finally:
                gate.release()
            bar.update(1)

        try:
            async with asyncio.TaskGroup() as tasks:
                for i, spec in enumerate(specs):
                    await gate.acquire()
                    tasks.create_task(one(i, spec))
        except BaseExceptionGroup as group:
            raise _first_error(group) from None
        finally:
            if stats.retries:
                bar.write(
                    f"note: {stats.retries} operations were retried after a deadlock or "
                    "serialization failure",
                    file=sys.stderr,
                )
    return [i for i in ids if i is not None]
