"""Scoring: how well two people suit each other, in each direction, combined so that a pair
one side would not want ranks low (harmonic mean, as in the RECON reciprocal recommender).

Direction A -> B ("how much B offers A") mixes:
- semantic similarity of goals (weighted most) and of bios (cosine, clipped at 0);
- interest coverage: the share of A's interests, weighted by rarity (IDF), that B shares, so
  a shared rare interest counts for more than a shared common one;
- intent alignment: same intent, or complementary mentorship roles with overlapping
  expertise, beats an intent A merely accepts;
- a soft preference fit: closer to the middle of A's age range and nearer than A's limit.

Exposure: the combined score is damped by how many likes the candidate received in the last
week, so the few most-liked profiles do not fill everyone's list.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matching.candidates import Candidate, Seeker
from matching.goals import AlignedGoal

W_GOALS, W_BIO, W_INTERESTS, W_INTENT, W_FIT = 0.40, 0.15, 0.30, 0.10, 0.05
EXPOSURE_DAMPING = 0.15
STRONG_GOALS = 0.55
SOME_GOALS = 0.35
# Scores are kept and shown to 3 decimals. Their distance part comes from grid-cell centres
# (matching/grid.py), so it carries no more than the cell; the rounding also keeps the
# distance term from being read back to metres (W_FIT / 2 * distance / limit: at 4 decimals
# and a 1 km limit, 4 m). The order and the page cursors use the same rounded score.
SCORE_DECIMALS = 3


@dataclass(frozen=True, slots=True)
class Scored:
    user_id: uuid.UUID
    score: float
    for_viewer: float  # viewer -> candidate
    for_candidate: float  # candidate -> viewer
    shared_interests: tuple[str, ...]  # rarest first
    goals_similarity: float


def idf(people_with_tag: int, people: int) -> float:
    return math.log(1 + people / (1 + people_with_tag))


def rarity(tags: set[str], weights: Mapping[str, float]) -> float:
    """Total rarity weight of some interests; coverage is shared rarity / my rarity."""
    return sum(weights.get(t, 0.0) for t in tags)


def intent_alignment(
    my_intent: str,
    my_role: str | None,
    my_expertise: list[str],
    their_intent: str,
    their_role: str | None,
    their_expertise: list[str],
) -> float:
    if my_intent != their_intent:
        return 0.5  # an intent I accept, but not the one I came for
    if my_intent != "mentorship":
        return 1.0
    if my_role == their_role:  # filtered out already; defensive
        return 0.0
    mine, theirs = set(my_expertise), set(their_expertise)
    overlap = len(mine & theirs) / len(mine | theirs) if mine | theirs else 0.0
    return 0.6 + 0.4 * overlap


def preference_fit(
    age: int, age_min: int, age_max: int, distance: float | None, max_km: int | None
) -> float:
    middle, half = (age_min + age_max) / 2, max((age_max - age_min) / 2, 1)
    age_fit = max(0.0, 1 - abs(age - middle) / half)
    distance_fit = 1.0 if distance is None or not max_km else max(0.0, 1 - distance / max_km)
    return (age_fit + distance_fit) / 2


def harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a > 0 and b > 0 else 0.0


def score(
    seeker: Seeker,
    candidates: list[Candidate],
    interests: Mapping[uuid.UUID, set[str]],
    weights: Mapping[str, float],
    likes_received: Mapping[uuid.UUID, int],
) -> list[Scored]:
    """Candidates ranked best first (ties broken by id, so the order is total and stable)."""
    mine = interests.get(seeker.user_id, set())
    mine_total = rarity(mine, weights)  # the same for every candidate: summed once
    ranked = []
    for c in candidates:
        theirs = interests.get(c.user_id, set())
        shared = mine & theirs
        shared_weight = rarity(shared, weights)
        theirs_total = rarity(theirs, weights)
        semantic = W_GOALS * max(c.goals_similarity, 0.0) + W_BIO * max(c.bio_similarity, 0.0)
        a_to_b = (
            semantic
            + W_INTERESTS * (shared_weight / mine_total if mine_total else 0.0)
            + W_INTENT
            * intent_alignment(
                seeker.intent,
                seeker.mentorship_role,
                seeker.expertise,
                c.intent,
                c.mentorship_role,
                c.expertise,
            )
            + W_FIT
            * preference_fit(
                c.age, seeker.age_min, seeker.age_max, c.distance_km, seeker.max_distance_km
            )
        )
        b_to_a = (
            semantic
            + W_INTERESTS * (shared_weight / theirs_total if theirs_total else 0.0)
            + W_INTENT
            * intent_alignment(
                c.intent,
                c.mentorship_role,
                c.expertise,
                seeker.intent,
                seeker.mentorship_role,
                seeker.expertise,
            )
            + W_FIT
            * preference_fit(seeker.age, c.age_min, c.age_max, c.distance_km, c.max_distance_km)
        )
        damped = harmonic(a_to_b, b_to_a) / (
            1 + EXPOSURE_DAMPING * math.log1p(likes_received.get(c.user_id, 0))
        )
        ranked.append(
            Scored(
                user_id=c.user_id,
                score=round(damped, SCORE_DECIMALS),
                for_viewer=round(a_to_b, SCORE_DECIMALS),
                for_candidate=round(b_to_a, SCORE_DECIMALS),
                shared_interests=tuple(sorted(shared, key=lambda t: (-weights.get(t, 0.0), t))),
                goals_similarity=c.goals_similarity,
            )
        )
    ranked.sort(key=lambda s: (-s.score, str(s.user_id)))
    return ranked


def explain(
    shared: tuple[str, ...], aligned: Sequence[AlignedGoal], goals_similarity: float
) -> str:
    """One sentence a person can read: the rarest shared interests, then the goals that align
    (the closest pair quoted), else how close the goals are taken whole."""
    parts = []
    if shared:
        listed = ", ".join(shared[:3])
        more = f" and {len(shared) - 3} more" if len(shared) > 3 else ""
        parts.append(f"You both like {listed}{more}")
    if aligned:
        best = aligned[0]
        parts.append(
            f"your goal \u201c{_quoted(best.yours)}\u201d meets their "
            f"\u201c{_quoted(best.theirs)}\u201d"
        )
    elif goals_similarity >= STRONG_GOALS:
        parts.append("your goals are closely aligned")
    elif goals_similarity >= SOME_GOALS:
        parts.append("your goals overlap")
    if not parts:
        return "You fit each other's preferences."
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def _quoted(phrase: str) -> str:
    return phrase.rstrip(".!?;, ")
