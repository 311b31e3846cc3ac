"""People at the schema level (the `gql` fixture): a profile's input (profile_input,
years_ago), the operations that make one (CREATE, UPDATE, PREFS, SET_INTERESTS, LIKE, RECS),
a signed-up person with a profile (person → Person), a moderator, and whom a person is
recommended."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from models import UserRole
from resolvers.moderation import set_role
from tests.support.ids import user_of

CREATE = """mutation($i: CreateProfileInput!) { createProfile(input: $i) {
  __typename
  ... on OwnProfile { id displayName age bio goals heightCm gender city photoUrls intent
                      mentorshipRole expertise birthDate
                      location { city latitude longitude } socialLinks { platform url } }
  ... on ValidationError { errors { field code message } }
  ... on AlreadyExists { code }
} }"""
UPDATE = """mutation($i: UpdateProfileInput!) { updateProfile(input: $i) {
  __typename
  ... on OwnProfile { displayName bio goals heightCm location { city } intent mentorshipRole expertise photoUrls }
  ... on ValidationError { errors { field code message } }
  ... on NotFound { code }
} }"""
RECS = """query($first: Int, $after: String) { recommendations(first: $first, after: $after) {
  __typename
  ... on RecommendationConnection {
    edges { cursor node { score user { id displayName } explanation { summary sharedInterests
            goalsAlignment scoreForYou scoreForThem } } }
    pageInfo { hasNextPage endCursor }
  }
  ... on NotAllowed { code }
  ... on ValidationError { errors { field code } }
} }"""
LIKE = """mutation($id: ID!, $note: String) { like(userId: $id, note: $note) {
  __typename
  ... on SwipePayload { swipe { kind note } match { id origin status user { id } } }
  ... on ValidationError { errors { field code } }
  ... on NotFound { code }
  ... on AlreadyExists { code }
} }"""
PREFS = "mutation($i: UpdatePreferencesInput!) { updatePreferences(input: $i) { __typename } }"
SET_INTERESTS = """mutation($n: [String!]!) { setInterests(names: $n) {
  __typename ... on InterestsPayload { interests } ... on ValidationError { errors { field code } }
  ... on NotFound { code }
} }"""


def years_ago(n: int, days: int = 0) -> str:
    today = date.today()
    try:
        d = today.replace(year=today.year - n)
    except ValueError:  # 29 February
        d = today.replace(year=today.year - n, day=28)
    return (d - timedelta(days=days)).isoformat()


def profile_input(**overrides) -> dict:
    return {
        "displayName": "Ada",
        "birthDate": years_ago(30),
        "gender": "WOMAN",
        "intent": "FRIENDSHIP",
        "bio": "I like long walks and short proofs.",
        "goals": "Find people to climb with on weekends.",
        "heightCm": 170,
        "location": {"city": "Lisbon", "latitude": 38.72, "longitude": -9.14},
        "photoUrls": ["https://img.example.com/1.jpg", "https://img.example.com/2.jpg"],
        "socialLinks": [{"platform": "mastodon", "url": "https://social.example/@ada"}],
        **overrides,
    }


async def create(gql, token: str, **overrides) -> dict:
    return (await gql(CREATE, {"i": profile_input(**overrides)}, token=token))["createProfile"]


@dataclass
class Person:
    token: str
    id: str


async def person(
    gql, *, interests: tuple[str, ...] = (), prefs: dict | None = None, **profile
) -> Person:
    token = await gql.register()
    created = await gql(
        "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }",
        {"i": profile_input(**profile)},
        token=token,
    )
    assert created["createProfile"]["__typename"] == "OwnProfile", created
    if interests:
        await gql(
            "mutation($n: [String!]!) { setInterests(names: $n) { __typename } }",
            {"n": list(interests)},
            token=token,
        )
    if prefs:
        result = await gql(PREFS, {"i": prefs}, token=token)
        assert result["updatePreferences"]["__typename"] == "Preferences", result
    me = await gql("{ me { ... on Me { id } } }", token=token)
    return Person(token, user_of(me["me"]["id"]))


async def recommended(gql, who: Person, first: int = 50) -> list[str]:
    data = (await gql(RECS, {"first": first}, token=who.token))["recommendations"]
    assert data["__typename"] == "RecommendationConnection", data
    return [e["node"]["user"]["id"] for e in data["edges"]]


async def moderator(gql, resources) -> Person:
    email = f"mod-{uuid.uuid4().hex[:8]}@example.com"
    token = await gql.register(email)
    async with resources.sessionmaker() as session:
        assert await set_role(session, email, UserRole.MODERATOR)
    me = await gql("{ me { ... on Me { id } } }", token=token)
    return Person(token, user_of(me["me"]["id"]))
