"""Matching at the schema level: reciprocal recommendations, likes, passes, undo, matches,
interest requests, blocks, and their typed refusals."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, update
from sqlmodel import col

from models import Match, User, UserStatus
from tests.support.database import count_statements
from tests.support.ids import key
from tests.support.people import LIKE, PREFS, RECS, person, recommended, years_ago

PASS = "mutation($id: ID!) { pass(userId: $id) { __typename } }"
UNDO = """mutation { undoSwipe { __typename ... on Swipe { kind undoneAt user { id } }
  ... on NotAllowed { code } } }"""
SEND = """mutation($id: ID!, $m: String!) { sendInterest(userId: $id, message: $m) {
  __typename ... on InterestRequest { id status message sender { id } receiver { id } }
  ... on AlreadyExists { code } ... on NotFound { code } ... on ValidationError { errors { code } }
} }"""
RESPOND = """mutation($id: ID!, $r: InterestResponse!) { respondToInterest(id: $id, response: $r) {
  __typename ... on RespondPayload { request { status respondedAt } match { origin user { id } } }
  ... on NotAllowed { code } ... on NotFound { code }
} }"""
CANCEL = """mutation($id: ID!) { cancelInterest(id: $id) {
  __typename ... on InterestRequest { status } ... on NotAllowed { code } ... on NotFound { code }
} }"""
MATCHES = """query($status: MatchStatus) { matches(status: $status) {
  __typename ... on MatchConnection { nodes { id origin status endedByMe user { id } } }
} }"""


async def test_recommendations_are_reciprocal(gql) -> None:
    ada = await person(
        gql,
        gender="WOMAN",
        intent="DATING",
        birthDate=years_ago(30),
        prefs={"genders": ["MAN"], "ageMin": 25, "ageMax": 35, "intents": ["DATING"]},
    )
    fits = await person(
        gql,
        gender="MAN",
        intent="DATING",
        birthDate=years_ago(28),
        prefs={"genders": ["WOMAN"], "ageMin": 25, "ageMax": 40, "intents": ["DATING"]},
    )
    too_old = await person(
        gql,
        gender="MAN",
        intent="DATING",
        birthDate=years_ago(41),
        prefs={"genders": ["WOMAN"], "intents": ["DATING"]},
    )
    wants_men = await person(
        gql,
        gender="MAN",
        intent="DATING",
        birthDate=years_ago(30),
        prefs={"genders": ["MAN"], "intents": ["DATING"]},
    )
    wants_younger = await person(
        gql,
        gender="MAN",
        intent="DATING",
        birthDate=years_ago(30),
        prefs={"genders": ["WOMAN"], "ageMax": 29, "intents": ["DATING"]},
    )
    friends_only = await person(
        gql,
        gender="MAN",
        intent="FRIENDSHIP",
        birthDate=years_ago(30),
        prefs={"genders": ["WOMAN"], "intents": ["FRIENDSHIP"]},
    )
    assert await recommended(gql, ada) == [fits.id]
    assert await recommended(gql, fits) == [ada.id]
    for other in (too_old, wants_men, wants_younger, friends_only):
        assert ada.id not in await recommended(gql, other)


async def test_mentors_meet_mentees_never_two_of_a_kind(gql) -> None:
    common: dict = {"intent": "MENTORSHIP", "expertise": ["databases"]}
    prefs = {"intents": ["MENTORSHIP"]}
    mentor = await person(gql, mentorshipRole="MENTOR", prefs=prefs, **common)
    other_mentor = await person(gql, mentorshipRole="MENTOR", prefs=prefs, **common)
    mentee = await person(gql, mentorshipRole="MENTEE", prefs=prefs, **common)
    assert await recommended(gql, mentor) == [mentee.id]
    assert set(await recommended(gql, mentee)) == {mentor.id, other_mentor.id}


async def test_distance_limits_apply_both_ways(gql) -> None:
    lisbon = {"city": "Lisbon", "latitude": 38.72, "longitude": -9.14}
    porto = {"city": "Porto", "latitude": 41.15, "longitude": -8.61}  # ~275 km
    near_only = await person(gql, location=lisbon, prefs={"maxDistanceKm": 100})
    anywhere = await person(gql, location=porto)
    nowhere = await person(gql, location=None)
    assert await recommended(gql, near_only) == []
    assert near_only.id not in await recommended(gql, anywhere)  # near_only's limit binds both ways
    assert anywhere.id in await recommended(gql, nowhere) and near_only.id not in await recommended(
        gql, nowhere
    )


async def test_shared_rare_interest_outranks_shared_common_one(gql) -> None:
    for _ in range(6):
        await person(gql, interests=("music",), goals="Something unrelated entirely.", bio="Hello.")
    me = await person(gql, interests=("music", "bouldering"), goals="Meet people.", bio="Hi.")
    rare = await person(gql, interests=("bouldering",), goals="Meet people.", bio="Hi.")
    common = await person(gql, interests=("music",), goals="Meet people.", bio="Hi.")
    data = (await gql(RECS, {"first": 20}, token=me.token))["recommendations"]
    order = [e["node"]["user"]["id"] for e in data["edges"]]
    assert order.index(rare.id) < order.index(common.id)
    first = data["edges"][0]["node"]
    assert first["explanation"]["sharedInterests"] == ["bouldering"]
    assert "bouldering" in first["explanation"]["summary"]


async def test_pages_are_stable_and_complete(gql) -> None:
    me = await person(gql)
    others = {(await person(gql, bio=f"Bio number {i}.")).id for i in range(7)}
    seen, after = [], None
    while True:
        data = (await gql(RECS, {"first": 3, "after": after}, token=me.token))["recommendations"]
        seen += [e["node"]["user"]["id"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(others) and len(seen) == 7
    scores = [
        e["node"]["score"]
        for e in (await gql(RECS, {"first": 7}, token=me.token))["recommendations"]["edges"]
    ]
    assert scores == sorted(scores, reverse=True)


async def test_likes_and_passes_leave_the_list_and_undo_brings_back(gql) -> None:
    me, a, b = await person(gql), await person(gql), await person(gql)
    assert set(await recommended(gql, me)) == {a.id, b.id}
    liked = (await gql(LIKE, {"id": a.id, "note": "  Hi there  "}, token=me.token))["like"]
    assert liked == {
        "__typename": "SwipePayload",
        "swipe": {"kind": "LIKE", "note": "Hi there"},
        "match": None,
    }
    assert (await gql(PASS, {"id": b.id}, token=me.token))["pass"]["__typename"] == "SwipePayload"
    assert await recommended(gql, me) == []
    undone = (await gql(UNDO, token=me.token))["undoSwipe"]
    assert undone["kind"] == "PASS" and undone["user"]["id"] == b.id and undone["undoneAt"]
    assert await recommended(gql, me) == [b.id]
    # b passed on? no: a pass by me does not hide me from b; but a pass by b hides b from me.
    await gql(PASS, {"id": me.id}, token=b.token)
    assert await recommended(gql, me) == []


async def test_mutual_like_makes_one_match(gql) -> None:
    a, b = await person(gql), await person(gql)
    first = (await gql(LIKE, {"id": b.id}, token=a.token))["like"]
    assert first["match"] is None
    second = (await gql(LIKE, {"id": a.id}, token=b.token))["like"]
    assert second["match"]["origin"] == "MUTUAL_LIKE" and second["match"]["user"]["id"] == a.id
    listed = (await gql(MATCHES, {"status": "ACTIVE"}, token=a.token))["matches"]["nodes"]
    assert [m["user"]["id"] for m in listed] == [b.id]
    assert (await gql(UNDO, token=b.token))["undoSwipe"] == {
        "__typename": "NotAllowed",
        "code": "ALREADY_MATCHED",
    }


async def test_simultaneous_mutual_likes_make_exactly_one_match(gql, resources) -> None:
    for _ in range(5):
        a, b = await person(gql), await person(gql)
        results = await asyncio.gather(
            gql(LIKE, {"id": b.id}, token=a.token), gql(LIKE, {"id": a.id}, token=b.token)
        )
        made = [r["like"]["match"] for r in results if r["like"]["match"]]
        assert len(made) == 1, results
    async with resources.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(Match))).scalar_one() == 5


async def test_swipe_refusals(gql, resources) -> None:
    me, other, gone = await person(gql), await person(gql), await person(gql)
    assert (await gql(LIKE, {"id": me.id}, token=me.token))["like"] == {
        "__typename": "ValidationError",
        "errors": [{"field": "userId", "code": "CANNOT_TARGET_SELF"}],
    }
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await gql(LIKE, {"id": unknown}, token=me.token))["like"] == {
        "__typename": "NotFound",
        "code": "NOT_FOUND",
    }
    bad = (await gql(LIKE, {"id": "nope"}, token=me.token))["like"]
    assert bad["errors"] == [{"field": "userId", "code": "INVALID_FORMAT"}]
    long_note = (await gql(LIKE, {"id": other.id, "note": "x" * 281}, token=me.token))["like"]
    assert long_note["errors"] == [{"field": "note", "code": "TOO_LONG"}]
    await gql(LIKE, {"id": other.id}, token=me.token)
    assert (await gql(LIKE, {"id": other.id}, token=me.token))["like"] == {
        "__typename": "AlreadyExists",
        "code": "ALREADY_EXISTS",
    }
    async with resources.sessionmaker() as session:
        await session.execute(
            update(User).where(col(User.id) == key(gone.id)).values(status=UserStatus.SUSPENDED)
        )
        await session.commit()
    assert (await gql(LIKE, {"id": gone.id}, token=me.token))["like"]["__typename"] == "NotFound"
    fresh = await person(gql)
    assert (await gql(UNDO, token=fresh.token))["undoSwipe"] == {
        "__typename": "NotAllowed",
        "code": "NOTHING_TO_UNDO",
    }


async def test_blocks_hide_both_ways_and_refuse_actions(gql) -> None:
    me, other = await person(gql), await person(gql)
    assert await recommended(gql, me) == [other.id]  # cached now
    blocked = await gql(
        "mutation($id: ID!) { block(userId: $id) { __typename ... on BlockPayload { blocked } } }",
        {"id": other.id},
        token=other.token,
    )
    assert blocked["block"]["__typename"] == "ValidationError"  # other blocking themself
    await gql(
        "mutation($id: ID!) { block(userId: $id) { __typename } }", {"id": me.id}, token=other.token
    )
    assert await recommended(gql, me) == [] and await recommended(gql, other) == []
    assert (await gql(LIKE, {"id": other.id}, token=me.token))["like"]["__typename"] == "NotFound"
    assert (await gql(SEND, {"id": other.id, "m": "hi"}, token=me.token))["sendInterest"][
        "__typename"
    ] == "NotFound"
    await gql(
        "mutation($id: ID!) { unblock(userId: $id) { __typename } }",
        {"id": me.id},
        token=other.token,
    )
    assert await recommended(gql, me) == [other.id]


async def test_interest_request_lifecycle(gql) -> None:
    alice, bob, eve = await person(gql), await person(gql), await person(gql)
    sent = (await gql(SEND, {"id": bob.id, "m": " Coffee? "}, token=alice.token))["sendInterest"]
    assert (
        sent["status"] == "PENDING"
        and sent["message"] == "Coffee?"
        and sent["receiver"]["id"] == bob.id
    )
    again = (await gql(SEND, {"id": bob.id, "m": "??"}, token=alice.token))["sendInterest"]
    assert again == {"__typename": "AlreadyExists", "code": "ALREADY_EXISTS"}
    received = await gql(
        "{ interestRequests { ... on InterestRequestConnection { nodes { id status sender { id } } } } }",
        token=bob.token,
    )
    assert received["interestRequests"]["nodes"] == [
        {"id": sent["id"], "status": "PENDING", "sender": {"id": alice.id}}
    ]
    sent_list = await gql(
        "{ interestRequests(direction: SENT) { ... on InterestRequestConnection { nodes { id } } } }",
        token=alice.token,
    )
    assert sent_list["interestRequests"]["nodes"] == [{"id": sent["id"]}]
    # only the receiver answers; strangers do not even learn it exists
    by_sender = (await gql(RESPOND, {"id": sent["id"], "r": "ACCEPT"}, token=alice.token))[
        "respondToInterest"
    ]
    assert by_sender == {"__typename": "NotAllowed", "code": "NOT_YOURS"}
    by_stranger = (await gql(RESPOND, {"id": sent["id"], "r": "ACCEPT"}, token=eve.token))[
        "respondToInterest"
    ]
    assert by_stranger == {"__typename": "NotFound", "code": "NOT_FOUND"}
    accepted = (await gql(RESPOND, {"id": sent["id"], "r": "ACCEPT"}, token=bob.token))[
        "respondToInterest"
    ]
    assert (
        accepted["request"]["status"] == "ACCEPTED"
        and accepted["match"]["origin"] == "INTEREST_REQUEST"
    )
    assert accepted["match"]["user"]["id"] == alice.id
    twice = (await gql(RESPOND, {"id": sent["id"], "r": "REJECT"}, token=bob.token))[
        "respondToInterest"
    ]
    assert twice == {"__typename": "NotAllowed", "code": "NOT_PENDING"}
    late_cancel = (await gql(CANCEL, {"id": sent["id"]}, token=alice.token))["cancelInterest"]
    assert late_cancel == {"__typename": "NotAllowed", "code": "NOT_PENDING"}
    assert (await gql(SEND, {"id": bob.id, "m": "again"}, token=alice.token))["sendInterest"][
        "__typename"
    ] == "AlreadyExists"


async def test_reject_and_cancel(gql) -> None:
    a, b = await person(gql), await person(gql)
    first = (await gql(SEND, {"id": b.id, "m": ""}, token=a.token))["sendInterest"]
    rejected = (await gql(RESPOND, {"id": first["id"], "r": "REJECT"}, token=b.token))[
        "respondToInterest"
    ]
    assert rejected["request"]["status"] == "REJECTED" and rejected["match"] is None
    second = (await gql(SEND, {"id": b.id, "m": "one more try"}, token=a.token))["sendInterest"]
    assert (await gql(CANCEL, {"id": second["id"]}, token=b.token))["cancelInterest"][
        "code"
    ] == "NOT_YOURS"
    assert (await gql(CANCEL, {"id": second["id"]}, token=a.token))["cancelInterest"] == {
        "__typename": "InterestRequest",
        "status": "CANCELLED",
    }
    self_request = (await gql(SEND, {"id": a.id, "m": "me"}, token=a.token))["sendInterest"]
    assert self_request["__typename"] == "ValidationError"


async def test_unmatch_keeps_history(gql) -> None:
    a, b = await person(gql), await person(gql)
    await gql(LIKE, {"id": b.id}, token=a.token)
    match_id = (await gql(LIKE, {"id": a.id}, token=b.token))["like"]["match"]["id"]
    ended = await gql(
        "mutation($id: ID!) { unmatch(matchId: $id) { __typename ... on Match { status endedByMe } ... on NotAllowed { code } } }",
        {"id": match_id},
        token=a.token,
    )
    assert ended["unmatch"] == {"__typename": "Match", "status": "UNMATCHED", "endedByMe": True}
    again = await gql(
        "mutation($id: ID!) { unmatch(matchId: $id) { __typename ... on NotAllowed { code } } }",
        {"id": match_id},
        token=b.token,
    )
    assert again["unmatch"] == {"__typename": "NotAllowed", "code": "NOT_PENDING"}
    history = (await gql(MATCHES, {}, token=b.token))["matches"]["nodes"]
    assert history == [
        {
            "id": match_id,
            "origin": "MUTUAL_LIKE",
            "status": "UNMATCHED",
            "endedByMe": False,
            "user": {"id": a.id},
        }
    ]
    assert (await gql(MATCHES, {"status": "ACTIVE"}, token=b.token))["matches"]["nodes"] == []


async def test_changes_to_a_cached_candidate_show_at_once(gql) -> None:
    me = await person(gql, gender="WOMAN", prefs={"genders": ["MAN"]})
    him = await person(gql, gender="MAN")
    assert await recommended(gql, me) == [him.id]  # now cached
    await gql(
        "mutation { updateProfile(input: {gender: NON_BINARY}) { __typename } }", token=him.token
    )
    assert await recommended(gql, me) == []
    await gql("mutation { updateProfile(input: {gender: MAN}) { __typename } }", token=him.token)
    await gql(PREFS, {"i": {"genders": ["WOMAN"]}}, token=him.token)  # he changes whom he seeks
    assert await recommended(gql, me) == [him.id]
    await gql(PREFS, {"i": {"genders": ["MAN"]}}, token=him.token)
    assert await recommended(gql, me) == []


async def test_recommendations_need_a_profile(gql) -> None:
    token = await gql.register()
    data = (await gql(RECS, {}, token=token))["recommendations"]
    assert data == {"__typename": "NotAllowed", "code": "PROFILE_REQUIRED"}
    assert (await gql(RECS, {}))["recommendations"]["__typename"] == "AuthenticationRequired"


MATCH_CONVERSATIONS = """{ matches { ... on MatchConnection { nodes {
  user { id } conversation { id user { id } } } } } }"""
CONVERSATION_IDS = """{ conversations { ... on ConversationConnection { nodes {
  id user { id } } } } }"""


async def test_conversations_of_listed_matches_load_in_one_batch(gql, resources) -> None:
    """Match.conversation goes through a loader keyed by match id: each match shows its own
    conversation, with the same statements for a list of one match as for many."""

    async def matches_of(who) -> list[dict]:
        data = await gql(MATCH_CONVERSATIONS, token=who.token)
        return data["matches"]["nodes"]

    me = await person(gql)

    async def match_with_me():
        other = await person(gql)
        await gql(LIKE, {"id": other.id}, token=me.token)
        await gql(LIKE, {"id": me.id}, token=other.token)
        return other

    await match_with_me()
    with count_statements(resources.engine) as few:
        (one,) = await matches_of(me)
    for _ in range(3):
        await match_with_me()
    with count_statements(resources.engine) as many:
        listed = await matches_of(me)
    opened = (await gql(CONVERSATION_IDS, token=me.token))["conversations"]["nodes"]
    conversation_of = {c["user"]["id"]: c["id"] for c in opened}
    assert len(listed) == 4 and listed[-1] == one
    assert all(m["conversation"]["user"] == m["user"] for m in listed)
    assert [m["conversation"]["id"] for m in listed] == [
        conversation_of[m["user"]["id"]] for m in listed
    ]
    assert len(set(conversation_of.values())) == 4
    assert len(many) == len(few)
