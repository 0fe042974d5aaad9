"""Typed-code failure budgets (GCRA) per dispenser and per source; live-token slots

Revision ID: 5ec0a1b2c3d4
Revises: 53df887660d1
Create Date: 2026-12-01 13:30:00

"""
from alembic import op
import sqlalchemy as sa

import backend.models.base


# revision identifiers, used by Alembic.
revision = '5ec0a1b2c3d4'
down_revision = '53df887660d1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('code_attempt_throttle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tat_ms', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.drop_column('failures')
        batch_op.drop_column('blocked_until')
    with op.batch_alter_table('code_attempt_throttle', schema=None) as batch_op:
        batch_op.alter_column('tat_ms', server_default=None)
    op.create_table('code_source_budget',
    sa.Column('source_hash', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('tat_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('source_hash', name=op.f('pk_code_source_budget'))
    )
    with op.batch_alter_table('code_source_budget', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_source_budget_day'), ['day'], unique=False)
    op.create_table('live_token_slot',
    sa.Column('dispenser_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('busy_until', backend.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dispenser_id'], ['dispenser.id'], name=op.f('fk_live_token_slot_dispenser_id_dispenser')),
    sa.PrimaryKeyConstraint('dispenser_id', 'slot', name=op.f('pk_live_token_slot'))
    )


def downgrade():
    op.drop_table('live_token_slot')
    with op.batch_alter_table('code_source_budget', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_source_budget_day'))
    op.drop_table('code_source_budget')
    with op.batch_alter_table('code_attempt_throttle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_column('tat_ms')
