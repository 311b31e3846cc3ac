"""Quality: in a seeded population with planted structure (groups sharing rare interests and
goals on one theme, everyone open to everyone), a member's top 10 come mostly from its own
group. Chance would be about (size - 1) / (n - 1)."""

from __future__ import annotations

from datetime import date

from rapport.seed import planted, seed
from resolvers.matching import recommendations
from resolvers.operation import Operation
from tests.support.gql import make_viewer

GROUPS, SIZE = 6, 12


async def test_top_ten_come_mostly_from_ones_own_group(resources) -> None:
    specs = planted(GROUPS, SIZE, seed=7)
    ids = await seed(resources, specs, progress=False)
    group_of = {user_id: spec.group for user_id, spec in zip(ids, specs, strict=True)}
    precisions = []
    for user_id, spec in zip(ids, specs, strict=True):
        async with resources.sessionmaker() as session:
            viewer = await make_viewer(resources, user_id)
            page = await recommendations(
                Operation.of_tool(viewer, resources, session),
                first=10,
                after=None,
                today=date.today(),
            )
        top = [r.profile.user_id for r in page.items]
        assert len(top) == 10
        precisions.append(sum(group_of[u] == spec.group for u in top) / 10)
    chance = (SIZE - 1) / (GROUPS * SIZE - 1)
    mean = sum(precisions) / len(precisions)
    print(f"precision@10: mean {mean:.2f}, worst {min(precisions):.2f}, chance {chance:.2f}")
    assert mean >= 0.8, (mean, chance)
    assert min(precisions) >= 0.5
