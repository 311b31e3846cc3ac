"""The candidate query's two stages: the binary codes in match_index follow the embeddings,
and the Hamming shortlist finds the people the exact cosine search would find."""

from __future__ import annotations

import math
from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from matching.candidates import EARTH_KM, bounding_box, reciprocal_candidates
from rapport.seed import planted, seed
from tests.support.ids import key
from tests.support.people import UPDATE, person, recommended

CODES = text("""
SELECT m.combined_bits = binary_quantize(e.combined), CAST(m.combined_bits AS text)
FROM match_index m JOIN profile_embeddings e USING (user_id) WHERE m.user_id = :id
""")


async def test_binary_codes_follow_the_embeddings(gql) -> None:
    someone = await person(gql, goals="Run a marathon with friends.")
    async with gql.resources.sessionmaker() as session:
        same, before = (await session.execute(CODES, {"id": key(someone.id)})).one()
    assert same and len(before) == 384 and set(before) == {"0", "1"}
    changed = await gql(
        UPDATE, {"i": {"goals": "Restore an old sailing boat."}}, token=someone.token
    )
    assert changed["updateProfile"]["__typename"] == "OwnProfile", changed
    async with gql.resources.sessionmaker() as session:
        same, after = (await session.execute(CODES, {"id": key(someone.id)})).one()
    assert same and after != before


async def _nearest(resources, ids, limit: int, shortlist: int | None) -> dict:
    found = {}
    async with resources.sessionmaker() as session:
        for user_id in ids:
            got = await reciprocal_candidates(session, user_id, date.today(), limit, shortlist)
            assert got is not None
            found[user_id] = [c.user_id for c in got[1]]
    return found


async def test_shortlist_finds_what_the_exact_search_finds(resources) -> None:
    ids = await seed(resources, planted(6, 12, seed=3), progress=False)
    viewers = ids[::7]
    # All 71 others fit in the default shortlist (4 x 20): the same people, same order.
    exact = await _nearest(resources, viewers, limit=20, shortlist=0)
    assert all(len(found) == 20 for found in exact.values())
    assert await _nearest(resources, viewers, limit=20, shortlist=None) == exact
    exact = {v: found[:10] for v, found in exact.items()}

    # A shortlist of 20 of the 71 eligible, chosen by Hamming distance of the binary codes
    # alone, still holds most of the exact nearest 10 (20 people picked at random would
    # hold about 28% of them).
    tight = await _nearest(resources, viewers, limit=10, shortlist=20)
    recall = [len(set(tight[v]) & set(exact[v])) / 10 for v in viewers]
    print(f"recall of the exact nearest 10 with a Hamming shortlist of 20: {recall}")
    assert sum(recall) / len(recall) >= 0.8 and min(recall) >= 0.6, recall


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    a = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(math.radians(lat1))
        * math.cos(math.radians(lat2))
        * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(math.sqrt(a))


@given(
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-180, 180),
    km=st.integers(1, 20_000),
    bearing=st.floats(0, 2 * math.pi),
    share=st.floats(0, 1),
)
def test_bounding_box_holds_every_point_within_reach(
    lat: float, lon: float, km: int, bearing: float, share: float
) -> None:
    # A point `share * km` away in direction `bearing` (the sphere's destination formula).
    angle = share * km / EARTH_KM
    phi, lam = math.radians(lat), math.radians(lon)
    phi2 = math.asin(
        math.sin(phi) * math.cos(angle) + math.cos(phi) * math.sin(angle) * math.cos(bearing)
    )
    lam2 = lam + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(phi),
        math.cos(angle) - math.sin(phi) * math.sin(phi2),
    )
    lat2 = math.degrees(phi2)
    lon2 = (math.degrees(lam2) + 540) % 360 - 180
    if _haversine(lat, lon, lat2, lon2) > km:  # rounding at the very edge
        return
    lat_min, lat_max, lon_min, lon_max = bounding_box(lat, lon, km)
    slack = 1e-9
    assert lat_min - slack <= lat2 <= lat_max + slack
    assert lon_min - slack <= lon2 <= lon_max + slack


def test_bounding_box_is_tight_where_it_can_be() -> None:
    lat_min, lat_max, lon_min, lon_max = bounding_box(38.72, -9.14, 300)  # Lisbon
    assert 36 < lat_min < 36.1 and 41.3 < lat_max < 41.5
    assert -12.6 < lon_min < -12.5 and -5.8 < lon_max < -5.6
    assert bounding_box(85.0, 10.0, 1000)[2:] == (-180.0, 180.0)  # holds the pole
    assert bounding_box(0.0, 179.0, 500)[2:] == (-180.0, 180.0)  # crosses the antimeridian


async def test_distance_limit_finds_people_just_inside_it(gql) -> None:
    lisbon = {"city": "Lisbon", "latitude": 38.72, "longitude": -9.14}
    porto = {"city": "Porto", "latitude": 41.15, "longitude": -8.61}  # 274 km north
    madrid = {"city": "Madrid", "latitude": 40.42, "longitude": -3.70}  # 503 km east
    viewer = await person(gql, location=lisbon, prefs={"maxDistanceKm": 280})
    north = await person(gql, location=porto)
    east = await person(gql, location=madrid)
    assert await recommended(gql, viewer) == [north.id]
    wider = await gql(
        "mutation($i: UpdatePreferencesInput!) { updatePreferences(input: $i) { __typename } }",
        {"i": {"maxDistanceKm": 510}},
        token=viewer.token,
    )
    assert wider["updatePreferences"]["__typename"] == "Preferences"
    assert set(await recommended(gql, viewer)) == {north.id, east.id}
