"""deal health: an organisation's thresholds for on track / at risk / going cold, and the
covering indexes the dashboards read the rollups by (organisation and time)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 19:15:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "health_settings",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("at_risk_score", sa.Integer(), nullable=False),
        sa.Column("cold_score", sa.Integer(), nullable=False),
        sa.Column("at_risk_silence_days", sa.Integer(), nullable=False),
        sa.Column("cold_silence_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.PrimaryKeyConstraint("org_id"),
    )
    op.create_index(
        "ix_activity_hour_org_hour",
        "activity_hour",
        ["org_id", "hour", "room_id", "active_seconds"],
        unique=False,
    )
    op.create_index(
        "ix_item_day_org_day",
        "item_day",
        ["org_id", "day", "room_id", "document_id", "active_seconds"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_item_day_org_day", table_name="item_day")
    op.drop_index("ix_activity_hour_org_hour", table_name="activity_hour")
    op.drop_table("health_settings")
