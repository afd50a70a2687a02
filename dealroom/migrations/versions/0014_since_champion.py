"""buyer side: the "since your last visit" marker per invite, and the champion view (the
room's switch and, per invite, when the notice naming it was shown and answered)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 21:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "room_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("visit_started_at", UTCDateTime(), nullable=False),
        sa.Column("since_at", UTCDateTime(), nullable=True),
        sa.Column("dismissed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_id"),
    )
    with op.batch_alter_table("room_mark", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_mark_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_room_mark_room_id"), ["room_id"], unique=False)

    op.create_table(
        "champion_setting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("enabled_at", UTCDateTime(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id"),
    )
    with op.batch_alter_table("champion_setting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_champion_setting_org_id"), ["org_id"], unique=False)

    op.create_table(
        "champion_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("shown_at", UTCDateTime(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_id"),
    )
    with op.batch_alter_table("champion_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_champion_notice_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_champion_notice_room_id"), ["room_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("champion_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_champion_notice_room_id"))
        batch_op.drop_index(batch_op.f("ix_champion_notice_org_id"))
    op.drop_table("champion_notice")
    with op.batch_alter_table("champion_setting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_champion_setting_org_id"))
    op.drop_table("champion_setting")
    with op.batch_alter_table("room_mark", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_mark_room_id"))
        batch_op.drop_index(batch_op.f("ix_room_mark_org_id"))
    op.drop_table("room_mark")
