"""Property tests for every input of the schema, through the GraphQL schema (the `gql` fixture:
variable coercion, schema resolvers, resolver rules, validation, the database), so the whole
path is covered; tests/test_validation.py has the unit-level properties of
resolvers/validation.py.

Arbitrary input, hostile included (huge, unicode, control and invisible characters, NaN-ish
strings and floats, negative and out-of-range numbers, malformed ids and cursors), has one of
three outcomes:
- accepted, and what is stored and read back is normalised and within the documented limits;
- refused with a typed error (ValidationError naming each bad field with a code and a message,
  NotFound, NotAllowed, AlreadyExists, InvalidCredentials, AuthenticationRequired, RateLimited),
  and then nothing in the database changed;
- refused by GraphQL itself (a variable of the wrong type: nothing ran, nothing changed).
Never an unexpected (masked) error. `test_every_input_has_a_property` fails when schema.graphql
gains an input type or a root field argument that no property here exercises.
"""

from __future__ import annotations

import asyncio
import base64
import json
import operator
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import graphql
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models.chat import MAX_BODY, MAX_CLIENT_ID
from models.matching import MAX_NOTE
from rapport.errors import ErrorCode, Problems
from rapport.rate_limits import Limit
from rapport.settings import PROJECT_ROOT, Settings
from resolvers import validation
from schema import schema
from schema.context import Context
from schema.ids import global_id, key_of
from tests.support.database import snapshot
from tests.support.gql import Gql
from tests.support.mailbox import CONFIRM, PASSWORD, code_in, latest_email, sign_up_code
from tests.support.mailbox import REGISTER as SIGN_UP
from tests.support.people import Person, person, profile_input, years_ago
from tests.support.settings import make_settings

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ERROR_CODES = {code.name for code in ErrorCode}
TYPED_ERRORS = {
    "ValidationError",
    "NotFound",
    "NotAllowed",
    "AlreadyExists",
    "InvalidCredentials",
    "AuthenticationRequired",
    "RateLimited",
}
OUTCOME = """
fragment Outcome on Error { __typename code message
  ... on ValidationError { errors { field code message } }
  ... on NotFound { field missingId }
  ... on AlreadyExists { field } }"""


@pytest.fixture(name="settings")
def rapport_settings(database_url: str) -> Settings:
    """Properties of the input rules, not of the rate limits (one owner takes many examples):
    those are tests/test_rate_limits.py's and the privacy tests'."""
    return make_settings(database_url, rate_limits=dict.fromkeys(Limit, "1000000/minute"))


# ---------------------------------------------------------------------------------------------
# Hostile values


BLANK_AND_CONTROL = ["", " ", "\t", "\n\n\n\n", "\r\n", "\x00", "\x1b[31m", "\u2028"]
INVISIBLE = ["\u202egnp.exe", "\ufeff", "\u200b", "a\u00a0b", "\u0300", "e\u0301"]
NUMBER_LIKE = ["NaN", "-Infinity", "1e309", "-1", "0", "null", "None", "true", "[]"]
INJECTION_LIKE = ["' OR '1'='1", "%", "_", "\\", "<script>alert(1)</script>"]
CASE_TRAPS = ["\ufb01", "\u01c4", "\u0130", "\u00df", "\U0001f600", "\U0001f469\u200d\U0001f467"]
ODD = BLANK_AND_CONTROL + INVISIBLE + NUMBER_LIKE + INJECTION_LIKE + CASE_TRAPS


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any text (no lone surrogates: see tests/test_fuzz_graphql.py), odd pieces, and huge."""
    return st.one_of(
        st.text(max_size=max_size),
        st.sampled_from(ODD),
        st.lists(st.sampled_from([*ODD, "a", "Z", "9", " "]), max_size=8).map("".join),
        st.builds(
            operator.mul,
            st.sampled_from(["a", "\u00e9", "\U0001f600", " ", "\n", "\x00", "ab "]),
            st.integers(0, 6000),
        ),
    )


def around(*limits: int) -> st.SearchStrategy[str]:
    """Plain text just under, at and just over each length limit."""
    return st.sampled_from([n + d for n in limits for d in (-1, 0, 1)]).map(lambda n: "x" * n)


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Valid three times in four, so that inputs of several fields are sometimes accepted."""
    return st.integers(0, 3).flatmap(lambda n: hostile if n == 0 else valid)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def ints(low: int, high: int) -> st.SearchStrategy[int]:
    """In range, or near it, or anywhere (past 32 bits GraphQL itself refuses it)."""
    return mostly(st.integers(low, high), st.one_of(st.integers(low - 5, high + 5), st.integers()))


def enum_names(*names: str) -> st.SearchStrategy[str]:
    """An enum's values, or values GraphQL must refuse."""
    return mostly(st.sampled_from(names), st.sampled_from(["", "woman", "NONE", "1", names[0][:3]]))


def words(max_size: int) -> st.SearchStrategy[str]:
    """Text a person might type: letters of any script, spaces, some punctuation."""
    alphabet = st.characters(categories=["L", "M", "N", "Zs", "Po", "So"])
    return st.text(alphabet, min_size=1, max_size=max_size)


