"""judgments: covering index for per-arm latency quantiles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:00:00.000000
"""

from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('judgments', schema=None) as batch_op:
        batch_op.create_index(
            'ix_judgments_arm_experiment_latency', ['arm', 'experiment_id', 'latency_ms'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('judgments', schema=None) as batch_op:
        batch_op.drop_index('ix_judgments_arm_experiment_latency')
