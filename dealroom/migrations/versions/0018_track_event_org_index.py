"""track_event loses its org_id index: no read uses it, every insert paid for it

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 07:40:00.000000

Every read of the raw events names a room (room_id, at) or a viewer (invite_id). The org_id
index only added work to each insert of the ingest writer, and made SQLite's planner read a
whole organisation's events for the rep's feed.
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("track_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_event_org_id"))


def downgrade() -> None:
    with op.batch_alter_table("track_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_event_org_id"), ["org_id"], unique=False)
