"""Location privacy (issue 12): only grid-cell centres are stored, so nothing Rapport returns,
alone or combined over many requests and places, locates anyone more finely than their 2 km
cell. The attacker here moves, changes their distance limit, and reads every number at hand
(membership, score, score parts, explanation, order); the same attack against exact
coordinates (simulated) gets within metres."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Awaitable, Callable, Sequence

import pytest

from matching import grid
from rapport.rate_limits import Limit
from rapport.settings import Settings
from tests.support.ids import key
from tests.support.people import person
from tests.support.rate_limits import RATE_LIMITED, refused
from tests.support.settings import make_settings

OUT_OF_REACH = "1000000/minute"
Point = tuple[float, float]

OWN_LOCATION = "{ me { ... on Me { profile { location { latitude longitude } } } } }"
MOVE = f"""mutation($l: LocationInput) {{ updateProfile(input: {{location: $l}}) {{
  __typename ... on OwnProfile {{ location {{ latitude longitude }} }} {RATE_LIMITED} }} }}"""
LIMIT = f"""mutation($km: Int) {{ updatePreferences(input: {{maxDistanceKm: $km}}) {{
  __typename ... on Preferences {{ maxDistanceKm }} {RATE_LIMITED} }} }}"""
# every field a recommendation carries, the cursor (which holds the score) included
EVERYTHING = """{ recommendations(first: 50) { __typename ... on RecommendationConnection {
  edges { cursor node { score user { id age city }
    explanation { summary sharedInterests goalsAlignment scoreForYou scoreForThem
                  alignedGoals { yours theirs similarity } } } } } } }"""


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The attacker is not slowed down by any limit (the scraping ones included): the grid
    alone must defeat them."""
    return make_settings(database_url, rate_limits=dict.fromkeys(Limit, OUT_OF_REACH))


