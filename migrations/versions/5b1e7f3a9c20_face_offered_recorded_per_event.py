"""Face offered recorded per event and counted in the daily aggregates; token refusal

Revision ID: 5b1e7f3a9c20
Revises: 62af95976ef6
Create Date: 2026-12-01 13:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5b1e7f3a9c20'
down_revision = '62af95976ef6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('access_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refusal', sa.String(length=32), nullable=True))
    with op.batch_alter_table('device_event', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('face_offered', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('daily_aggregate', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('face_offered', sa.Integer(), server_default='0', nullable=False)
        )
    # Events stored before this revision: the site's setting now is the best record left.
    op.execute(
        "UPDATE device_event SET face_offered = TRUE WHERE dispenser_id IN ("
        "SELECT d.id FROM dispenser d JOIN site s ON s.id = d.site_id "
        "WHERE s.face_mode_allowed)"
    )
    op.execute(
        "UPDATE daily_aggregate SET face_offered = count WHERE dispenser_id IN ("
        "SELECT d.id FROM dispenser d JOIN site s ON s.id = d.site_id "
        "WHERE s.face_mode_allowed)"
    )


def downgrade():
    with op.batch_alter_table('daily_aggregate', schema=None) as batch_op:
        batch_op.drop_column('face_offered')
    with op.batch_alter_table('device_event', schema=None) as batch_op:
        batch_op.drop_column('face_offered')
    with op.batch_alter_table('access_token', schema=None) as batch_op:
        batch_op.drop_column('refusal')
