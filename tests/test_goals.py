"""Which goals align: goal phrases are split, embedded with the profile, kept in step with
edits, backfilled by `rapport embed`, and named in recommendations' explanations."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlmodel import col

from matching.embeddings import count_pending
from matching.goals import MAX_PHRASES, split_goals
from models import GoalPhrase, ProfileEmbedding
from rapport.cli import embed_pending
from tests.support.ids import key
from tests.support.people import UPDATE, person

EXPLAINED = """{ recommendations(first: 10) { ... on RecommendationConnection { edges { node {
  user { id } explanation { summary alignedGoals { yours theirs similarity } } } } } } }"""

RUNNER = "I want to run my first marathon next spring. I want to learn to cook Thai food."
TRAINER = "Looking for a partner to train for a marathon. Also keen to learn the guitar."
GARDENER = "Grow vegetables on my balcony. Restore an old sailing boat."


def test_split_goals_into_sentences_and_list_items() -> None:
    assert split_goals(RUNNER) == [
        "I want to run my first marathon next spring.",
        "I want to learn to cook Thai food.",
    ]
    assert split_goals("- learn Spanish\n- travel to Peru; cook more\n\u2022 read") == [
        "learn Spanish",
        "travel to Peru",
        "cook more",
        "read",
    ]
    assert split_goals("Build a startup - find a cofounder") == [
        "Build a startup",
        "find a cofounder",
    ]
    assert split_goals("Same goal. Same goal.") == ["Same goal."]
    assert split_goals("   ") == [] and split_goals("") == []
    assert split_goals("ok") == ["ok"]  # only a fragment: the whole text is the phrase
    many = " ".join(f"Goal number {i}." for i in range(20))
    assert len(split_goals(many)) == MAX_PHRASES


async def _phrases(resources, user_id: str) -> list[str]:
    async with resources.sessionmaker() as session:
        rows = await session.execute(
            select(col(GoalPhrase.phrase))
            .where(col(GoalPhrase.user_id) == key(user_id))
            .order_by(col(GoalPhrase.position))
        )
        return list(rows.scalars())


async def test_explanation_names_the_goals_that_align(gql) -> None:
    runner = await person(gql, goals=RUNNER)
    trainer = await person(gql, goals=TRAINER)
    gardener = await person(gql, goals=GARDENER)
    data = await gql(EXPLAINED, token=runner.token)
    explained = {
        e["node"]["user"]["id"]: e["node"]["explanation"] for e in data["recommendations"]["edges"]
    }
    assert set(explained) == {trainer.id, gardener.id}
    pairs = explained[trainer.id]["alignedGoals"]
    assert [(p["yours"], p["theirs"]) for p in pairs] == [
        (
            "I want to run my first marathon next spring.",
            "Looking for a partner to train for a marathon.",
        )
    ]
    assert 0.5 <= pairs[0]["similarity"] <= 1
    assert "run my first marathon next spring" in explained[trainer.id]["summary"]
    assert explained[gardener.id]["alignedGoals"] == []  # nothing in common: nothing claimed

    # The other way round, "yours" and "theirs" swap.
    back = await gql(EXPLAINED, token=trainer.token)
    (edge,) = [e for e in back["recommendations"]["edges"] if e["node"]["user"]["id"] == runner.id]
    (pair,) = edge["node"]["explanation"]["alignedGoals"]
    assert pair["yours"].startswith("Looking for a partner") and "marathon" in pair["theirs"]


async def test_goal_phrases_follow_edits(gql) -> None:
    runner = await person(gql, goals=RUNNER)
    assert await _phrases(gql.resources, runner.id) == split_goals(RUNNER)
    changed = await gql(UPDATE, {"i": {"goals": GARDENER}}, token=runner.token)
    assert changed["updateProfile"]["__typename"] == "OwnProfile", changed
    assert await _phrases(gql.resources, runner.id) == split_goals(GARDENER)
    cleared = await gql(UPDATE, {"i": {"goals": ""}}, token=runner.token)
    assert cleared["updateProfile"]["__typename"] == "OwnProfile", cleared
    assert await _phrases(gql.resources, runner.id) == []


async def test_embed_backfills_missing_phrases_without_reencoding_the_rest(gql) -> None:
    resources = gql.resources
    encoder = resources.matcher.encoder
    people = [await person(gql, goals=goals) for goals in (RUNNER, TRAINER, GARDENER)]
    async with resources.sessionmaker() as session:
        before = dict(
            (
                await session.execute(
                    select(col(ProfileEmbedding.user_id), col(ProfileEmbedding.embedded_at))
                )
            ).all()
        )
        assert await count_pending(session, encoder.name) == 0
        await session.execute(text("DELETE FROM goal_phrases"))  # as after migration 0005
        await session.commit()
        assert await count_pending(session, encoder.name) == 3

    done = await embed_pending(resources.sessionmaker, encoder, batch=2, progress=False)
    assert (done.pending, done.done) == (3, 3)
    for who, goals in zip(people, (RUNNER, TRAINER, GARDENER), strict=True):
        assert await _phrases(resources, who.id) == split_goals(goals)
    async with resources.sessionmaker() as session:
        after = dict(
            (
                await session.execute(
                    select(col(ProfileEmbedding.user_id), col(ProfileEmbedding.embedded_at))
                )
            ).all()
        )
        assert after == before  # the goals and bio vectors were not redone
        assert await count_pending(session, encoder.name) == 0
