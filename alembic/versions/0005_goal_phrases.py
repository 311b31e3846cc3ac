"""goal_phrases: each profile's goals split into phrases, each embedded

Existing profiles get their phrases from `rapport embed` (they count as pending until then;
only the phrases are encoded, their other vectors are kept).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "goal_phrases",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("phrase", sa.Text(), nullable=False),
        sa.Column("embedding", pgvector.sqlalchemy.Vector(dim=384), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_goal_phrases_position_range")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_goal_phrases_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "position", name=op.f("pk_goal_phrases")),
    )


def downgrade() -> None:
    op.drop_table("goal_phrases")
