"""Preference privacy (issue 12): the probes that read other people's private preferences by
changing one's own profile are closed or rate-limited. The birth date is fixed once the
profile exists (moderators correct it); gender, height and intent changes, and preference
changes, are limited per day. Every refusal is typed and changes nothing."""

from __future__ import annotations

import pytest

from rapport.settings import Settings
from tests.support.database import snapshot
from tests.support.people import PREFS, moderator, person, recommended, years_ago
from tests.support.rate_limits import RATE_LIMITED, refused
from tests.support.settings import make_settings

UPDATE = f"""mutation($i: UpdateProfileInput!) {{ updateProfile(input: $i) {{
  __typename ... on OwnProfile {{ birthDate gender heightCm intent bio }}
  ... on ValidationError {{ errors {{ field code message }} }} {RATE_LIMITED} }} }}"""
PREFERENCES = f"""mutation($i: UpdatePreferencesInput!) {{ updatePreferences(input: $i) {{
  __typename ... on Preferences {{ ageMin ageMax genders }} {RATE_LIMITED} }} }}"""
CORRECT = """mutation($id: ID!, $b: Date!) { correctBirthDate(userId: $id, birthDate: $b) {
  __typename ... on BirthDateCorrection { userId birthDate }
  ... on NotAllowed { code } ... on NotFound { code field }
  ... on ValidationError { errors { field code } } } }"""
OWN = "{ me { ... on Me { profile { birthDate gender heightCm bio age } } } }"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        rate_limits={
            "profile_match_changes_per_day": "2/day",
            "preference_changes_per_day": "2/day",
        },
    )


async def own(gql, who) -> dict:
    return (await gql(OWN, token=who.token))["me"]["profile"]


async def test_the_birth_date_is_fixed_once_the_profile_exists(gql, resources) -> None:
    me = await person(gql, birthDate=years_ago(30))
    before = await own(gql, me)
    answer = (
        await gql(UPDATE, {"i": {"birthDate": years_ago(40), "bio": "New bio."}}, token=me.token)
    )["updateProfile"]
    assert answer["__typename"] == "ValidationError"
    [error] = answer["errors"]
    assert error["field"] == "birthDate" and error["code"] == "FIXED"
    assert "moderator" in error["message"]
    assert await own(gql, me) == before  # the bio sent with it did not change either
    # sending the birth date it already has is no change, and allowed
    same = await gql(UPDATE, {"i": {"birthDate": before["birthDate"]}}, token=me.token)
    assert same["updateProfile"]["__typename"] == "OwnProfile"
    # an out-of-range date is told as such, not as FIXED
    young = await gql(UPDATE, {"i": {"birthDate": years_ago(17)}}, token=me.token)
    assert [e["code"] for e in young["updateProfile"]["errors"]] == ["OUT_OF_RANGE"]


async def test_the_age_probe_no_longer_works(gql) -> None:
    """The attack: change one's own birth date and watch whether someone appears. Now one
    account has one age, and learns one bit per person (in or out of their range)."""
    victim = await person(gql, birthDate=years_ago(30), prefs={"ageMin": 25, "ageMax": 35})
    prober = await person(gql, birthDate=years_ago(30))
    assert victim.id in await recommended(gql, prober)
    for age in (24, 36, 50):
        tried = await gql(UPDATE, {"i": {"birthDate": years_ago(age)}}, token=prober.token)
        assert tried["updateProfile"]["__typename"] == "ValidationError"
    assert (await own(gql, prober))["age"] == 30


async def test_moderators_correct_birth_dates(gql, resources) -> None:
    mod, me, other = await moderator(gql, resources), await person(gql), await person(gql)
    fixed = await gql(CORRECT, {"id": me.id, "b": years_ago(45)}, token=mod.token)
    assert fixed["correctBirthDate"] == {
        "__typename": "BirthDateCorrection",
        "userId": me.id,
        "birthDate": years_ago(45),
    }
    assert (await own(gql, me))["age"] == 45
    refusals = [
        (
            other.token,
            me.id,
            years_ago(50),
            {"__typename": "NotAllowed", "code": "MODERATORS_ONLY"},
        ),
        (me.token, me.id, years_ago(50), {"__typename": "NotAllowed", "code": "MODERATORS_ONLY"}),
        (mod.token, mod.id, years_ago(50), None),  # not one's own
        (mod.token, me.id, years_ago(17), None),
        (
            mod.token,
            "00000000-0000-0000-0000-000000000000",
            years_ago(50),
            {"__typename": "NotFound", "code": "NOT_FOUND", "field": "userId"},
        ),
    ]
    for token, target, birth, expected in refusals:
        before = await snapshot(resources)
        answer = (await gql(CORRECT, {"id": target, "b": birth}, token=token))["correctBirthDate"]
        if expected is None:
            assert answer["__typename"] == "ValidationError", answer
        else:
            assert answer == expected
        assert await snapshot(resources) == before
    assert (await own(gql, me))["age"] == 45


async def test_gender_height_and_intent_changes_are_limited_per_day(gql, resources) -> None:
    me = await person(gql, gender="WOMAN", heightCm=170)
    assert (await gql(UPDATE, {"i": {"gender": "WOMAN", "bio": "Same."}}, token=me.token))[
        "updateProfile"
    ]["__typename"] == "OwnProfile"  # no change: free
    for change in ({"gender": "MAN"}, {"heightCm": 180}):
        answer = (await gql(UPDATE, {"i": change}, token=me.token))["updateProfile"]
        assert answer["__typename"] == "OwnProfile", answer
    before = await own(gql, me)
    for over in ({"gender": "NON_BINARY"}, {"intent": "DATING"}, {"heightCm": 150, "bio": "x"}):
        refused((await gql(UPDATE, {"i": over}, token=me.token))["updateProfile"],
                "profile_match_changes_per_day")  # fmt: skip
    assert await own(gql, me) == before
    # other fields stay free
    answer = (await gql(UPDATE, {"i": {"bio": "Still me."}}, token=me.token))["updateProfile"]
    assert answer["__typename"] == "OwnProfile" and answer["bio"] == "Still me."


async def test_preference_changes_are_limited_per_day(gql) -> None:
    me = await person(gql)
    for change in ({"genders": ["WOMAN", "MAN"]}, {"genders": ["MAN", "WOMAN"]}, {"ageMin": 20}):
        answer = (await gql(PREFERENCES, {"i": change}, token=me.token))["updatePreferences"]
        assert answer["__typename"] == "Preferences", answer  # the reordering was free
    for over in ({"ageMax": 60}, {"ageMin": 20, "intents": ["DATING"]}):
        answer = (await gql(PREFERENCES, {"i": over}, token=me.token))["updatePreferences"]
        refused(answer, "preference_changes_per_day")
    answer = (await gql(PREFS, {"i": {"ageMin": 20}}, token=me.token))["updatePreferences"]
    assert answer["__typename"] == "Preferences"  # the value it has: free
    prefs = await gql(
        "{ me { ... on Me { preferences { ageMin ageMax intents } } } }", token=me.token
    )
    assert prefs["me"]["preferences"] == {"ageMin": 20, "ageMax": 120, "intents": ["FRIENDSHIP"]}
