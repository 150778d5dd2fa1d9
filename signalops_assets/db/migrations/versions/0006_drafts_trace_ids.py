"""drafts: Langfuse trace and generation ids, so review scores land on the generation

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-01 23:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trace_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('observation_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_column('observation_id')
        batch_op.drop_column('trace_id')
