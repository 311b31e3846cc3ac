"""matching: embeddings, swipes, matches, interest requests, blocks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 16:17:17.944626
"""

from collections.abc import Sequence

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COUNT_FUNCTION = """
CREATE FUNCTION interests_count_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE interests SET user_count = user_count + 1 WHERE id = NEW.interest_id;
    ELSE
        UPDATE interests SET user_count = user_count - 1 WHERE id = OLD.interest_id;
    END IF;
    RETURN NULL;
END $$
"""
COUNT_TRIGGER = """
CREATE TRIGGER user_interests_count AFTER INSERT OR DELETE ON user_interests
    FOR EACH ROW EXECUTE FUNCTION interests_count_users()
"""


def upgrade() -> None:
    op.add_column(
        "interests", sa.Column("user_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.execute(
        "UPDATE interests i SET user_count = "
        "(SELECT count(*) FROM user_interests u WHERE u.interest_id = i.id)"
    )
    op.execute(COUNT_FUNCTION)
    op.execute(COUNT_TRIGGER)
    op.create_table('blocks',
    sa.Column('blocker_id', sa.Uuid(), nullable=False),
    sa.Column('blocked_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('blocker_id <> blocked_id', name=op.f('ck_blocks_not_self')),
    sa.ForeignKeyConstraint(['blocked_id'], ['users.id'], name=op.f('fk_blocks_blocked_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['blocker_id'], ['users.id'], name=op.f('fk_blocks_blocker_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('blocker_id', 'blocked_id', name=op.f('pk_blocks'))
    )
    op.create_index(op.f('ix_blocks_blocked_id'), 'blocks', ['blocked_id'], unique=False)
    op.create_table('interest_requests',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('sender_id', sa.Uuid(), nullable=False),
    sa.Column('receiver_id', sa.Uuid(), nullable=False),
    sa.Column('message', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.Enum('pending', 'accepted', 'rejected', 'cancelled', name='interest_request_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('char_length(message) <= 280', name=op.f('ck_interest_requests_message_length')),
    sa.CheckConstraint('sender_id <> receiver_id', name=op.f('ck_interest_requests_not_self')),
    sa.ForeignKeyConstraint(['receiver_id'], ['users.id'], name=op.f('fk_interest_requests_receiver_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['users.id'], name=op.f('fk_interest_requests_sender_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interest_requests'))
    )
    op.create_index('ix_interest_requests_receiver_status', 'interest_requests', ['receiver_id', 'status'], unique=False)
    op.create_index('ix_interest_requests_sender_status', 'interest_requests', ['sender_id', 'status'], unique=False)
    op.create_index('uq_interest_requests_pending_pair', 'interest_requests', ['sender_id', 'receiver_id'], unique=True, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('matches',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('user_low', sa.Uuid(), nullable=False),
    sa.Column('user_high', sa.Uuid(), nullable=False),
    sa.Column('origin', sa.Enum('mutual_like', 'interest_request', name='match_origin', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('active', 'unmatched', name='match_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint('user_low < user_high', name=op.f('ck_matches_ordered_pair')),
    sa.ForeignKeyConstraint(['ended_by'], ['users.id'], name=op.f('fk_matches_ended_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_high'], ['users.id'], name=op.f('fk_matches_user_high_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_low'], ['users.id'], name=op.f('fk_matches_user_low_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matches'))
    )
    op.create_index('ix_matches_user_high', 'matches', ['user_high'], unique=False)
    op.create_index('uq_matches_active_pair', 'matches', ['user_low', 'user_high'], unique=True, postgresql_where=sa.text("status = 'active'"))
    op.create_table('profile_embeddings',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('model', sa.Text(), nullable=False),
    sa.Column('goals_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('bio_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('goals', pgvector.sqlalchemy.vector.VECTOR(dim=384), nullable=False),
    sa.Column('bio', pgvector.sqlalchemy.vector.VECTOR(dim=384), nullable=False),
    sa.Column('combined', pgvector.sqlalchemy.vector.VECTOR(dim=384), nullable=False),
    sa.Column('embedded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_profile_embeddings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_profile_embeddings'))
    )
    # Keep the searched vector in the row (three 1.5 KB vectors would otherwise go out of line
    # together): ranking reads it for thousands of candidates, goals and bio only for 200.
    op.execute("ALTER TABLE profile_embeddings ALTER COLUMN combined SET STORAGE PLAIN")
    op.create_index('ix_profile_embeddings_combined_hnsw', 'profile_embeddings', ['combined'], unique=False, postgresql_using='hnsw', postgresql_with={'m': 16, 'ef_construction': 64}, postgresql_ops={'combined': 'vector_cosine_ops'})
    op.create_index(op.f('ix_profile_embeddings_model'), 'profile_embeddings', ['model'], unique=False)
    op.create_table('swipes',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('swiper_id', sa.Uuid(), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('like', 'pass', name='swipe_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('char_length(note) <= 280', name=op.f('ck_swipes_note_length')),
    sa.CheckConstraint('swiper_id <> target_id', name=op.f('ck_swipes_not_self')),
    sa.ForeignKeyConstraint(['swiper_id'], ['users.id'], name=op.f('fk_swipes_swiper_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['users.id'], name=op.f('fk_swipes_target_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_swipes'))
    )
    op.create_index('ix_swipes_live_target_kind', 'swipes', ['target_id', 'kind'], unique=False, postgresql_where=sa.text('undone_at IS NULL'))
    op.create_index(op.f('ix_swipes_swiper_id'), 'swipes', ['swiper_id'], unique=False)
    op.create_index('uq_swipes_live_pair', 'swipes', ['swiper_id', 'target_id'], unique=True, postgresql_where=sa.text('undone_at IS NULL'))


def downgrade() -> None:
    op.execute("DROP TRIGGER user_interests_count ON user_interests")
    op.execute("DROP FUNCTION interests_count_users()")
    op.drop_column("interests", "user_count")
    op.drop_index('uq_swipes_live_pair', table_name='swipes', postgresql_where=sa.text('undone_at IS NULL'))
    op.drop_index(op.f('ix_swipes_swiper_id'), table_name='swipes')
    op.drop_index('ix_swipes_live_target_kind', table_name='swipes', postgresql_where=sa.text('undone_at IS NULL'))
    op.drop_table('swipes')
    op.drop_index(op.f('ix_profile_embeddings_model'), table_name='profile_embeddings')
    op.drop_index('ix_profile_embeddings_combined_hnsw', table_name='profile_embeddings', postgresql_using='hnsw', postgresql_with={'m': 16, 'ef_construction': 64}, postgresql_ops={'combined': 'vector_cosine_ops'})
    op.drop_table('profile_embeddings')
    op.drop_index('uq_matches_active_pair', table_name='matches', postgresql_where=sa.text("status = 'active'"))
    op.drop_index('ix_matches_user_high', table_name='matches')
    op.drop_table('matches')
    op.drop_index('uq_interest_requests_pending_pair', table_name='interest_requests', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index('ix_interest_requests_sender_status', table_name='interest_requests')
    op.drop_index('ix_interest_requests_receiver_status', table_name='interest_requests')
    op.drop_table('interest_requests')
    op.drop_index(op.f('ix_blocks_blocked_id'), table_name='blocks')
    op.drop_table('blocks')