def km_between(a: Point, b: Point) -> float:
    """The haversine distance the candidate statement uses."""
    (lat1, lon1), (lat2, lon2) = map(lambda p: (math.radians(p[0]), math.radians(p[1])), (a, b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * grid.EARTH_KM * math.asin(math.sqrt(h))


def offset(point: Point, bearing_deg: float, km: float) -> Point:
    lat, lon = map(math.radians, point)
    angle, bearing = km / grid.EARTH_KM, math.radians(bearing_deg)
    lat2 = math.asin(
        math.sin(lat) * math.cos(angle) + math.cos(lat) * math.sin(angle) * math.cos(bearing)
    )
    lon2 = lon + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(lat),
        math.cos(angle) - math.sin(lat) * math.sin(lat2),
    )
    return math.degrees(lat2), math.degrees(lon2)


def cell_bounds(point: Point) -> tuple[float, float, float, float]:
    band, column = grid.cell(*point)
    step = 360.0 / grid.cells_in_band(band)
    south, west = -90.0 + band * grid.BAND_DEG, -180.0 + column * step
    return south, south + grid.BAND_DEG, west, west + step


# -- the grid ---------------------------------------------------------------------------------


async def test_the_python_and_sql_grids_agree(resources) -> None:
    rng = random.Random(12)
    points = [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(3000)]
    points += [(-90, -180), (90, 180), (0, 180), (0, -180), (89.999, 3.0), (-89.9999, -3.0)]
    points += [(rng.uniform(-90, 90), rng.choice((-180.0, 180.0))) for _ in range(20)]
    rows = await resources.raw_pool.fetch(
        "SELECT c.cell_lat, c.cell_lon"
        " FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lat, lon, n)"
        " CROSS JOIN LATERAL location_cell(p.lat, p.lon) c ORDER BY p.n",
        [p[0] for p in points],
        [p[1] for p in points],
    )
    for point, row in zip(points, rows, strict=True):
        assert (row["cell_lat"], row["cell_lon"]) == pytest.approx(grid.snap(*point), abs=1e-9)


def test_cells_are_at_least_2_km_fixed_and_hold_their_centre() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        point = (rng.uniform(-89.9, 89.9), rng.uniform(-180, 180))
        centre = grid.snap(*point)
        assert grid.snap(*centre) == centre  # a stored centre stays where it is
        assert grid.cell(*centre) == grid.cell(*point)
        south, north, west, east = cell_bounds(point)
        assert south <= point[0] <= north and west <= point[1] <= east
        poleward = north if abs(north) > abs(south) else south
        height = km_between((south, centre[1]), (north, centre[1]))
        if grid.cells_in_band(grid.cell(*point)[0]) > 1:  # not a polar cap
            width = km_between((poleward, west), (poleward, east))
            assert width >= grid.CELL_KM - 1e-6, point
        assert height >= grid.CELL_KM - 1e-6


async def test_only_the_cell_centre_is_stored_whoever_writes(gql, resources) -> None:
    exact = (52.523456, 13.411234)
    me = await person(gql, location={"city": "Berlin", "latitude": exact[0], "longitude": exact[1]})
    shown = (await gql(OWN_LOCATION, token=me.token))["me"]["profile"]["location"]
    assert (shown["latitude"], shown["longitude"]) == pytest.approx(grid.snap(*exact), abs=1e-9)
    # a write that bypasses the API (an operator's SQL) is snapped by the trigger too
    await resources.raw_pool.execute(
        "UPDATE profiles SET latitude = $2, longitude = $3 WHERE user_id = $1::uuid",
        key(me.id),
        *exact,
    )
    for table in ("profiles", "match_index"):
        row = await resources.raw_pool.fetchrow(
            f"SELECT latitude, longitude FROM {table} WHERE user_id = $1::uuid", key(me.id)
        )
        assert (row["latitude"], row["longitude"]) == pytest.approx(grid.snap(*exact), abs=1e-9)


# -- the attacker -----------------------------------------------------------------------------

# The victim sits near the south-west corner of their cell; the twin position near the
# north-east corner of the same cell is 2.5 km away from it.
BERLIN = (52.52, 13.405)
_S, _N, _W, _E = cell_bounds(BERLIN)
VICTIM = (_S + 0.03 * (_N - _S), _W + 0.03 * (_E - _W))
TWIN = (_N - 0.03 * (_N - _S), _E - 0.03 * (_E - _W))
# Where the attacker stands: all round the victim, 5 and 9 km away.
STANDS = [offset(VICTIM, b, 5.0) for b in range(0, 360, 45)] + [
    offset(VICTIM, b, 9.0) for b in (20, 110, 200, 290)
]
WIDE = 20  # km: the limit under which the attacker reads the score's distance part
W_DISTANCE = 0.025  # W_FIT x 1/2: how much the distance fit weighs in scoreForYou


def at(point: Point, city: str = "Berlin") -> dict:
    return {"city": city, "latitude": point[0], "longitude": point[1]}


Observe = Callable[[Point, int | None], Awaitable[dict | None]]


def infer(
    seen: Sequence[tuple[Point, int, float, float]], decimals: int
) -> tuple[Point, list[tuple[Point, float, float]]]:
    """The attacker's trilateration from (own reference point, smallest limit that shows the
    victim, scoreForYou without a limit, with a WIDE limit): each gives the distance from the
    membership interval (k-1, k] and from the score's distance term, combined; then the point
    that best fits every distance (least squares on a local plane, coarse then fine)."""
    slack = 10.0**-decimals * WIDE / W_DISTANCE  # what the score's rounding leaves
    rings = []
    for own, k, unlimited, wide in seen:
        from_score = (unlimited - wide) * WIDE / W_DISTANCE
        low, high = max(k - 1, from_score - slack), min(k, from_score + slack)
        rings.append((own, low, high) if low <= high else (own, k - 1.0, float(k)))
    lat0 = sum(p[0] for p, _, _ in rings) / len(rings)
    lon0 = sum(p[1] for p, _, _ in rings) / len(rings)
    kx, ky = 111.195 * math.cos(math.radians(lat0)), 111.195

    def plane(p: Point) -> tuple[float, float]:
        return (p[1] - lon0) * kx, (p[0] - lat0) * ky

    targets = [(plane(own), (low + high) / 2) for own, low, high in rings]

    def misfit(x: float, y: float) -> float:
        return sum((math.hypot(x - ax, y - ay) - r) ** 2 for (ax, ay), r in targets)

    best = (0.0, 0.0)
    for step, reach in ((0.1, 12.0), (0.005, 0.2)):
        n = int(reach / step)
        cx, cy = best
        best = min(
            ((cx + i * step, cy + j * step) for i in range(-n, n + 1) for j in range(-n, n + 1)),
            key=lambda q: misfit(*q),
        )
    return (lat0 + best[1] / ky, lon0 + best[0] / kx), rings


async def attack(
    observe: Observe, own: Callable[[Point], Point], decimals: int = 3
) -> tuple[Point, list[dict]]:
    """Run the attack through `observe(stand, limit)` (the victim's recommendation, or None if
    they are not in the list); `own(stand)` is where the attacker's location then reads back.
    Returns the estimate and everything observed."""
    seen, log = [], []
    for stand in STANDS:
        unlimited = await observe(stand, None)
        wide = await observe(stand, WIDE)
        assert unlimited is not None and wide is not None
        low, high = 0, WIDE  # binary search for the smallest limit that shows the victim
        while high - low > 1:
            middle = (low + high) // 2
            shown = await observe(stand, middle)
            log.append({"stand": stand, "limit": middle, "seen": shown})
            low, high = (low, middle) if shown is not None else (middle, high)
        log += [{"stand": stand, "unlimited": unlimited, "wide": wide}]
        seen.append((own(stand), high, unlimited["scoreForYou"], wide["scoreForYou"]))
    estimate, _ = infer(seen, decimals)
    return estimate, log


async def test_the_attack_works_against_exact_coordinates() -> None:
    """The attacker is competent: against the old behaviour (exact coordinates, scores to 4
    decimals) the same attack places the victim within metres."""

    async def observe(stand: Point, limit: int | None) -> dict | None:
        d = km_between(stand, VICTIM)
        if limit is not None and d > limit:
            return None
        fit = 1.0 if limit is None else max(0.0, 1 - d / limit)
        return {"scoreForYou": round(0.61 + W_DISTANCE * fit, 4)}

    estimate, _ = await attack(observe, lambda stand: stand, decimals=4)
    assert km_between(estimate, VICTIM) < 0.1


async def test_an_attacker_cannot_place_anyone_within_1_km(gql, resources) -> None:
    victim = await person(gql, location=at(VICTIM), bio="Hello.", goals="Walks.")
    attacker = await person(gql, location=at(STANDS[0]), bio="Hello.", goals="Walks.")
    # a decoy the attacker controls, at a known place: the order of the two tells distances too
    await person(gql, location=at(offset(VICTIM, 90, 3.0)), bio="Hello.", goals="Walks.")
    state: dict[str, object] = {}
    answers: list[dict] = []

    async def observe(stand: Point, limit: int | None) -> dict | None:
        if state.get("stand") != stand:
            moved = (await gql(MOVE, {"l": at(stand)}, token=attacker.token))["updateProfile"]
            assert moved["__typename"] == "OwnProfile", moved
            state["stand"] = stand
        if state.get("limit", "unset") != limit:
            changed = (await gql(LIMIT, {"km": limit}, token=attacker.token))["updatePreferences"]
            assert changed["__typename"] == "Preferences", changed
            state["limit"] = limit
        answer = (await gql(EVERYTHING, token=attacker.token))["recommendations"]
        answers.append(answer)
        mine = [e["node"] for e in answer["edges"] if e["node"]["user"]["id"] == victim.id]
        return {**mine[0]["explanation"], "score": mine[0]["score"]} if mine else None

    async def run() -> tuple[Point, list[dict], list[dict]]:
        state.clear()
        answers.clear()
        estimate, log = await attack(observe, lambda stand: grid.snap(*stand))
        return estimate, log, list(answers)

    estimate, log, answers = await run()
    error = km_between(estimate, VICTIM)
    assert error > 1.0, f"placed within {error:.3f} km"
    # What the attacker inferred is the victim's cell centre, at best.
    assert km_between(estimate, grid.snap(*VICTIM)) < km_between(estimate, VICTIM)

    # Whatever else the attacker does with those answers, they are the same for the twin
    # position 2.5 km away in the same cell: no estimate can be within 1 km of both.
    assert km_between(VICTIM, TWIN) > 2.0
    await gql(MOVE, {"l": at(TWIN)}, token=victim.token)
    twin_estimate, twin_log, twin_answers = await run()
    assert json.dumps(twin_answers) == json.dumps(answers) and twin_log == log
    assert twin_estimate == estimate


async def test_moving_within_ones_own_cell_changes_nothing(gql) -> None:
    for bearing, km in ((0, 3.0), (90, 5.0), (180, 6.5), (270, 8.0)):
        await person(gql, location=at(offset(BERLIN, bearing, km)))
    me = await person(gql, location=at(VICTIM), prefs={"maxDistanceKm": 6})
    before = await gql(EVERYTHING, token=me.token)
    assert len(before["recommendations"]["edges"]) >= 1
    moved = (await gql(MOVE, {"l": at(TWIN)}, token=me.token))["updateProfile"]
    assert moved["__typename"] == "OwnProfile"
    assert await gql(EVERYTHING, token=me.token) == before


# -- rate limits on moving and on the distance limit --------------------------------------------


class TestLocationChangesAreLimited:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(database_url, rate_limits={"location_changes": "2/hour"})

    async def test_moves_and_limits_share_one_budget_and_refusals_change_nothing(
        self, gql, resources
    ) -> None:
        me = await person(gql, location=at(VICTIM))

        async def move(location: dict | None) -> dict:
            return (await gql(MOVE, {"l": location}, token=me.token))["updateProfile"]

        async def limit(km: int | None) -> dict:
            return (await gql(LIMIT, {"km": km}, token=me.token))["updatePreferences"]

        # free: a move within the cell, a new city name alone, the limit it already has
        assert (await move(at(TWIN)))["__typename"] == "OwnProfile"
        assert (await move(at(TWIN, "Elsewhere")))["__typename"] == "OwnProfile"
        assert (await limit(None))["__typename"] == "Preferences"
        away = offset(VICTIM, 0, 10)
        assert (await move(at(away)))["__typename"] == "OwnProfile"  # spends 1
        assert (await limit(30))["__typename"] == "Preferences"  # spends 1
        assert (await limit(30))["__typename"] == "Preferences"  # unchanged: free
        refused(await limit(40), "location_changes")
        refused(await move(at(VICTIM)), "location_changes")
        refused(await move(None), "location_changes")
        refused(await move({**at(VICTIM), "city": "Changed too"}), "location_changes")
        row = await resources.raw_pool.fetchrow(
            "SELECT p.latitude, p.longitude, p.city, pr.max_distance_km FROM profiles p "
            "JOIN preferences pr USING (user_id) WHERE user_id = $1::uuid",
            key(me.id),
        )
        assert (row["latitude"], row["longitude"]) == pytest.approx(grid.snap(*away), abs=1e-9)
        assert row["max_distance_km"] == 30 and row["city"] == "Berlin"