URLS = mostly(
    st.builds(
        "https://{}.example.com/{}".format,
        st.text("abcxyz-", min_size=1, max_size=8),
        st.text("abc/._~%", max_size=20),
    ),
    st.one_of(
        st.sampled_from(
            [
                "HTTPS://IMG.EXAMPLE.COM/C.JPG",
                "http://img.example.com/a.jpg",
                "https://user:pw@img.example.com/a.jpg",
                "https://[::1",
                "https://",
                "javascript:alert(1)",
                "//img.example.com/a.jpg",
                " https://img.example.com/ spaced.jpg",
                "https://img.example.com/" + "x" * 2100,
            ]
        ),
        texts(),
    ),
)
DATES = mostly(
    st.builds(years_ago, st.integers(18, 119), st.integers(0, 364)),
    st.one_of(
        st.integers(0, 130).map(years_ago),
        st.dates().map(date.isoformat),
        st.sampled_from(["", "2000-02-30", "1990-13-01", "today", "2000-01-01T00:00:00", "-1"]),
    ),
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
LOCATIONS = mostly(
    st.fixed_dictionaries(
        {"city": words(100), "latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)}
    ),
    st.one_of(
        st.fixed_dictionaries({"city": texts(120), "latitude": FLOATS, "longitude": FLOATS}),
        st.fixed_dictionaries({"city": st.just("Lisbon"), "latitude": st.just(38.7)}),
    ),
)
SOCIAL_LINKS = st.lists(
    st.fixed_dictionaries({"platform": mostly(words(30), around(30) | texts()), "url": URLS}),
    max_size=11,
)
TAGS = mostly(words(40), st.one_of(texts(), around(40)))
PROFILE_FIELDS = {
    "displayName": mostly(words(50), st.one_of(texts(60), around(50))),
    "birthDate": DATES,
    "gender": enum_names("WOMAN", "MAN", "NON_BINARY", "OTHER"),
    "intent": enum_names("DATING", "FRIENDSHIP", "MENTORSHIP"),
    "mentorshipRole": maybe(enum_names("MENTOR", "MENTEE")),
    "expertise": maybe(st.lists(TAGS, max_size=21)),
    "bio": maybe(mostly(st.text(max_size=300), st.one_of(texts(), around(2000)))),
    "goals": maybe(mostly(st.text(max_size=300), st.one_of(texts(), around(1000)))),
    "heightCm": maybe(ints(90, 250)),
    "location": maybe(LOCATIONS),
    "photoUrls": maybe(st.lists(URLS, max_size=7)),
    "socialLinks": maybe(SOCIAL_LINKS),
}


@st.composite
def cursors(draw: st.DrawFn) -> str:
    """Strings shaped like cursors: base64 of JSON that no list issues, and plain junk."""
    junk: st.SearchStrategy[Any] = st.one_of(
        st.integers(),
        st.integers(2**62, 2**70),
        st.floats(allow_nan=False),
        st.text(max_size=10),
        st.sampled_from(["\x00", "x" * 300, None, True, [], {}]),
    )
    key = draw(st.one_of(st.lists(junk, max_size=3), junk))
    raw = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    return draw(st.sampled_from([raw, raw.rstrip("="), raw + "!", raw[:-2]]))


# ---------------------------------------------------------------------------------------------
# Running an operation, and judging its outcome


async def attempt(gql: Gql, query: str, variables: dict[str, Any], token: str | None) -> Any:
    """The root field `r` of the operation's result, or None when GraphQL refused a variable
    before anything ran. Any other error (a masked, unexpected one) fails the test."""
    result = await gql.raw(query + OUTCOME, variables, token)
    if result.errors:
        for error in result.errors:
            # not from a resolver: GraphQL refusing a variable (BAD_USER_INPUT, or
            # INVALID_UNICODE: schema/limits.py)
            assert error.path is None, error
            assert (error.extensions or {}).get("code") in {"BAD_USER_INPUT", "INVALID_UNICODE"}
        assert result.data is None, result
        return None
    return result.data["r"]


def field_root(path: str) -> str:
    """'socialLinks[2].url' -> 'socialLinks'."""
    return path.split("[")[0].split(".")[0]


def is_refusal(outcome: Any, fields: Collection[str]) -> bool:
    """Whether the outcome is a refusal; if it is, it must be a well-formed typed error whose
    ValidationError names only the operation's own fields (arguments, or input fields)."""
    if outcome is None:
        return True
    if outcome["__typename"] not in TYPED_ERRORS:
        return False
    assert outcome["code"] in ERROR_CODES and outcome["message"], outcome
    if outcome["__typename"] == "ValidationError":
        assert outcome["errors"], outcome
        for error in outcome["errors"]:
            assert field_root(error["field"]) in {*fields, "input"}, outcome
            assert error["code"] in ERROR_CODES and error["message"], outcome
    return True


async def judged(
    gql: Gql,
    query: str,
    variables: dict[str, Any],
    token: str | None,
    fields: Collection[str],
) -> Any:
    """Run the operation; a refusal must have changed nothing. Returns the outcome, or None
    for a refusal."""
    before = await snapshot(gql.resources)
    outcome = await attempt(gql, query, variables, token)
    event("GraphQL refused a variable" if outcome is None else outcome["__typename"])
    if is_refusal(outcome, fields):
        assert await snapshot(gql.resources) == before, (variables, outcome)
        return None
    return {name: value for name, value in outcome.items() if name != "__typename"}


def is_clean_text(value: str, max_length: int, *, multiline: bool = False) -> bool:
    return (
        len(value) <= max_length and validation.normalise_text(value, multiline=multiline) == value
    )


def is_clean_tag(value: str) -> bool:
    return 0 < len(value) <= 40 and validation.tag(value) == value


# ---------------------------------------------------------------------------------------------
# Accounts: RegisterInput, LoginInput, ChangePasswordInput

ME = "{ me { ... on Me { id email profile { %s } preferences { %s } } } }"
REGISTER = """mutation($i: RegisterInput!) { r: register(input: $i) {
  __typename ...Outcome ... on RegistrationStarted { email } } }"""
LOGIN = """mutation($i: LoginInput!) { r: login(input: $i) {
  __typename ...Outcome ... on AuthPayload { token } } }"""
CHANGE_PASSWORD = """mutation($i: ChangePasswordInput!) { r: changePassword(input: $i) {
  __typename ...Outcome ... on ChangePasswordPayload { revokedTokens } } }"""
PASSWORDS = mostly(st.text(min_size=10, max_size=256), st.one_of(texts(), around(10, 256)))


@PROPERTY_SETTINGS
@given(
    email=mostly(st.emails() | st.emails().map(str.upper), texts() | around(254)),
    password=PASSWORDS,
)
async def test_register(gql: Gql, email: str, password: str) -> None:
    outcome = await judged(
        gql, REGISTER, {"i": {"email": email, "password": password}}, None, ["email", "password"]
    )
    if outcome is not None:
        stored = outcome["email"]
        assert 10 <= len(password) <= 256
        assert stored == stored.lower() == validation.normalise_text(stored) and len(stored) <= 254
        assert stored == validation.email(Problems(), "email", email)
        mail = await latest_email(gql.resources.raw_pool, stored)
        if mail is not None and "already have one" in mail:
            return  # the address was drawn before and that sign-up made the account
        code = code_in(mail)
        confirm = {"email": email, "code": code, "password": password}
        signed_in = (await gql(CONFIRM, {"i": confirm}))["confirmRegistration"]
        assert signed_in["__typename"] == "AuthPayload", signed_in
        me = await gql(ME % ("id", "ageMin"), token=signed_in["token"])
        assert me["me"]["email"] == stored


@PROPERTY_SETTINGS
@given(
    email=st.one_of(st.just("known"), st.emails(), texts()),
    password=st.one_of(st.just(PASSWORD), PASSWORDS),
)
async def test_login(gql: Gql, email: str, password: str) -> None:
    known = f"login-{uuid.uuid4().hex[:8]}@example.com"
    await gql.register(known)
    email = known.upper() if email == "known" else email
    outcome = await judged(
        gql, LOGIN, {"i": {"email": email, "password": password}}, None, ["email", "password"]
    )
    if outcome is not None:  # only the right address and password let anyone in
        assert (email.lower(), password) == (known, PASSWORD)
        assert (await gql(ME % ("id", "ageMin"), token=outcome["token"]))["me"]["email"] == known


CONFIRM_OUTCOME = """mutation($i: ConfirmRegistrationInput!) { r: confirmRegistration(input: $i) {
  __typename ...Outcome ... on AuthPayload { token } } }"""


@PROPERTY_SETTINGS
@given(
    email=st.one_of(st.just("pending"), st.emails(), texts()),
    code=st.one_of(st.just("right"), st.text(max_size=12), st.from_regex(r"\A\d{6}\Z")),
    password=st.one_of(st.just(PASSWORD), PASSWORDS),
)
async def test_confirm_registration(gql: Gql, email: str, code: str, password: str) -> None:
    pending = f"pending-{uuid.uuid4().hex[:8]}@example.com"
    started = await gql(SIGN_UP, {"i": {"email": pending, "password": PASSWORD}})
    assert started["register"]["__typename"] == "RegistrationStarted"
    right = await sign_up_code(gql.resources.raw_pool, pending)
    email = pending.upper() if email == "pending" else email
    code = right if code == "right" else code
    variables = {"i": {"email": email, "code": code, "password": password}}
    outcome = await judged(gql, CONFIRM_OUTCOME, variables, None, ["email", "code", "password"])
    if outcome is not None:  # only the sign-up's own address, code and password make it
        assert (email.lower(), code.strip(), password) == (pending, right, PASSWORD)


@dataclass
class Account:
    token: str
    password: str


@pytest.fixture
async def account(gql: Gql) -> Account:
    return Account(await gql.register(), PASSWORD)


@PROPERTY_SETTINGS
@given(current=mostly(st.just("current"), PASSWORDS), new=PASSWORDS)
async def test_change_password(gql: Gql, account: Account, current: str, new: str) -> None:
    current = account.password if current == "current" else current
    variables = {"i": {"currentPassword": current, "newPassword": new}}
    outcome = await judged(
        gql, CHANGE_PASSWORD, variables, account.token, ["currentPassword", "newPassword"]
    )
    if outcome is not None:
        assert current == account.password != new and 10 <= len(new) <= 256
        account.password = new
        email = (await gql(ME % ("id", "ageMin"), token=account.token))["me"]["email"]
        login = {"i": {"email": email, "password": new}}
        assert (await attempt(gql, LOGIN, login, None))["__typename"] == "AuthPayload"


# ---------------------------------------------------------------------------------------------
# Profiles: CreateProfileInput, UpdateProfileInput (with LocationInput, SocialLinkInput)

OWN_PROFILE = """displayName age bio goals heightCm gender city photoUrls intent mentorshipRole
  expertise interests birthDate location { city latitude longitude } socialLinks { platform url }"""
PREFERENCES = "ageMin ageMax heightMinCm heightMaxCm genders maxDistanceKm intents"
CREATE = f"""mutation($i: CreateProfileInput!) {{ r: createProfile(input: $i) {{
  __typename ...Outcome ... on OwnProfile {{ {OWN_PROFILE} }} }} }}"""
UPDATE = f"""mutation($i: UpdateProfileInput!) {{ r: updateProfile(input: $i) {{
  __typename ...Outcome ... on OwnProfile {{ {OWN_PROFILE} }} }} }}"""


def check_profile(profile: dict[str, Any]) -> None:
    """What any stored profile obeys (README: Age 18-120, bio <= 2000 characters...)."""
    assert profile["displayName"] and is_clean_text(profile["displayName"], 50)
    assert 18 <= profile["age"] <= 120
    assert is_clean_text(profile["bio"], 2000, multiline=True)
    assert is_clean_text(profile["goals"], 1000, multiline=True)
    assert profile["heightCm"] is None or 90 <= profile["heightCm"] <= 250
    assert len(profile["photoUrls"]) <= 6 and len(set(profile["photoUrls"])) == len(
        profile["photoUrls"]
    )
    for url in [*profile["photoUrls"], *(link["url"] for link in profile["socialLinks"])]:
        parts = urlsplit(url)
        assert parts.scheme.lower() == "https" and parts.hostname and not parts.username, url
        assert is_clean_text(url, 2048)
    assert len(profile["socialLinks"]) <= 10
    assert all(0 < len(link["platform"]) <= 30 for link in profile["socialLinks"])
    assert all(is_clean_text(link["platform"], 30) for link in profile["socialLinks"])
    assert len(profile["expertise"]) <= 20 and all(map(is_clean_tag, profile["expertise"]))
    assert len(set(profile["expertise"])) == len(profile["expertise"])
    mentoring = profile["intent"] == "MENTORSHIP"
    assert (profile["mentorshipRole"] is not None) == mentoring
    assert mentoring or not profile["expertise"]
    location = profile["location"]
    if location is not None:
        assert location["city"] == profile["city"] and is_clean_text(location["city"], 100)
        assert -90 <= location["latitude"] <= 90 and -180 <= location["longitude"] <= 180


def check_sent_fields(sent: dict[str, Any], stored: dict[str, Any]) -> None:
    """Fields sent already clean are stored as sent."""
    for name, limit, multiline in (
        ("displayName", 50, False),
        ("bio", 2000, True),
        ("goals", 1000, True),
    ):
        value = sent.get(name)
        if value is not None and is_clean_text(value, limit, multiline=multiline):
            assert stored[name] == value, name
    for name in ("heightCm", "birthDate", "gender", "intent"):
        if name in sent and sent[name] is not None:
            assert stored[name] == sent[name], name


def some_of(fields: dict[str, st.SearchStrategy[Any]], most: int) -> st.SearchStrategy[Any]:
    """Values for a few of the fields."""
    names = st.lists(st.sampled_from(sorted(fields)), max_size=most, unique=True)
    return names.flatmap(lambda chosen: st.fixed_dictionaries({n: fields[n] for n in chosen}))


@PROPERTY_SETTINGS
@given(
    changes=mostly(some_of(PROFILE_FIELDS, 3), st.just(None)),
    anything=st.fixed_dictionaries({}, optional=PROFILE_FIELDS),
)
async def test_create_profile(
    gql: Gql, changes: dict[str, Any] | None, anything: dict[str, Any]
) -> None:
    """From a valid input with a few fields changed, or from an arbitrary one."""
    token = await gql.register()
    sent = anything if changes is None else {**profile_input(), **changes}
    outcome = await judged(gql, CREATE, {"i": sent}, token, PROFILE_FIELDS)
    if outcome is not None:
        check_profile(outcome)
        check_sent_fields(sent, outcome)
        me = (await gql(ME % (OWN_PROFILE, PREFERENCES), token=token))["me"]
        assert me["profile"] == outcome and me["preferences"]["intents"] == [outcome["intent"]]


@pytest.fixture
async def owner(gql: Gql) -> Person:
    return await person(gql, interests=("climbing", "chess"))


@PROPERTY_SETTINGS
@given(fields=st.fixed_dictionaries({}, optional=PROFILE_FIELDS))
async def test_update_profile(gql: Gql, owner: Person, fields: dict[str, Any]) -> None:
    before = (await gql(ME % (OWN_PROFILE, PREFERENCES), token=owner.token))["me"]["profile"]
    outcome = await judged(gql, UPDATE, {"i": fields}, owner.token, PROFILE_FIELDS)
    if outcome is not None:
        check_profile(outcome)
        check_sent_fields(fields, outcome)
        unsent = set(PROFILE_FIELDS) - set(fields) - {"mentorshipRole", "expertise", "location"}
        assert {k: outcome[k] for k in unsent} == {k: before[k] for k in unsent}
        me = (await gql(ME % (OWN_PROFILE, PREFERENCES), token=owner.token))["me"]
        assert me["profile"] == outcome


# ---------------------------------------------------------------------------------------------
# UpdatePreferencesInput, setInterests(names)

PREFS = f"""mutation($i: UpdatePreferencesInput!) {{ r: updatePreferences(input: $i) {{
  __typename ...Outcome ... on Preferences {{ {PREFERENCES} }} }} }}"""
PREFERENCE_FIELDS = {
    "ageMin": maybe(ints(18, 120)),
    "ageMax": maybe(ints(18, 120)),
    "heightMinCm": maybe(ints(90, 250)),
    "heightMaxCm": maybe(ints(90, 250)),
    "genders": maybe(st.lists(enum_names("WOMAN", "MAN", "NON_BINARY", "OTHER"), max_size=6)),
    "maxDistanceKm": maybe(ints(1, 20040)),
    "intents": maybe(st.lists(enum_names("DATING", "FRIENDSHIP", "MENTORSHIP"), max_size=5)),
}


@PROPERTY_SETTINGS
@given(fields=st.fixed_dictionaries({}, optional=PREFERENCE_FIELDS))
async def test_update_preferences(gql: Gql, owner: Person, fields: dict[str, Any]) -> None:
    before = (await gql(ME % ("id", PREFERENCES), token=owner.token))["me"]["preferences"]
    outcome = await judged(gql, PREFS, {"i": fields}, owner.token, PREFERENCE_FIELDS)
    if outcome is not None:
        assert 18 <= outcome["ageMin"] <= outcome["ageMax"] <= 120
        low, high = outcome["heightMinCm"], outcome["heightMaxCm"]
        assert all(h is None or 90 <= h <= 250 for h in (low, high))
        assert low is None or high is None or low <= high
        assert outcome["maxDistanceKm"] is None or 1 <= outcome["maxDistanceKm"] <= 20040
        for name in ("genders", "intents"):
            assert outcome[name] and len(set(outcome[name])) == len(outcome[name])
            if fields.get(name):
                assert outcome[name] == list(dict.fromkeys(fields[name]))
        assert {k: v for k, v in outcome.items() if k not in fields} == {
            k: v for k, v in before.items() if k not in fields
        }
        assert (await gql(ME % ("id", PREFERENCES), token=owner.token))["me"]["preferences"] == (
            outcome
        )


SET_INTERESTS = """mutation($n: [String!]!) { r: setInterests(names: $n) {
  __typename ...Outcome ... on InterestsPayload { interests } } }"""


@PROPERTY_SETTINGS
@given(names=st.one_of(st.lists(TAGS, max_size=32), st.lists(words(3), min_size=25, max_size=40)))
async def test_set_interests(gql: Gql, owner: Person, names: list[str]) -> None:
    outcome = await judged(gql, SET_INTERESTS, {"n": names}, owner.token, ["names", "interests"])
    if outcome is not None:
        stored = outcome["interests"]
        assert stored == sorted({validation.tag(n) for n in names})
        assert len(stored) <= 30 and all(map(is_clean_tag, stored))
        me = (await gql(ME % ("interests", "ageMin"), token=owner.token))["me"]
        assert sorted(me["profile"]["interests"]) == stored  # (the database's collation orders)


# ---------------------------------------------------------------------------------------------
# like(note), sendInterest(message), sendMessage(body, clientMessageId)

LIKE = """mutation($id: ID!, $note: String) { r: like(userId: $id, note: $note) {
  __typename ...Outcome ... on SwipePayload { swipe { note kind } } } }"""
SEND_INTEREST = """mutation($id: ID!, $m: String!) { r: sendInterest(userId: $id, message: $m) {
  __typename ...Outcome ... on InterestRequest { message status } } }"""
SEND_MESSAGE = """mutation($c: ID!, $b: String!, $k: String!) {
  r: sendMessage(conversationId: $c, body: $b, clientMessageId: $k) {
    __typename ...Outcome ... on Message { body clientMessageId mine } } }"""


@pytest.fixture
async def target(gql: Gql) -> Person:
    return await person(gql)


@PROPERTY_SETTINGS
@given(note=maybe(st.one_of(texts(), around(MAX_NOTE))))
async def test_like_note(gql: Gql, target: Person, note: str | None) -> None:
    swiper = await person(gql)  # a fresh one each time: a like is once per pair
    outcome = await judged(gql, LIKE, {"id": target.id, "note": note}, swiper.token, ["note"])
    if outcome is not None:
        stored = outcome["swipe"]["note"]
        assert outcome["swipe"]["kind"] == "LIKE"
        assert stored is None or (stored and is_clean_text(stored, MAX_NOTE))
        assert (stored or "") == validation.normalise_text(note or "")


@PROPERTY_SETTINGS
@given(message=st.one_of(texts(), around(MAX_NOTE)))
async def test_send_interest_message(gql: Gql, target: Person, message: str) -> None:
    sender = await person(gql)  # a fresh one each time: one pending request per pair
    variables = {"id": target.id, "m": message}
    outcome = await judged(gql, SEND_INTEREST, variables, sender.token, ["message"])
    if outcome is not None:
        assert outcome["status"] == "PENDING"
        assert is_clean_text(outcome["message"], MAX_NOTE, multiline=True)
        assert outcome["message"] == validation.normalise_text(message, multiline=True)


@dataclass
class Chat:
    """Two matched people and their conversation, and a third who asked the first to meet."""

    a: Person
    b: Person
    conversation_id: str
    ids: list[str]  # every id involved: users, match, conversation, messages, request...
    sent: dict[str, Any] = field(default_factory=dict)  # by clientMessageId


SETUP_LIKE = """mutation($id: ID!) { like(userId: $id) {
  ... on SwipePayload { match { id } } } }"""
SETUP_CONVERSATIONS = "{ conversations { ... on ConversationConnection { nodes { id } } } }"
SETUP_SEND = """mutation($c: ID!, $k: String!) {
  sendMessage(conversationId: $c, body: "hello", clientMessageId: $k) { ... on Message { id } } }"""
SETUP_INTEREST = """mutation($id: ID!) { sendInterest(userId: $id, message: "hi") {
  ... on InterestRequest { id } } }"""
SETUP_NOTIFICATIONS = "{ notifications { ... on NotificationConnection { nodes { id } } } }"


@pytest.fixture
async def chat(gql: Gql) -> Chat:
    """Two people matched (a conversation with a message each way), and an interest request
    from a third person to the first, with the notifications all that made."""
    a, b, c = await person(gql), await person(gql), await person(gql)
    ids = [a.id, b.id, c.id]
    await gql(SETUP_LIKE, {"id": b.id}, token=a.token)
    ids.append((await gql(SETUP_LIKE, {"id": a.id}, token=b.token))["like"]["match"]["id"])
    (conversation,) = (await gql(SETUP_CONVERSATIONS, token=a.token))["conversations"]["nodes"]
    ids.append(conversation["id"])
    for sender in (a, b):
        variables = {"c": conversation["id"], "k": uuid.uuid4().hex}
        ids.append((await gql(SETUP_SEND, variables, token=sender.token))["sendMessage"]["id"])
    ids.append((await gql(SETUP_INTEREST, {"id": a.id}, token=c.token))["sendInterest"]["id"])
    notifications = await gql(SETUP_NOTIFICATIONS, token=a.token)
    ids += [n["id"] for n in notifications["notifications"]["nodes"]]
    return Chat(a, b, conversation["id"], ids)


@PROPERTY_SETTINGS
@given(
    body=st.one_of(texts(), around(MAX_BODY)),
    key=st.one_of(texts(), around(MAX_CLIENT_ID), st.uuids().map(str)),
)
async def test_send_message(gql: Gql, chat: Chat, body: str, key: str) -> None:
    variables = {"c": chat.conversation_id, "b": body, "k": key}
    outcome = await judged(gql, SEND_MESSAGE, variables, chat.a.token, ["body", "clientMessageId"])
    if outcome is not None:
        stored_key = outcome["clientMessageId"]
        assert stored_key == key.strip() and stored_key.isprintable()
        assert 1 <= len(stored_key) <= MAX_CLIENT_ID
        if stored_key in chat.sent:  # a retry: the message stored the first time
            assert outcome == chat.sent[stored_key]
        else:
            assert outcome["mine"] and outcome["body"]
            assert outcome["body"] == validation.normalise_text(body, multiline=True)
            assert len(outcome["body"]) <= MAX_BODY
            chat.sent[stored_key] = outcome


# ---------------------------------------------------------------------------------------------
# Ids, cursors and page sizes of every query, mutation and subscription argument


@dataclass(frozen=True)
class Known:
    """Stands for the n-th id of the chat fixture (resolved when the test runs)."""

    n: int


IDS = mostly(
    st.integers(0, 31).map(Known),
    st.one_of(
        texts(),
        st.integers().map(str),
        st.integers(0, 10**20).map(str),
        st.uuids().map(str),
    ),
)
FIRST = maybe(st.one_of(ints(1, 100), st.integers(-(2**31), 2**31 - 1)))
AFTER = mostly(st.none(), st.one_of(cursors(), texts(), IDS))
PAGE = {"first": ("Int", FIRST), "after": ("String", AFTER)}  # a list's page arguments


@dataclass(frozen=True)
class Operation:
    """A root field whose arguments are ids, cursors, page sizes, filters or short text; each
    argument is (its GraphQL type, a strategy)."""

    root: str  # Query, Mutation or Subscription
    field: str
    args: dict[str, tuple[str, st.SearchStrategy[Any]]]
    connection: str | None = None  # the connection type, for lists

    @property
    def query(self) -> str:
        kind = self.root.lower()
        declared = ", ".join(f"${name}: {kind_}" for name, (kind_, _) in self.args.items())
        used = ", ".join(f"{name}: ${name}" for name in self.args)
        page = f"... on {self.connection} {{ edges {{ cursor }} }}" if self.connection else ""
        return (
            f"{kind}({declared}) {{ r: {self.field}({used}) {{ __typename ...Outcome {page} }} }}"
        )


def operation(root: str, field: str, connection: str | None = None, **args: Any) -> Operation:
    return Operation(root, field, args, connection)


OPERATIONS = [
    operation("Query", "user", id=("ID!", IDS)),
    operation("Query", "presence", userId=("ID!", IDS)),
    operation(
        "Query",
        "interests",
        "InterestCountConnection",
        prefix=("String", maybe(st.one_of(texts(), around(40)))),
        orderBy=("InterestOrder!", enum_names("POPULAR", "NAME")),
        **PAGE,
    ),
    operation("Query", "recommendations", "RecommendationConnection", **PAGE),
    operation(
        "Query",
        "matches",
        "MatchConnection",
        status=("MatchStatus", maybe(enum_names("ACTIVE", "UNMATCHED"))),
        **PAGE,
    ),
    operation(
        "Query",
        "interestRequests",
        "InterestRequestConnection",
        direction=("InterestDirection!", enum_names("RECEIVED", "SENT")),
        status=("InterestRequestStatus", maybe(enum_names("PENDING", "ACCEPTED", "CANCELLED"))),
        **PAGE,
    ),
    operation("Query", "conversations", "ConversationConnection", **PAGE),
    operation(
        "Query",
        "messages",
        "MessageConnection",
        conversationId=("ID!", IDS),
        first=("Int", FIRST),
        before=("ID", maybe(IDS)),
        after=("ID", maybe(IDS)),
    ),
    operation(
        "Query",
        "notifications",
        "NotificationConnection",
        **PAGE,
        unreadOnly=("Boolean!", st.booleans()),
    ),
    operation("Mutation", "like", userId=("ID!", IDS), note=("String", maybe(texts()))),
    operation("Mutation", "pass", userId=("ID!", IDS)),
    operation("Mutation", "unmatch", matchId=("ID!", IDS)),
    operation("Mutation", "sendInterest", userId=("ID!", IDS), message=("String!", texts())),
    operation(
        "Mutation",
        "respondToInterest",
        id=("ID!", IDS),
        response=("InterestResponse!", enum_names("ACCEPT", "REJECT")),
    ),
    operation("Mutation", "cancelInterest", id=("ID!", IDS)),
    operation("Mutation", "block", userId=("ID!", IDS)),
    operation("Mutation", "unblock", userId=("ID!", IDS)),
    operation(
        "Mutation",
        "sendMessage",
        conversationId=("ID!", IDS),
        body=("String!", texts()),
        clientMessageId=("String!", st.uuids().map(str)),
    ),
    operation("Mutation", "markRead", conversationId=("ID!", IDS), upTo=("ID!", IDS)),
    operation("Mutation", "sendTyping", conversationId=("ID!", IDS)),
    operation("Mutation", "markNotificationsRead", upTo=("ID", maybe(IDS))),
    operation(
        "Mutation",
        "report",
        userId=("ID!", IDS),
        reason=("ReportReason!", enum_names("HARASSMENT", "SPAM", "OTHER")),
        details=("String!", st.one_of(texts(), around(2000))),
    ),
    operation("Mutation", "suspendUser", userId=("ID!", IDS), reason=("String!", texts())),
    operation("Mutation", "reinstateUser", userId=("ID!", IDS)),
    operation("Mutation", "dismissReport", id=("ID!", IDS), note=("String!", texts())),
    operation("Mutation", "correctBirthDate", userId=("ID!", IDS), birthDate=("Date!", DATES)),
    operation(
        "Query",
        "reports",
        "ReportConnection",
        status=("ReportStatus", maybe(enum_names("OPEN", "ACTION_TAKEN", "DISMISSED"))),
        reportedUserId=("ID", maybe(IDS)),
        **PAGE,
    ),
    operation("Mutation", "deleteAccount", password=("String!", texts())),
]
SUBSCRIPTIONS = [
    operation(
        "Subscription", "messageAdded", conversationId=("ID!", IDS), after=("ID", maybe(IDS))
    ),
    operation("Subscription", "notifications", after=("ID", maybe(IDS))),
    operation("Subscription", "typing", conversationId=("ID!", IDS)),
    operation("Subscription", "readReceipts", conversationId=("ID!", IDS)),
]


def arguments(op: Operation) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({name: strategy for name, (_, strategy) in op.args.items()})


def resolve(values: dict[str, Any], chat: Chat) -> dict[str, Any]:
    return {
        name: chat.ids[value.n % len(chat.ids)] if isinstance(value, Known) else value
        for name, value in values.items()
    }


ID_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=12)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.root}.{op.field}")
@ID_SETTINGS
@given(data=st.data())
async def test_ids_cursors_and_pages(
    gql: Gql, chat: Chat, op: Operation, data: st.DataObject
) -> None:
    variables = resolve(data.draw(arguments(op), label="arguments"), chat)
    outcome = await judged(gql, op.query, variables, chat.a.token, op.args)
    if outcome is not None and op.connection:
        first = variables.get("first")
        assert len(outcome["edges"]) <= (20 if first is None else min(first, 100))
        assert all(edge["cursor"] for edge in outcome["edges"])


