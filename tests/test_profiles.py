"""Profiles and preferences: creation, partial updates, every validation rule, visibility."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import col

from matching import grid
from models import Preferences, Profile, User, UserStatus
from tests.support.ids import key, user_of
from tests.support.people import CREATE, UPDATE, create, profile_input, years_ago

PREFS = """mutation($i: UpdatePreferencesInput!) { updatePreferences(input: $i) {
  __typename
  ... on Preferences { ageMin ageMax heightMinCm heightMaxCm genders maxDistanceKm intents }
  ... on ValidationError { errors { field code } }
} }"""


async def stored_profile(resources) -> Profile | None:
    async with resources.sessionmaker() as session:
        return (await session.execute(select(Profile))).scalar_one_or_none()


async def test_create_profile_and_default_preferences(gql) -> None:
    token = await gql.register()
    result = await create(gql, token)
    assert result["__typename"] == "OwnProfile"
    assert result["age"] == 30 and result["displayName"] == "Ada"
    latitude, longitude = grid.snap(38.72, -9.14)  # only the 2 km cell's centre is kept
    assert result["location"] == {"city": "Lisbon", "latitude": latitude, "longitude": longitude}
    assert abs(latitude - 38.72) < 0.01 and abs(longitude + 9.14) < 0.02
    assert result["photoUrls"] == ["https://img.example.com/1.jpg", "https://img.example.com/2.jpg"]
    me = await gql(
        "{ me { ... on Me { profile { displayName } preferences { ageMin ageMax genders intents maxDistanceKm } } } }",
        token=token,
    )
    assert me["me"]["profile"] == {"displayName": "Ada"}
    assert me["me"]["preferences"] == {
        "ageMin": 18,
        "ageMax": 120,
        "genders": ["WOMAN", "MAN", "NON_BINARY", "OTHER"],
        "intents": ["FRIENDSHIP"],
        "maxDistanceKm": None,
    }
    again = await create(gql, token)
    assert again == {"__typename": "AlreadyExists", "code": "ALREADY_EXISTS"}


async def test_every_bad_field_is_reported_and_nothing_is_written(gql, resources) -> None:
    token = await gql.register()
    bad = profile_input(
        displayName="   ",
        birthDate=years_ago(17),
        bio="x" * 2001,
        goals="g" * 1001,
        heightCm=251,
        location={"city": "Nowhere", "latitude": 90.5, "longitude": -181},
        photoUrls=[
            "http://img.example.com/a.jpg",
            "https://ok.example/b.jpg",
            "https://ok.example/b.jpg",
            "javascript:alert(1)",
            "https://user:pw@example.com/x.jpg",
        ],
        socialLinks=[{"platform": "", "url": "ftp://example.com"}],
        expertise=["databases"],
    )
    result = (await gql(CREATE, {"i": bad}, token=token))["createProfile"]
    assert result["__typename"] == "ValidationError"
    got = {(e["field"], e["code"]) for e in result["errors"]}
    assert got == {
        ("displayName", "REQUIRED"),
        ("birthDate", "OUT_OF_RANGE"),
        ("bio", "TOO_LONG"),
        ("goals", "TOO_LONG"),
        ("heightCm", "OUT_OF_RANGE"),
        ("location.latitude", "OUT_OF_RANGE"),
        ("location.longitude", "OUT_OF_RANGE"),
        ("photoUrls[0]", "INSECURE_URL"),
        ("photoUrls[2]", "DUPLICATE"),
        ("photoUrls[3]", "INVALID_FORMAT"),
        ("photoUrls[4]", "INVALID_FORMAT"),
        ("socialLinks[0].platform", "REQUIRED"),
        ("socialLinks[0].url", "INSECURE_URL"),
        ("expertise", "NOT_ALLOWED"),
    }
    assert all(e["message"] for e in result["errors"])
    assert await stored_profile(resources) is None


async def test_age_bounds_are_inclusive(gql) -> None:
    assert (await create(gql, await gql.register(), birthDate=years_ago(18)))["age"] == 18
    too_young = await create(gql, await gql.register(), birthDate=years_ago(18, days=-1))
    assert too_young["__typename"] == "ValidationError"
    assert (await create(gql, await gql.register(), birthDate=years_ago(120)))["age"] == 120
    too_old = await create(gql, await gql.register(), birthDate=years_ago(121))
    assert too_old["errors"][0]["field"] == "birthDate"


async def test_at_most_six_photos(gql) -> None:
    urls = [f"https://img.example.com/{i}.jpg" for i in range(7)]
    result = await create(gql, await gql.register(), photoUrls=urls)
    assert {(e["field"], e["code"]) for e in result["errors"]} == {("photoUrls", "TOO_MANY")}
    ok = await create(gql, await gql.register(), photoUrls=urls[:6])
    assert ok["photoUrls"] == urls[:6]


async def test_text_is_normalised_and_trimmed(gql) -> None:
    result = await create(
        gql,
        await gql.register(),
        displayName="  Jose\u0301   Lu\u00eds \u200b ",  # decomposed accent, zero-width space
        bio="  line one   \r\n\r\n\r\n\r\nline\ttwo  ",
        location={"city": "  São   Paulo ", "latitude": -23.5, "longitude": -46.6},
    )
    assert result["displayName"] == "Jos\u00e9 Lu\u00eds"
    assert result["bio"] == "line one\n\nline two"
    assert result["city"] == "São Paulo"


async def test_mentorship_needs_a_role_and_only_mentorship_has_one(gql) -> None:
    token = await gql.register()
    missing = await create(gql, token, intent="MENTORSHIP")
    assert {(e["field"], e["code"]) for e in missing["errors"]} == {("mentorshipRole", "REQUIRED")}
    stray = await create(gql, token, intent="DATING", mentorshipRole="MENTOR")
    assert {(e["field"], e["code"]) for e in stray["errors"]} == {("mentorshipRole", "NOT_ALLOWED")}
    ok = await create(
        gql,
        token,
        intent="MENTORSHIP",
        mentorshipRole="MENTOR",
        expertise=[" Rust ", "rust", "Databases"],
    )
    assert ok["mentorshipRole"] == "MENTOR" and ok["expertise"] == ["rust", "databases"]
    # leaving mentorship drops role and expertise
    changed = (await gql(UPDATE, {"i": {"intent": "FRIENDSHIP"}}, token=token))["updateProfile"]
    assert (
        changed["intent"] == "FRIENDSHIP"
        and changed["mentorshipRole"] is None
        and changed["expertise"] == []
    )


async def test_update_changes_only_given_fields_and_null_clears(gql) -> None:
    token = await gql.register()
    await create(gql, token)
    result = (
        await gql(
            UPDATE, {"i": {"bio": "New bio", "heightCm": None, "location": None}}, token=token
        )
    )["updateProfile"]
    assert result["bio"] == "New bio"
    assert result["heightCm"] is None and result["location"] is None
    assert result["displayName"] == "Ada" and result["goals"].startswith("Find people")
    cleared_required = (await gql(UPDATE, {"i": {"displayName": None}}, token=token))[
        "updateProfile"
    ]
    assert cleared_required["errors"][0] == {
        "field": "displayName",
        "code": "REQUIRED",
        "message": "displayName cannot be cleared.",
    }


async def test_bad_update_changes_nothing(gql, resources) -> None:
    token = await gql.register()
    await create(gql, token)
    before = await stored_profile(resources)
    result = (await gql(UPDATE, {"i": {"bio": "fine", "heightCm": 20}}, token=token))[
        "updateProfile"
    ]
    assert result["__typename"] == "ValidationError"
    after = await stored_profile(resources)
    assert after is not None and before is not None
    assert (after.bio, after.height_cm, after.updated_at) == (
        before.bio,
        before.height_cm,
        before.updated_at,
    )


async def test_update_without_profile_is_not_found(gql) -> None:
    result = (await gql(UPDATE, {"i": {"bio": "x"}}, token=await gql.register()))["updateProfile"]
    assert result == {"__typename": "NotFound", "code": "NOT_FOUND"}


async def test_preferences_ranges_and_order(gql, resources) -> None:
    token = await gql.register()
    await create(gql, token)
    ok = await gql(
        PREFS,
        {
            "i": {
                "ageMin": 25,
                "ageMax": 40,
                "genders": ["MAN", "MAN", "NON_BINARY"],
                "maxDistanceKm": 50,
                "intents": ["DATING", "FRIENDSHIP"],
            }
        },
        token=token,
    )
    assert ok["updatePreferences"] == {
        "__typename": "Preferences",
        "ageMin": 25,
        "ageMax": 40,
        "heightMinCm": None,
        "heightMaxCm": None,
        "genders": ["MAN", "NON_BINARY"],
        "maxDistanceKm": 50,
        "intents": ["DATING", "FRIENDSHIP"],
    }
    # min above the stored max is caught even when only one side is sent
    above = await gql(PREFS, {"i": {"ageMin": 45}}, token=token)
    assert above["updatePreferences"]["errors"] == [{"field": "ageMin", "code": "MIN_ABOVE_MAX"}]
    bad = await gql(
        PREFS,
        {
            "i": {
                "ageMin": 17,
                "heightMinCm": 200,
                "heightMaxCm": 150,
                "maxDistanceKm": 0,
                "genders": [],
                "intents": [],
            }
        },
        token=token,
    )
    assert {(e["field"], e["code"]) for e in bad["updatePreferences"]["errors"]} == {
        ("ageMin", "OUT_OF_RANGE"),
        ("heightMinCm", "MIN_ABOVE_MAX"),
        ("maxDistanceKm", "OUT_OF_RANGE"),
        ("genders", "REQUIRED"),
        ("intents", "REQUIRED"),
    }
    async with resources.sessionmaker() as session:
        prefs = (await session.execute(select(Preferences))).scalar_one()
    assert (prefs.age_min, prefs.age_max, prefs.max_distance_km) == (25, 40, 50)


PUBLIC = """query($id: ID!) { user(id: $id) {
  __typename
  ... on User { id displayName age city interests }
  ... on NotFound { code missingId }
  ... on ValidationError { errors { field code } }
} }"""


async def _id(gql, token: str) -> str:
    return user_of((await gql("{ me { ... on Me { id } } }", token=token))["me"]["id"])


async def test_user_shows_public_fields_to_signed_in_users_only(gql, resources) -> None:
    owner = await gql.register()
    await create(gql, owner)
    await gql('mutation { setInterests(names: ["Chess", "climbing"]) { __typename } }', token=owner)
    viewer = await gql.register()
    user_id = await _id(gql, owner)
    data = await gql(PUBLIC, {"id": user_id}, token=viewer)
    assert data["user"] == {
        "__typename": "User",
        "id": user_id,
        "displayName": "Ada",
        "age": 30,
        "city": "Lisbon",
        "interests": ["chess", "climbing"],
    }
    anonymous = await gql(PUBLIC, {"id": user_id})
    assert anonymous["user"]["__typename"] == "AuthenticationRequired"
    # suspended accounts vanish
    async with resources.sessionmaker() as session:
        await session.execute(
            update(User).where(col(User.id) == key(user_id)).values(status=UserStatus.SUSPENDED)
        )
        await session.commit()
    assert (await gql(PUBLIC, {"id": user_id}, token=viewer))["user"] == {
        "__typename": "NotFound",
        "code": "NOT_FOUND",
        "missingId": user_id,
    }
    garbage = await gql(PUBLIC, {"id": "not-a-uuid"}, token=viewer)
    assert garbage["user"] == {
        "__typename": "ValidationError",
        "errors": [{"field": "id", "code": "INVALID_FORMAT"}],
    }


async def test_public_user_type_has_no_private_fields(gql) -> None:
    data = await gql('{ __type(name: "User") { fields { name } } }')
    names = {f["name"] for f in data["__type"]["fields"]}
    assert not names & {
        "email",
        "passwordHash",
        "preferences",
        "birthDate",
        "location",
        "latitude",
        "longitude",
        "status",
        "lastActiveAt",
    }
    result = await gql.raw(
        "query($id: ID!) { user(id: $id) { ... on User { email } } }", {"id": "x"}
    )
    assert result.errors and "Cannot query field 'email'" in result.errors[0].message
