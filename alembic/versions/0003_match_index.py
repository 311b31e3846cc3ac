"""match_index: one denormalised row per matchable person, kept by triggers

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFRESH = """
CREATE FUNCTION match_index_refresh(uid uuid) RETURNS void LANGUAGE sql AS $$
    DELETE FROM match_index WHERE user_id = uid;
    INSERT INTO match_index
    SELECT p.user_id, u.status = 'active', p.gender, p.intent, p.mentorship_role, p.expertise,
           p.birth_date, p.height_cm, p.latitude, p.longitude,
           pr.age_min, pr.age_max, pr.height_min_cm, pr.height_max_cm, pr.genders, pr.intents,
           pr.max_distance_km
    FROM profiles p
    JOIN users u ON u.id = p.user_id
    JOIN preferences pr ON pr.user_id = p.user_id
    JOIN profile_embeddings e ON e.user_id = p.user_id
    WHERE p.user_id = uid;
$$
"""
TRIGGER_FUNCTION = """
CREATE FUNCTION match_index_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM match_index_refresh(OLD.user_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM match_index_refresh(NEW.user_id);
    END IF;
    RETURN NULL;
END $$
"""
USER_TRIGGER_FUNCTION = """
CREATE FUNCTION match_index_sync_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM match_index_refresh(NEW.id);
    RETURN NULL;
END $$
"""
SOURCES = ("profiles", "preferences", "profile_embeddings")


def upgrade() -> None:
    op.create_table(
        "match_index",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("gender", sa.Text(), nullable=False),
        sa.Column("intent", sa.Text(), nullable=False),
        sa.Column("mentorship_role", sa.Text(), nullable=True),
        sa.Column("expertise", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("height_cm", sa.SmallInteger(), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("age_min", sa.SmallInteger(), nullable=False),
        sa.Column("age_max", sa.SmallInteger(), nullable=False),
        sa.Column("height_min_cm", sa.SmallInteger(), nullable=True),
        sa.Column("height_max_cm", sa.SmallInteger(), nullable=True),
        sa.Column("genders", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("intents", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("max_distance_km", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_match_index_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_match_index")),
    )
    op.create_index(
        "ix_match_index_search",
        "match_index",
        ["gender", "intent", "birth_date"],
        unique=False,
        postgresql_where=sa.text("active"),
    )
    op.execute(REFRESH)
    op.execute(TRIGGER_FUNCTION)
    op.execute(USER_TRIGGER_FUNCTION)
    for table in SOURCES:
        op.execute(
            f"CREATE TRIGGER {table}_match_index AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION match_index_sync()"
        )
    op.execute(
        "CREATE TRIGGER users_match_index AFTER UPDATE OF status ON users "
        "FOR EACH ROW EXECUTE FUNCTION match_index_sync_user()"
    )
    op.execute("SELECT match_index_refresh(user_id) FROM profiles")


def downgrade() -> None:
    op.execute("DROP TRIGGER users_match_index ON users")
    for table in SOURCES:
        op.execute(f"DROP TRIGGER {table}_match_index ON {table}")
    op.execute("DROP FUNCTION match_index_sync_user()")
    op.execute("DROP FUNCTION match_index_sync()")
    op.execute("DROP FUNCTION match_index_refresh(uuid)")
    op.drop_index("ix_match_index_search", table_name="match_index", postgresql_where=sa.text("active"))
    op.drop_table("match_index")
