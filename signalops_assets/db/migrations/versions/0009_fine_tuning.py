"""fine-tuning loop: training sets with their posts, fine-tune jobs, registry lineage

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-01 00:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'training_sets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('model_type', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.Column('files', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.project_id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('training_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_sets_project_id'), ['project_id'], unique=False)
    op.create_table(
        'training_set_posts',
        sa.Column('training_set_id', sa.Integer(), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=False),
        sa.Column('split', sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id']),
        sa.ForeignKeyConstraint(['training_set_id'], ['training_sets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('training_set_id', 'post_id'),
    )
    op.create_table(
        'fine_tune_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('model_type', sa.String(length=20), nullable=False),
        sa.Column('backend', sa.String(length=20), nullable=False),
        sa.Column('provider', sa.String(length=50), nullable=True),
        sa.Column('base_model', sa.String(length=200), nullable=False),
        sa.Column('training_set_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('external_job_id', sa.String(length=200), nullable=True),
        sa.Column('model_id', sa.String(length=200), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('metadata', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.project_id']),
        sa.ForeignKeyConstraint(['training_set_id'], ['training_sets.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('external_job_id'),
    )
    with op.batch_alter_table('fine_tune_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fine_tune_jobs_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fine_tune_jobs_status'), ['status'], unique=False)
    with op.batch_alter_table('model_registry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('training_set_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_model_registry_training_set_id', 'training_sets', ['training_set_id'], ['id']
        )


def downgrade() -> None:
    with op.batch_alter_table('model_registry', schema=None) as batch_op:
        batch_op.drop_constraint('fk_model_registry_training_set_id', type_='foreignkey')
        batch_op.drop_column('training_set_id')
    with op.batch_alter_table('fine_tune_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fine_tune_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_fine_tune_jobs_project_id'))
    op.drop_table('fine_tune_jobs')
    op.drop_table('training_set_posts')
    with op.batch_alter_table('training_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_sets_project_id'))
    op.drop_table('training_sets')
