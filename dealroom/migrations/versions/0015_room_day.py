"""room_day: each room's active seconds per UTC day, the dashboards' sparklines and momentum
(filled from activity_hour for the activity recorded before it existed)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 22:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("active_seconds", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id", "day", name="uq_room_day"),
    )
    op.create_index(
        "ix_room_day_org_day",
        "room_day",
        ["org_id", "day", "room_id", "active_seconds"],
        unique=False,
    )
    day = (
        "(hour AT TIME ZONE 'UTC')::date"
        if op.get_bind().dialect.name == "postgresql"
        else "date(hour)"
    )
    op.execute(  # a constant expression is formatted in, no value
        "INSERT INTO room_day (org_id, room_id, day, active_seconds, events) "  # noqa: S608
        f"SELECT org_id, room_id, {day}, sum(active_seconds), sum(events) "
        f"FROM activity_hour GROUP BY org_id, room_id, {day}"
    )


def downgrade() -> None:
    op.drop_index("ix_room_day_org_day", table_name="room_day")
    op.drop_table("room_day")
