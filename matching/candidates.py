"""Reciprocal candidates: people who fit the viewer's preferences AND whose preferences the
viewer fits, nearest in meaning first.

Two statements. The first reads the viewer's match_index row and, in the same round trip,
everyone the viewer must not see (swipes, passes on them, blocks, matches, pending requests).
The second applies every rule to match_index, one narrow trigger-maintained row per matchable
person holding their profile's and preferences' search fields and a 48-byte binary code of
their combined vector:

- viewers with a distance limit search the latitude/longitude box around them through
  (gender, intent, latitude, longitude); the others read their (gender, intent, birth date)
  range from an index that covers every column used, so it is an index-only scan;
- distances (the limits both ways, and the score's distance part) are between the centres of
  the two people's fixed 2 km grid cells, the only coordinates stored (matching/grid.py): who
  is within a limit, and every number derived from it, changes only from cell to cell;
- the candidates' own preferences are checked in the row, with no joins;
- the survivors are pre-ranked by Hamming distance of the binary codes, and only the best
  SHORTLIST_FACTOR x limit have their full combined vectors compared (exact cosine), and only
  the nearest `limit` their goals and bio.

Measured at 100,000 seeded people (bench/recommendations.py, 2-core machine, in process): p50
7 ms and p95 27 ms, against 8 and 83 ms comparing every eligible person's full vector, with
99.6% of the exact nearest 100 found. Tried and measured slower here: joining profiles,
users, preferences and embeddings (p95 60-140 ms); the float vector in match_index (wide
rows); pgvector's HNSW index with iterative scans (2,000 nearest take 31 ms before any filter).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from models.profiles import age_on

# Hamming pre-ranking keeps this many times `limit` people for the exact cosine re-ranking:
# bench/recommendations.py measures how many of the exact nearest it finds (recall).
SHORTLIST_FACTOR = 4

_VIEWER_SQL = text("""
SELECT birth_date, height_cm, gender, intent, mentorship_role, expertise, latitude, longitude,
       age_min, age_max, height_min_cm, height_max_cm, genders, intents, max_distance_km,
       -- people already acted on, who rejected the viewer, blocked either way, matched, or
       -- with a pending request either way: read once, through the viewer's index entries
       ARRAY(
           SELECT target_id FROM swipes WHERE swiper_id = :viewer AND undone_at IS NULL
           UNION ALL SELECT swiper_id FROM swipes
               WHERE target_id = :viewer AND kind = 'pass' AND undone_at IS NULL
           UNION ALL SELECT other FROM block_pairs WHERE person = :viewer  -- blocked_with
           UNION ALL SELECT user_high FROM matches WHERE user_low = :viewer AND status = 'active'
           UNION ALL SELECT user_low FROM matches WHERE user_high = :viewer AND status = 'active'
           UNION ALL SELECT receiver_id FROM interest_requests
               WHERE sender_id = :viewer AND status = 'pending'
           UNION ALL SELECT sender_id FROM interest_requests
               WHERE receiver_id = :viewer AND status = 'pending'
       ) AS excluded