def sure_to_wait(op: Operation, variables: dict[str, Any], chat: Chat) -> bool:
    """Whether a subscription may rightly wait for events (else it must refuse at once): its
    conversation, if it has one, is the chat's, and its `after`, if any, is a well-formed id."""

    def number(value: str, *kinds: str) -> int | None:
        value = key_of(value, *kinds)  # a global id of that kind, or a raw number
        return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None

    conversation = variables.get("conversationId", chat.conversation_id)
    after = variables.get("after")
    return number(conversation, "Conversation") == number(
        chat.conversation_id, "Conversation"
    ) and (after is None or number(after, "Message", "Notification") is not None)


@pytest.mark.parametrize("op", SUBSCRIPTIONS, ids=lambda op: f"{op.root}.{op.field}")
@ID_SETTINGS
@given(data=st.data())
async def test_subscription_arguments(
    gql: Gql, chat: Chat, op: Operation, data: st.DataObject
) -> None:
    variables = resolve(data.draw(arguments(op), label="arguments"), chat)
    context = Context(resources=gql.resources, token=chat.a.token)
    result = await schema.subscribe(
        op.query + OUTCOME, variable_values=variables, context_value=context
    )
    if isinstance(result, graphql.ExecutionResult):  # GraphQL refused a variable: nothing ran
        event("GraphQL refused a variable")
        assert result.errors and all(e.path is None and not e.extensions for e in result.errors)
        return
    try:
        if sure_to_wait(op, variables, chat):
            event("a live subscription")
            return  # tests/test_chat_live.py follows those
        # Not a timing limit: a refusal comes at once; this only turns a hang into a failure.
        first = await asyncio.wait_for(anext(result), timeout=60)
        assert not first.errors and first.data, first.errors
        event(first.data["r"]["__typename"])
        assert is_refusal(first.data["r"], op.args), first.data
    finally:
        await result.aclose()


