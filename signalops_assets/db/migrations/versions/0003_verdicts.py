"""verdicts: training posts per registered model; sticky decisions in experiment_analyses

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 00:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'model_training_posts',
        sa.Column('model_registry_id', sa.Integer(), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['model_registry_id'], ['model_registry.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id']),
        sa.PrimaryKeyConstraint('model_registry_id', 'post_id'),
    )
    with op.batch_alter_table('model_training_posts', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_model_training_posts_post_id'), ['post_id'], unique=False
        )
    with op.batch_alter_table('experiment_analyses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('look', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(
            sa.Column('direction', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decided_look', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('experiment_analyses', schema=None) as batch_op:
        batch_op.drop_column('decided_look')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('direction')
        batch_op.drop_column('look')
    with op.batch_alter_table('model_training_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_training_posts_post_id'))
    op.drop_table('model_training_posts')
