"""tracking: visits, raw events, rollups, signals, consent and retention

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 18:36:45.083373
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "track_drop",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day", "reason", name="uq_track_drop"),
    )
    op.create_table(
        "activity_hour",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("hour", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("active_seconds", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id", "hour", name="uq_activity_hour"),
    )
    with op.batch_alter_table("activity_hour", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_hour_org_id"), ["org_id"], unique=False)

    op.create_table(
        "item_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("active_seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_item_id", "day", name="uq_item_day"),
    )
    with op.batch_alter_table("item_day", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_day_document_id"), ["document_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_day_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_day_room_id"), ["room_id"], unique=False)

    op.create_table(
        "track_signal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["invite.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("track_signal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_signal_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_track_signal_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_track_signal_room_id"), ["room_id"], unique=False)

    op.create_table(
        "viewer_item_stat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=False),
        sa.Column("active_seconds", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("visits_opened", sa.Integer(), nullable=False),
        sa.Column("last_visit_id", sa.Integer(), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("video_seconds", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("watched", sa.LargeBinary(), nullable=True),
        sa.Column("page_seconds", sa.LargeBinary(), nullable=True),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("first_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["invite.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_id", "room_item_id", name="uq_viewer_item_stat"),
    )
    with op.batch_alter_table("viewer_item_stat", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_viewer_item_stat_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_viewer_item_stat_room_id"), ["room_id"], unique=False)

    op.create_table(
        "viewer_stat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("active_seconds", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("task_updates", sa.Integer(), nullable=False),
        sa.Column("first_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["invite.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_id"),
    )
    with op.batch_alter_table("viewer_stat", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_viewer_stat_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_viewer_stat_room_id"), ["room_id"], unique=False)

    op.create_table(
        "visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("active_seconds", sa.Integer(), nullable=False),
        sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["invite.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_invite_id"), ["invite_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visit_last_seen_at"), ["last_seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_visit_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visit_room_id"), ["room_id"], unique=False)

    op.create_table(
        "track_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=True),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=True),
        sa.Column("stop", sa.Integer(), nullable=True),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["invite.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("track_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_event_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_track_event_invite_id"), ["invite_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_track_event_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_track_event_room_at", ["room_id", "at"], unique=False)

    op.create_table(
        "track_stream",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_beat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("inputs", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["invite.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("track_stream", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_stream_invite_id"), ["invite_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_track_stream_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tracking_notice_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("tracking_paused_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("tracking_ack_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )

    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retention_days", sa.Integer(), nullable=False, server_default="365")
        )


def downgrade() -> None:
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_column("retention_days")

    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.drop_column("tracking_ack_at")
        batch_op.drop_column("tracking_paused_at")
        batch_op.drop_column("tracking_notice_at")

    with op.batch_alter_table("track_stream", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_stream_org_id"))
        batch_op.drop_index(batch_op.f("ix_track_stream_invite_id"))

    op.drop_table("track_stream")
    with op.batch_alter_table("track_event", schema=None) as batch_op:
        batch_op.drop_index("ix_track_event_room_at")
        batch_op.drop_index(batch_op.f("ix_track_event_org_id"))
        batch_op.drop_index(batch_op.f("ix_track_event_invite_id"))
        batch_op.drop_index(batch_op.f("ix_track_event_at"))

    op.drop_table("track_event")
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_room_id"))
        batch_op.drop_index(batch_op.f("ix_visit_org_id"))
        batch_op.drop_index(batch_op.f("ix_visit_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_visit_invite_id"))

    op.drop_table("visit")
    with op.batch_alter_table("viewer_stat", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_viewer_stat_room_id"))
        batch_op.drop_index(batch_op.f("ix_viewer_stat_org_id"))

    op.drop_table("viewer_stat")
    with op.batch_alter_table("viewer_item_stat", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_viewer_item_stat_room_id"))
        batch_op.drop_index(batch_op.f("ix_viewer_item_stat_org_id"))

    op.drop_table("viewer_item_stat")
    with op.batch_alter_table("track_signal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_signal_room_id"))
        batch_op.drop_index(batch_op.f("ix_track_signal_org_id"))
        batch_op.drop_index(batch_op.f("ix_track_signal_at"))

    op.drop_table("track_signal")
    with op.batch_alter_table("item_day", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_day_room_id"))
        batch_op.drop_index(batch_op.f("ix_item_day_org_id"))
        batch_op.drop_index(batch_op.f("ix_item_day_document_id"))

    op.drop_table("item_day")
    with op.batch_alter_table("activity_hour", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_hour_org_id"))

    op.drop_table("activity_hour")
    op.drop_table("track_drop")