# ---------------------------------------------------------------------------------------------
# Lone surrogates: JSON variables can carry them ("\ud800"), GraphQL literals cannot. They are
# left out of the strategies above (st.text never makes them) and tried here, field by field.

SURROGATE = "a\ud800b"
OTHER, CONVERSATION = "<a fresh person's id>", "<the chat's conversation id>"  # filled in
INTERESTS_PREFIX = "query($p: String) { r: interests(prefix: $p) { __typename ...Outcome } }"
INTERESTS_AFTER = """query($a: String) { r: interests(orderBy: NAME, after: $a) {
  __typename ...Outcome } }"""
# field: (query, variables, whose token: the chat's first person, a new account, or none)
SURROGATE_CASES: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "register.password": (
        REGISTER,
        {"i": {"email": "new@example.com", "password": PASSWORD + SURROGATE}},
        None,
    ),
    "login.password": (
        LOGIN,
        {"i": {"email": "nobody@example.com", "password": PASSWORD + SURROGATE}},
        None,
    ),
    "changePassword.newPassword": (
        CHANGE_PASSWORD,
        {"i": {"currentPassword": PASSWORD, "newPassword": PASSWORD + SURROGATE}},
        "a",
    ),
    "createProfile.displayName": (CREATE, {"i": profile_input(displayName=SURROGATE)}, "new"),
    "updateProfile.bio": (UPDATE, {"i": {"bio": SURROGATE}}, "a"),
    "updateProfile.goals": (UPDATE, {"i": {"goals": SURROGATE}}, "a"),
    "updateProfile.location.city": (
        UPDATE,
        {"i": {"location": {"city": SURROGATE, "latitude": 1.0, "longitude": 2.0}}},
        "a",
    ),
    "updateProfile.photoUrls": (
        UPDATE,
        {"i": {"photoUrls": [f"https://x.example/{SURROGATE}"]}},
        "a",
    ),
    "updateProfile.socialLinks.platform": (
        UPDATE,
        {"i": {"socialLinks": [{"platform": SURROGATE, "url": "https://x.example"}]}},
        "a",
    ),
    "updateProfile.expertise": (
        UPDATE,
        {"i": {"intent": "MENTORSHIP", "mentorshipRole": "MENTOR", "expertise": [SURROGATE]}},
        "a",
    ),
    "setInterests.names": (SET_INTERESTS, {"n": ["chess", SURROGATE]}, "a"),
    "like.note": (LIKE, {"id": OTHER, "note": SURROGATE}, "a"),
    "sendInterest.message": (SEND_INTEREST, {"id": OTHER, "m": SURROGATE}, "a"),
    "sendMessage.body": (SEND_MESSAGE, {"c": CONVERSATION, "b": SURROGATE, "k": "k1"}, "a"),
    "sendMessage.clientMessageId": (
        SEND_MESSAGE,
        {"c": CONVERSATION, "b": "hi", "k": SURROGATE},
        "a",
    ),
    "interests.prefix": (INTERESTS_PREFIX, {"p": SURROGATE}, None),
    "interests.after": (
        INTERESTS_AFTER,
        {"a": base64.urlsafe_b64encode(json.dumps([SURROGATE]).encode()).decode()},
        None,
    ),
}


