"""match_index.combined_bits: each person's combined embedding, binary-quantised

The candidate search orders everyone who passes the reciprocal rules by the Hamming distance
of these 48-byte codes (read in the same narrow row as the rules), then re-ranks only a
shortlist by the exact cosine of the full vectors. See matching/candidates.py.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = """p.user_id, u.status = 'active', p.gender, p.intent, p.mentorship_role, p.expertise,
           p.birth_date, p.height_cm, p.latitude, p.longitude,
           pr.age_min, pr.age_max, pr.height_min_cm, pr.height_max_cm, pr.genders, pr.intents,
           pr.max_distance_km"""
REFRESH = """
CREATE OR REPLACE FUNCTION match_index_refresh(uid uuid) RETURNS void LANGUAGE sql AS $$
    DELETE FROM match_index WHERE user_id = uid;
    INSERT INTO match_index
    SELECT {columns}
    FROM profiles p
    JOIN users u ON u.id = p.user_id
    JOIN preferences pr ON pr.user_id = p.user_id
    JOIN profile_embeddings e ON e.user_id = p.user_id
    WHERE p.user_id = uid;
$$
"""


def upgrade() -> None:
    op.execute("DELETE FROM match_index")
    op.add_column(
        "match_index",
        sa.Column("combined_bits", pgvector.sqlalchemy.BIT(384), nullable=False),
    )
    op.execute(REFRESH.format(columns=COLUMNS + ",\n           binary_quantize(e.combined)"))
    op.execute("SELECT match_index_refresh(user_id) FROM profiles")


def downgrade() -> None:
    op.execute(REFRESH.format(columns=COLUMNS))
    op.drop_column("match_index", "combined_bits")