FROM match_index WHERE user_id = :viewer AND active
""")

# No CTE: the scan of match_index may then run in parallel workers (PostgreSQL does not
# parallelise a query that reads a CTE), which halves the broadest viewers' time.
_CANDIDATES_SQL = """
WITH shortlist AS (
    -- every reciprocal rule on one narrow denormalised row per person (match_index), the
    -- survivors pre-ranked by the Hamming distance of their binary-quantised vectors
    SELECT c.user_id, d.km AS distance_km, c.birth_date, c.intent, c.mentorship_role,
           c.expertise, c.age_min, c.age_max, c.max_distance_km
    FROM match_index c
    CROSS JOIN LATERAL (
        SELECT 2 * 6371 * asin(sqrt(
            power(sin(radians(c.latitude - CAST(:v_lat AS float8)) / 2), 2)
            + cos(radians(CAST(:v_lat AS float8))) * cos(radians(c.latitude))
              * power(sin(radians(c.longitude - CAST(:v_lon AS float8)) / 2), 2))) AS km
    ) d
    WHERE c.user_id <> :viewer
      AND c.active
      -- the candidate fits the viewer's preferences ...
      AND c.gender = ANY(CAST(:v_genders AS text[]))
      AND c.intent = ANY(CAST(:v_intents AS text[]))
      AND c.birth_date <= CAST(:born_by AS date)
      AND c.birth_date > CAST(:born_after AS date)
      AND (CAST(:v_height_min AS int) IS NULL OR c.height_cm >= CAST(:v_height_min AS int))
      AND (CAST(:v_height_max AS int) IS NULL OR c.height_cm <= CAST(:v_height_max AS int))
      AND (CAST(:v_max_km AS int) IS NULL OR d.km <= CAST(:v_max_km AS int)){box}
      -- ... and the viewer fits the candidate's
      AND CAST(:v_gender AS text) = ANY(c.genders)
      AND CAST(:v_intent AS text) = ANY(c.intents)
      AND CAST(:v_age AS int) BETWEEN c.age_min AND c.age_max
      AND (c.height_min_cm IS NULL OR CAST(:v_height AS int) >= c.height_min_cm)
      AND (c.height_max_cm IS NULL OR CAST(:v_height AS int) <= c.height_max_cm)
      AND (c.max_distance_km IS NULL OR d.km <= c.max_distance_km)
      -- mentorship pairs a mentor with a mentee, never two of a kind
      AND (c.intent <> 'mentorship' OR CAST(:v_intent AS text) <> 'mentorship'
           OR c.mentorship_role IS DISTINCT FROM CAST(:v_role AS text))
      AND c.user_id <> ALL(CAST(:excluded AS uuid[]))
    ORDER BY c.combined_bits <~> (SELECT combined_bits FROM match_index WHERE user_id = :viewer),
             c.user_id
    LIMIT :shortlist
),
nearest AS (
    SELECT s.*,
           ce.combined <=> (SELECT combined FROM profile_embeddings WHERE user_id = :viewer)
               AS distance
    FROM shortlist s JOIN profile_embeddings ce ON ce.user_id = s.user_id
    ORDER BY distance, s.user_id
    LIMIT :limit
)
SELECT n.*,
       1 - (ce.goals <=> (SELECT goals FROM profile_embeddings WHERE user_id = :viewer))
           AS goals_similarity,
       1 - (ce.bio <=> (SELECT bio FROM profile_embeddings WHERE user_id = :viewer))
           AS bio_similarity
FROM nearest n JOIN profile_embeddings ce ON ce.user_id = n.user_id
ORDER BY n.distance, n.user_id
"""
# A viewer with a distance limit: the box around them that holds every point within it,
# searched through (gender, intent, latitude, longitude), so far-away people are never read.
_BOX = """
      AND c.latitude BETWEEN CAST(:lat_min AS float8) AND CAST(:lat_max AS float8)
      AND c.longitude BETWEEN CAST(:lon_min AS float8) AND CAST(:lon_max AS float8)"""
_ANYWHERE = text(_CANDIDATES_SQL.format(box=""))
_NEARBY = text(_CANDIDATES_SQL.format(box=_BOX))
EARTH_KM = 6371.0  # the haversine's radius


def bounding_box(lat: float, lon: float, km: float) -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) holding every point within `km` of (lat, lon) on
    the haversine sphere (J. P. Matuschek, "Finding points within a distance of a
    latitude/longitude using bounding coordinates"). Longitude is left whole when the circle
    holds a pole or crosses the antimeridian."""
    angle = km / EARTH_KM
    lat_min, lat_max = lat - math.degrees(angle), lat + math.degrees(angle)
    if lat_min <= -90 or lat_max >= 90:
        return max(lat_min, -90.0), min(lat_max, 90.0), -180.0, 180.0
    spread = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat)))))
    lon_min, lon_max = lon - spread, lon + spread
    if lon_min < -180 or lon_max > 180:
        return lat_min, lat_max, -180.0, 180.0
    return lat_min, lat_max, lon_min, lon_max