@pytest.mark.parametrize(
    "name",
    list(SURROGATE_CASES),
)
async def test_lone_surrogates_are_refused(gql: Gql, chat: Chat, name: str) -> None:
    """Refused (by a typed error, or by GraphQL as a variable it cannot take), nothing changed."""
    query, variables, whose = SURROGATE_CASES[name]
    if variables.get("id") == OTHER:
        variables = {**variables, "id": (await person(gql)).id}
    if variables.get("c") == CONVERSATION:
        variables = {**variables, "c": chat.conversation_id}
    token = await gql.register() if whose == "new" else chat.a.token if whose == "a" else None
    before = await snapshot(gql.resources)
    outcome = await attempt(gql, query, variables, token)
    assert outcome is None or outcome["__typename"] in TYPED_ERRORS, outcome
    assert await snapshot(gql.resources) == before


# ---------------------------------------------------------------------------------------------
# Coverage: every input type, input field and root field argument has a property above

COVERED_INPUT_FIELDS = {
    "RegisterInput": {"email", "password"},
    "LoginInput": {"email", "password"},
    "ConfirmRegistrationInput": {"email", "code", "password"},
    "ChangePasswordInput": {"currentPassword", "newPassword"},
    "CreateProfileInput": set(PROFILE_FIELDS),
    "UpdateProfileInput": set(PROFILE_FIELDS),
    "UpdatePreferencesInput": set(PREFERENCE_FIELDS),
    "LocationInput": {"city", "latitude", "longitude"},
    "SocialLinkInput": {"platform", "url"},
}
COVERED_ARGUMENTS = {
    "Mutation.register.input",
    "Mutation.confirmRegistration.input",
    "Mutation.login.input",
    "Mutation.changePassword.input",
    "Mutation.createProfile.input",
    "Mutation.updateProfile.input",
    "Mutation.updatePreferences.input",
    "Mutation.setInterests.names",
    "Mutation.like.note",
    "Mutation.sendInterest.message",
    "Mutation.sendMessage.body",
    "Mutation.sendMessage.clientMessageId",
    *(f"{op.root}.{op.field}.{name}" for op in OPERATIONS + SUBSCRIPTIONS for name in op.args),
    "Query.node.id",  # test_node_ids
    "Query.nodes.ids",
}

