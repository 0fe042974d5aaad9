"""Fleet job runs record whether their figures reached CloudWatch

True, False when the publication failed, NULL when the run published nothing. The next
run's Dispenses window starts at the last run that is not False, so the dispenses of a
window whose publication failed are published by the next run that gets through instead
of never. Runs recorded before are NULL: the first run after this migration publishes
its own window only, as before.

Revision ID: 6b2e8d4f1a93
Revises: 3f9a1c7e5b2d
Create Date: 2026-12-07 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6b2e8d4f1a93'
down_revision = '3f9a1c7e5b2d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('fleet_job_run', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('published', sa.Boolean(), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('fleet_job_run', schema=None) as batch_op:
        batch_op.drop_column('published')
