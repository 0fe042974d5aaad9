"""Hourly counts keep how many dispenses had a face scan offered; daily counts

The fleet view's charts and opt-out figure, and the transparency page's, read them
instead of a week of raw events (about 12 million in a city) or of hourly counts (about
840,000 rows). The hourly counts so far are emptied: the next fleet job run counts every
retained hour and day again (it does so whenever it finds no hourly count), and until
then the charts read the raw events.

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
    op.create_table(
        'daily_count',
        sa.Column('site_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('face_offered', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(
            ['site_id'], ['site.id'], name=op.f('fk_daily_count_site_id_site')
        ),
        sa.PrimaryKeyConstraint('site_id', 'day', 'method', 'kind', name=op.f('pk_daily_count')),
    )
    op.execute('DELETE FROM hourly_count')


def downgrade():
    op.drop_table('daily_count')
    with op.batch_alter_table('hourly_count', schema=None) as batch_op:
        batch_op.drop_column('face_offered')
