"""foundation: users, tokens, profiles, preferences, interests

Revision ID: 0001
Revises:
Create Date: 2026-11-21 15:32:03.341824
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pgvector holds profile embeddings (matching); fail here, early, if it is missing.
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "interests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "char_length(name) BETWEEN 1 AND 40", name=op.f("ck_interests_name_length")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interests")),
        sa.UniqueConstraint("name", name=op.f("uq_interests_name")),
    )
    op.create_index(
        "ix_interests_name_prefix",
        "interests",
        ["name"],
        unique=False,
        postgresql_ops={"name": "text_pattern_ops"},
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                "deleted",
                name="user_status",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="active",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_active_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("char_length(email) <= 254", name=op.f("ck_users_email_length")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lowercase")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_tokens_token_hash")),
    )
    op.create_index(op.f("ix_auth_tokens_expires_at"), "auth_tokens", ["expires_at"], unique=False)
    op.create_index(op.f("ix_auth_tokens_user_id"), "auth_tokens", ["user_id"], unique=False)
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("age_min", sa.SmallInteger(), nullable=False),
        sa.Column("age_max", sa.SmallInteger(), nullable=False),
        sa.Column("height_min_cm", sa.SmallInteger(), nullable=True),
        sa.Column("height_max_cm", sa.SmallInteger(), nullable=True),
        sa.Column("genders", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("max_distance_km", sa.Integer(), nullable=True),
        sa.Column("intents", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "18 <= age_min AND age_min <= age_max AND age_max <= 120",
            name=op.f("ck_preferences_age_range"),
        ),
        sa.CheckConstraint(
            "cardinality(genders) >= 1", name=op.f("ck_preferences_genders_nonempty")
        ),
        sa.CheckConstraint(
            "cardinality(intents) >= 1", name=op.f("ck_preferences_intents_nonempty")
        ),
        sa.CheckConstraint(
            "height_max_cm IS NULL OR height_max_cm BETWEEN 90 AND 250",
            name=op.f("ck_preferences_height_max_range"),
        ),
        sa.CheckConstraint(
            "height_min_cm IS NULL OR height_max_cm IS NULL OR height_min_cm <= height_max_cm",
            name=op.f("ck_preferences_height_order"),
        ),
        sa.CheckConstraint(
            "height_min_cm IS NULL OR height_min_cm BETWEEN 90 AND 250",
            name=op.f("ck_preferences_height_min_range"),
        ),
        sa.CheckConstraint(
            "max_distance_km BETWEEN 1 AND 20040", name=op.f("ck_preferences_distance_range")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_preferences")),
    )
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=50), nullable=False),
        sa.Column("bio", sa.Text(), server_default="", nullable=False),
        sa.Column("goals", sa.Text(), server_default="", nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("height_cm", sa.SmallInteger(), nullable=True),
        sa.Column(
            "gender",
            sa.Enum(
                "woman",
                "man",
                "non_binary",
                "other",
                name="gender",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("photo_urls", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "social_links",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "intent",
            sa.Enum(
                "dating",
                "friendship",
                "mentorship",
                name="intent",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "mentorship_role",
            sa.Enum(
                "mentor",
                "mentee",
                name="mentorship_role_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("expertise", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(intent = 'mentorship') = (mentorship_role IS NOT NULL)",
            name=op.f("ck_profiles_mentorship_role"),
        ),
        sa.CheckConstraint(
            "(latitude IS NULL) = (longitude IS NULL)", name=op.f("ck_profiles_coordinates_paired")
        ),
        sa.CheckConstraint("cardinality(photo_urls) <= 6", name=op.f("ck_profiles_photo_count")),
        sa.CheckConstraint("char_length(bio) <= 2000", name=op.f("ck_profiles_bio_length")),
        sa.CheckConstraint(
            "char_length(display_name) BETWEEN 1 AND 50",
            name=op.f("ck_profiles_display_name_length"),
        ),
        sa.CheckConstraint("char_length(goals) <= 1000", name=op.f("ck_profiles_goals_length")),
        sa.CheckConstraint("height_cm BETWEEN 90 AND 250", name=op.f("ck_profiles_height_range")),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_profiles_latitude_range")),
        sa.CheckConstraint(
            "longitude BETWEEN -180 AND 180", name=op.f("ck_profiles_longitude_range")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_profiles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
    )
    op.create_index(
        "ix_profiles_gender_intent_birth_date",
        "profiles",
        ["gender", "intent", "birth_date"],
        unique=False,
    )
    op.create_table(
        "user_interests",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("interest_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interest_id"],
            ["interests.id"],
            name=op.f("fk_user_interests_interest_id_interests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_interests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "interest_id", name=op.f("pk_user_interests")),
    )
    op.create_index(
        op.f("ix_user_interests_interest_id"), "user_interests", ["interest_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_interests_interest_id"), table_name="user_interests")
    op.drop_table("user_interests")
    op.drop_index("ix_profiles_gender_intent_birth_date", table_name="profiles")
    op.drop_table("profiles")
    op.drop_table("preferences")
    op.drop_index(op.f("ix_auth_tokens_user_id"), table_name="auth_tokens")
    op.drop_index(op.f("ix_auth_tokens_expires_at"), table_name="auth_tokens")
    op.drop_table("auth_tokens")
    op.drop_table("users")
    op.drop_index(
        "ix_interests_name_prefix",
        table_name="interests",
        postgresql_ops={"name": "text_pattern_ops"},
    )
    op.drop_table("interests")
    op.execute("DROP EXTENSION IF EXISTS vector")
