"""trusted documents: operations registered from clients' builds (rapport documents register)

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_documents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("operation_name", sa.Text(), nullable=True),
        sa.Column("operation_type", sa.Text(), nullable=False),
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persisted_documents")),
    )
    op.create_index(
        op.f("ix_persisted_documents_sha256"), "persisted_documents", ["sha256"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_persisted_documents_sha256"), table_name="persisted_documents")
    op.drop_table("persisted_documents")