NODE_IDS = st.one_of(
    IDS,
    st.builds(
        lambda kind, key: str(global_id(kind, key)),
        st.sampled_from(["User", "Me", "OwnProfile", "Preferences", "Match", "Message", "Nope"]),
        st.one_of(texts(), st.integers().map(str), st.uuids().map(str)),
    ),
)
NODE = """query($id: ID!, $ids: [ID!]!) {
  node(id: $id) { __typename id } nodes(ids: $ids) { __typename id } }"""


@ID_SETTINGS
@given(data=st.data())
async def test_node_ids(gql: Gql, chat: Chat, data: st.DataObject) -> None:
    """node(id) and nodes(ids) with any id at all: null, or an object whose id is the one
    asked for; never an error; and nothing changes."""
    one = resolve({"id": data.draw(NODE_IDS, label="id")}, chat)["id"]
    many = [resolve({"i": v}, chat)["i"] for v in data.draw(st.lists(NODE_IDS, max_size=5))]
    before = await snapshot(gql.resources)
    for token in (chat.a.token, None):
        result = await gql.raw(NODE, {"id": one, "ids": many}, token)
        if result.errors:  # GraphQL refusing a variable before anything ran
            assert result.data is None and all(e.path is None for e in result.errors), result
            continue
        found = [result.data["node"], *result.data["nodes"]]
        assert len(found) == 1 + len(many)
        for asked, got in zip([one, *many], found, strict=True):
            assert got is None or got["id"] == asked, (asked, got)
            assert token is not None or got is None
    assert await snapshot(gql.resources) == before


