"""scheduling with several processes: the scheduler's lease (one leader runs scheduled jobs), the
persistent APScheduler job store, and the invite-expiry reminder mark

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 21:45:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "scheduler_lease",
        sa.Column("name", String(length=50), nullable=False),
        sa.Column("holder", String(length=200), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # Exactly what apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore would create itself.
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("apscheduler_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_apscheduler_jobs_next_run_time"), ["next_run_time"], unique=False
        )
    # A nullable column without a default: SQLite and PostgreSQL both add it in place.
    op.add_column("invite", sa.Column("expiry_reminded_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invite") as batch:
        batch.drop_column("expiry_reminded_at")
    with op.batch_alter_table("apscheduler_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apscheduler_jobs_next_run_time"))
    op.drop_table("apscheduler_jobs")
    op.drop_table("scheduler_lease")
