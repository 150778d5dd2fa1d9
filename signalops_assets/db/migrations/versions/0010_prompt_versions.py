"""judgments: prompt version, reuse link, prompt-cache token counts

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-02 00:00:00.000000

Existing judgments keep prompt_version NULL: the prompt they were asked with is unknown, so
they stay done for their judge (no surprise re-judging of the backlog on upgrade) but are never
reused by an experiment arm.
"""

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('judgments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prompt_version', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('reused_from_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cached_tokens', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cache_creation_tokens', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_judgments_reused_from_id', 'judgments', ['reused_from_id'], ['id']
        )


def downgrade() -> None:
    with op.batch_alter_table('judgments', schema=None) as batch_op:
        batch_op.drop_constraint('fk_judgments_reused_from_id', type_='foreignkey')
        batch_op.drop_column('cache_creation_tokens')
        batch_op.drop_column('cached_tokens')
        batch_op.drop_column('reused_from_id')
        batch_op.drop_column('prompt_version')
