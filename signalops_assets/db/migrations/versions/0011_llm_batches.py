"""llm batches: provider batch jobs and the posts each one holds (llm.mode: batch)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'llm_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('batch_id', sa.String(length=200), nullable=True),
        sa.Column('provider', sa.String(length=50), nullable=False),
        sa.Column('model', sa.String(length=200), nullable=False),
        sa.Column('input_file_id', sa.String(length=200), nullable=True),
        sa.Column('output_file_id', sa.String(length=200), nullable=True),
        sa.Column('error_file_id', sa.String(length=200), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('requests', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('metadata', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.project_id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('batch_id'),
    )
    with op.batch_alter_table('llm_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_llm_batches_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_llm_batches_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_llm_batches_closed_at'), ['closed_at'], unique=False)
    op.create_table(
        'llm_batch_items',
        sa.Column('batch_row_id', sa.Integer(), nullable=False),
        sa.Column('custom_id', sa.String(length=100), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=False),
        sa.Column('judge_key', sa.String(length=300), nullable=False),
        sa.Column('experiment_id', sa.String(length=64), nullable=True),
        sa.Column('arm', sa.String(length=20), nullable=True),
        sa.Column('is_primary', sa.Boolean(), nullable=False),
        sa.Column('prompt_version', sa.String(length=16), nullable=True),
        sa.Column('structured', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['batch_row_id'], ['llm_batches.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id']),
        sa.PrimaryKeyConstraint('batch_row_id', 'custom_id'),
    )
    with op.batch_alter_table('llm_batch_items', schema=None) as batch_op:
        batch_op.create_index(
            'ix_llm_batch_items_post_judge', ['post_id', 'judge_key', 'state'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('llm_batch_items', schema=None) as batch_op:
        batch_op.drop_index('ix_llm_batch_items_post_judge')
    op.drop_table('llm_batch_items')
    with op.batch_alter_table('llm_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_llm_batches_closed_at'))
        batch_op.drop_index(batch_op.f('ix_llm_batches_status'))
        batch_op.drop_index(batch_op.f('ix_llm_batches_project_id'))
    op.drop_table('llm_batches')
