"""meeting notes and their revisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("attendees", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=50000), nullable=False),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_note_room_id"), ["room_id"], unique=False)

    op.create_table(
        "note_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("attendees", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=50000), nullable=False),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("edited_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["edited_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["note_id"], ["note.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("note_id", "number", name="uq_note_revision_number"),
    )
    with op.batch_alter_table("note_revision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_revision_note_id"), ["note_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("note_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_note_revision_note_id"))

    op.drop_table("note_revision")
    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_note_room_id"))
        batch_op.drop_index(batch_op.f("ix_note_org_id"))

    op.drop_table("note")
