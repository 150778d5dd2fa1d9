"""judgments: failed judgments are re-judged; failures keep history and carry no label

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 00:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('judgments', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('attempt', sa.Integer(), server_default=sa.text('1'), nullable=False)
        )
        batch_op.add_column(
            sa.Column('superseded', sa.Boolean(), server_default=sa.text('false'), nullable=False)
        )
        batch_op.alter_column('label', existing_type=sa.String(length=20), nullable=True)
        batch_op.drop_constraint('uq_judgments_post_judge', type_='unique')
        batch_op.create_index(
            'uq_judgments_post_judge_current',
            ['post_id', 'judge_key'],
            unique=True,
            sqlite_where=sa.text('superseded = false'),
            postgresql_where=sa.text('superseded = false'),
        )
    # A failure is not a label: rows written before this revision said 'maybe'.
    op.execute("UPDATE judgments SET label = NULL, confidence = 0.0 WHERE error IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE judgments SET label = 'maybe' WHERE label IS NULL")
    op.execute("DELETE FROM ab_results WHERE judgment_id IN "
               "(SELECT id FROM judgments WHERE superseded)")
    op.execute("DELETE FROM judgments WHERE superseded")
    with op.batch_alter_table('judgments', schema=None) as batch_op:
        batch_op.drop_index('uq_judgments_post_judge_current')
        batch_op.create_unique_constraint('uq_judgments_post_judge', ['post_id', 'judge_key'])
        batch_op.alter_column('label', existing_type=sa.String(length=20), nullable=False)
        batch_op.drop_column('superseded')
        batch_op.drop_column('attempt')
