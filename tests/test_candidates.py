"""The candidate query's two stages: the binary codes in match_index follow the embeddings,
and the Hamming shortlist finds the people the exact cosine search would find."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from matching.candidates import reciprocal_candidates
from rapport.seed import planted, seed
from tests.test_matching import person
from tests.test_profiles import UPDATE

CODES = text("""
SELECT m.combined_bits = binary_quantize(e.combined), CAST(m.combined_bits AS text)
FROM match_index m JOIN profile_embeddings e USING (user_id) WHERE m.user_id = :id
""")


async def test_binary_codes_follow_the_embeddings(gql) -> None:
    someone = await person(gql, goals="Run a marathon with friends.")
    async with gql.resources.sessionmaker() as session:
        same, before = (await session.execute(CODES, {"id": someone.id})).one()
    assert same and len(before) == 384 and set(before) == {"0", "1"}
    changed = await gql(
        UPDATE, {"i": {"goals": "Restore an old sailing boat."}}, token=someone.token
    )
    assert changed["updateProfile"]["__typename"] == "OwnProfile", changed
    async with gql.resources.sessionmaker() as session:
        same, after = (await session.execute(CODES, {"id": someone.id})).one()
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
