"""A live-token slot holds its token's typed-code hash, unique per dispenser

Revision ID: 7a3c9e1f2b40
Revises: 5ec0a1b2c3d4
Create Date: 2026-12-06 19:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7a3c9e1f2b40'
down_revision = '5ec0a1b2c3d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('live_token_slot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_live_token_slot_dispenser_id'), ['dispenser_id', 'code_hash']
        )


def downgrade():
    with op.batch_alter_table('live_token_slot', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_live_token_slot_dispenser_id'), type_='unique')
        batch_op.drop_column('code_hash')