@dataclass(frozen=True, slots=True)
class Seeker:
    """The viewer, as the candidate query and the scorer need them."""

    user_id: uuid.UUID
    age: int
    intent: str
    mentorship_role: str | None
    expertise: list[str]
    age_min: int
    age_max: int
    max_distance_km: int | None


@dataclass(frozen=True, slots=True)
class Candidate:
    user_id: uuid.UUID
    goals_similarity: float
    bio_similarity: float
    distance_km: float | None
    age: int
    intent: str
    mentorship_role: str | None
    expertise: list[str]
    age_min: int
    age_max: int
    max_distance_km: int | None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


async def reciprocal_candidates(
    session: AsyncSession,
    viewer: uuid.UUID,
    today: date,
    limit: int,
    shortlist: int | None = None,
) -> tuple[Seeker, list[Candidate]] | None:
    """The viewer and up to `limit` candidates, most similar first; None when the viewer
    cannot be matched yet (no profile, preferences or embedding, or not active).

    The nearest are looked for among the `shortlist` people (default SHORTLIST_FACTOR x
    limit) nearest by Hamming distance of the binary codes; `shortlist=0` compares every
    eligible person's full vector (exact, slower: what the benchmark measures recall against).
    """
    v = (await session.execute(_VIEWER_SQL, {"viewer": viewer})).mappings().first()
    if v is None:
        return None
    seeker = Seeker(
        user_id=viewer,
        age=age_on(v["birth_date"], today),
        intent=v["intent"],
        mentorship_role=v["mentorship_role"],
        expertise=list(v["expertise"]),
        age_min=v["age_min"],
        age_max=v["age_max"],
        max_distance_km=v["max_distance_km"],
    )
    params = {
        "viewer": viewer,
        "today": today,
        "limit": limit,
        "shortlist": None if shortlist == 0 else shortlist or SHORTLIST_FACTOR * limit,
        "v_lat": v["latitude"],
        "v_lon": v["longitude"],
        "v_genders": list(v["genders"]),
        "v_intents": list(v["intents"]),
        "born_by": _years_before(today, v["age_min"]),
        "born_after": _years_before(today, v["age_max"] + 1),
        "v_height_min": v["height_min_cm"],
        "v_height_max": v["height_max_cm"],
        "v_max_km": v["max_distance_km"],
        "v_gender": v["gender"],
        "v_intent": v["intent"],
        "v_age": seeker.age,
        "v_height": v["height_cm"],
        "v_role": v["mentorship_role"],
        "excluded": list(v["excluded"]),
    }
    statement = _ANYWHERE
    if v["max_distance_km"] is not None and v["latitude"] is not None:
        lat_min, lat_max, lon_min, lon_max = bounding_box(
            v["latitude"], v["longitude"], v["max_distance_km"]
        )
        params |= {"lat_min": lat_min, "lat_max": lat_max, "lon_min": lon_min, "lon_max": lon_max}
        statement = _NEARBY
    result = await session.execute(statement, params)
    candidates = [
        Candidate(
            user_id=user_id,
            goals_similarity=float(goals_similarity),
            bio_similarity=float(bio_similarity),
            distance_km=distance_km,
            age=age_on(birth_date, today),
            intent=intent,
            mentorship_role=role,
            expertise=list(expertise),
            age_min=age_min,
            age_max=age_max,
            max_distance_km=max_km,
        )
        # tuples, in the statement's column order (mappings cost ~1 ms per 200 rows)
        for (
            user_id,
            distance_km,
            birth_date,
            intent,
            role,
            expertise,
            age_min,
            age_max,
            max_km,
            _distance,
            goals_similarity,
            bio_similarity,
        ) in result
    ]
    return seeker, candidates
