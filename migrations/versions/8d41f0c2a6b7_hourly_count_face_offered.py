"""Hourly counts keep how many dispenses had a face scan offered

The fleet view's and the transparency page's opt-out figure read them instead of a
week of raw events (about 12 million in a city). The counts so far are recounted by
the next fleet job run: it counts every retained hour again when no run is recorded.

Revision ID: 8d41f0c2a6b7
Revises: 7a3c9e1f2b40
Create Date: 2026-12-06 23:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d41f0c2a6b7'
down_revision = '7a3c9e1f2b40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hourly_count', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('face_offered', sa.Integer(), server_default='0', nullable=False)
        )
    # Until the next run recounts them, the charts read raw events (correct, slower).
    op.execute('DELETE FROM hourly_count')
    op.execute('DELETE FROM fleet_job_run')


def downgrade():
    with op.batch_alter_table('hourly_count', schema=None) as batch_op:
        batch_op.drop_column('face_offered')
