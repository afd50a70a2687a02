"""suggestions: seller pins, per-viewer switches and per-item impressions, next-action dismissals

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 19:20:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "suggestion_pin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("role", String(length=30), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("suggestion_pin", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestion_pin_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_suggestion_pin_room_id"), ["room_id"], unique=False)

    op.create_table(
        "suggestion_viewer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("off", sa.Boolean(), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("last_set", String(length=400), nullable=False),
        sa.Column("held_back", String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_id"),
    )
    with op.batch_alter_table("suggestion_viewer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestion_viewer_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_suggestion_viewer_room_id"), ["room_id"], unique=False)

    op.create_table(
        "suggestion_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=False),
        sa.Column("grp", String(length=12), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("since_open", sa.Integer(), nullable=False),
        sa.Column("first_shown_at", UTCDateTime(), nullable=True),
        sa.Column("last_shown_at", UTCDateTime(), nullable=True),
        sa.Column("rest_until", UTCDateTime(), nullable=True),
        sa.Column("dismissed_at", UTCDateTime(), nullable=True),
        sa.Column("base_activity", sa.Integer(), nullable=False),
        sa.Column("base_seconds", sa.Integer(), nullable=False),
        sa.Column("mark_activity", sa.Integer(), nullable=False),
        sa.Column("mark_seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_id", "room_item_id", name="uq_suggestion_item"),
    )
    with op.batch_alter_table("suggestion_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestion_item_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_suggestion_item_room_id"), ["room_id"], unique=False)

    op.create_table(
        "next_action_dismissal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("key", String(length=40), nullable=False),
        sa.Column("dismissed_by_id", sa.Integer(), nullable=True),
        sa.Column("dismissed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dismissed_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id", "key", name="uq_next_action_dismissal"),
    )
    with op.batch_alter_table("next_action_dismissal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_next_action_dismissal_org_id"), ["org_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("next_action_dismissal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_next_action_dismissal_org_id"))
    op.drop_table("next_action_dismissal")
    with op.batch_alter_table("suggestion_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_item_room_id"))
        batch_op.drop_index(batch_op.f("ix_suggestion_item_org_id"))
    op.drop_table("suggestion_item")
    with op.batch_alter_table("suggestion_viewer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_viewer_room_id"))
        batch_op.drop_index(batch_op.f("ix_suggestion_viewer_org_id"))
    op.drop_table("suggestion_viewer")
    with op.batch_alter_table("suggestion_pin", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_pin_room_id"))
        batch_op.drop_index(batch_op.f("ix_suggestion_pin_org_id"))
    op.drop_table("suggestion_pin")
