"""the visibility rules as views, so the ORM queries and the raw SQL paths share one definition

Revision ID: 0012
Revises: 0011

`block_pairs (person, other)`: every block in both directions, so "a block stands between a
and b" is one row lookup (`person = a AND other = b`) and "everyone a block stands between
with p" is `other WHERE person = p`. `active_users`: the accounts that are active (not
suspended), with every column of `users` (recreate it when `users` gains one). PostgreSQL
inlines views into the queries that read them, so the plans are those of the hand-written
conditions they replace (tests/test_visibility_rules.py checks them).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        CREATE VIEW block_pairs (person, other) AS
            SELECT blocker_id, blocked_id FROM blocks
            UNION ALL SELECT blocked_id, blocker_id FROM blocks
    """)
    op.execute("CREATE VIEW active_users AS SELECT * FROM users WHERE status = 'active'")


def downgrade() -> None:
    op.execute("DROP VIEW active_users")
    op.execute("DROP VIEW block_pairs")