def test_every_input_has_a_property() -> None:
    """A new input type, input field or argument in schema.graphql needs a property here: an
    Operation in OPERATIONS or SUBSCRIPTIONS for ids, cursors, page sizes, enums and short text
    (a line or two), a test of its own for an input type, and its name in COVERED_*."""
    built = graphql.build_schema((PROJECT_ROOT / "schema.graphql").read_text())
    inputs = {
        name: set(type_.fields)
        for name, type_ in built.type_map.items()
        if isinstance(type_, graphql.GraphQLInputObjectType)
    }
    roots = [built.query_type, built.mutation_type, built.subscription_type]
    arguments = {
        f"{root.name}.{name}.{arg}"
        for root in roots
        if root is not None
        for name, root_field in root.fields.items()
        for arg in root_field.args
    }
    uncovered = sorted(
        {
            f"{n}.{f}"
            for n, fields in inputs.items()
            for f in fields - COVERED_INPUT_FIELDS.get(n, set())
        }
        | (arguments - COVERED_ARGUMENTS)
    )
    stale = sorted(
        {
            f"{n}.{f}"
            for n, fields in COVERED_INPUT_FIELDS.items()
            for f in fields - inputs.get(n, set())
        }
        | (COVERED_ARGUMENTS - arguments)
    )
    assert not uncovered, f"without a property in tests/test_input_properties.py: {uncovered}"
    assert not stale, f"covered here but no longer in schema.graphql: {stale}"
