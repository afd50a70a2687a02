"""notifications: seller preferences, pending notification events, Slack posts, digest claims
and the collector's cursor

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 21:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "notification_pref",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("modes", AutoString(length=400), nullable=False),
        sa.Column("quiet_start", sa.Integer(), nullable=True),
        sa.Column("quiet_end", sa.Integer(), nullable=True),
        sa.Column("slack_url", AutoString(length=500), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index("ix_notification_pref_org_id", "notification_pref", ["org_id"], unique=False)

    op.create_table(
        "notification_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("kind", AutoString(length=20), nullable=False),
        sa.Column("source", AutoString(length=60), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=True),
        sa.Column("detail", AutoString(length=1000), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("delivery", AutoString(length=10), nullable=False),
        sa.Column("status", AutoString(length=10), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "source", name="uq_notification_event_source"),
    )
    op.create_index("ix_notification_event_org_id", "notification_event", ["org_id"], unique=False)
    op.create_index(
        "ix_notification_event_room_id", "notification_event", ["room_id"], unique=False
    )
    op.create_index(
        "ix_notification_event_pending",
        "notification_event",
        ["status", "delivery", "at"],
        unique=False,
    )

    op.create_table(
        "slack_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", AutoString(), nullable=False),
        sa.Column("status", AutoString(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", AutoString(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_slack_post_org_id", "slack_post", ["org_id"], unique=False)
    op.create_index("ix_slack_post_status", "slack_post", ["status"], unique=False)

    op.create_table(
        "notification_digest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", AutoString(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "kind", "day", name="uq_notification_digest"),
    )
    op.create_index(
        "ix_notification_digest_org_id", "notification_digest", ["org_id"], unique=False
    )

    op.create_table(
        "notification_cursor",
        sa.Column("name", AutoString(length=20), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("notification_cursor")
    op.drop_index("ix_notification_digest_org_id", table_name="notification_digest")
    op.drop_table("notification_digest")
    op.drop_index("ix_slack_post_status", table_name="slack_post")
    op.drop_index("ix_slack_post_org_id", table_name="slack_post")
    op.drop_table("slack_post")
    op.drop_index("ix_notification_event_pending", table_name="notification_event")
    op.drop_index("ix_notification_event_room_id", table_name="notification_event")
    op.drop_index("ix_notification_event_org_id", table_name="notification_event")
    op.drop_table("notification_event")
    op.drop_index("ix_notification_pref_org_id", table_name="notification_pref")
    op.drop_table("notification_pref")
