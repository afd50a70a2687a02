"""crm exports: export runs, CRM connections, room-to-record links, integration settings

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 18:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "integration_settings",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("allow_private_webhooks", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.PrimaryKeyConstraint("org_id"),
    )

    op.create_table(
        "crm_connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("kind", String(length=20), nullable=False),
        sa.Column("settings", String(), nullable=False),
        sa.Column("secrets", String(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "kind", name="uq_crm_connection_kind"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("crm_connection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_connection_org_id"), ["org_id"], unique=False)

    op.create_table(
        "export_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("target", String(length=20), nullable=False),
        sa.Column("status", String(length=20), nullable=False),
        sa.Column("active_key", String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("claim", String(length=40), nullable=False),
        sa.Column("error", String(length=2000), nullable=False),
        sa.Column("fix", String(length=1000), nullable=False),
        sa.Column("remote_ids", String(), nullable=False),
        sa.Column("url", String(length=2000), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("snapshot", String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["stored_file.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("active_key"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("export_run", schema=None) as batch_op:
        batch_op.create_index("ix_export_run_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_export_run_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "ix_export_run_room_target", ["room_id", "target", "created_at"], unique=False
        )

    op.create_table(
        "room_crm_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("kind", String(length=20), nullable=False),
        sa.Column("record_id", String(length=200), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id", "kind", name="uq_room_crm_link_kind"),
    )
    with op.batch_alter_table("room_crm_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_crm_link_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_room_crm_link_room_id"), ["room_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("room_crm_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_crm_link_room_id"))
        batch_op.drop_index(batch_op.f("ix_room_crm_link_org_id"))
    op.drop_table("room_crm_link")
    with op.batch_alter_table("export_run", schema=None) as batch_op:
        batch_op.drop_index("ix_export_run_room_target")
        batch_op.drop_index(batch_op.f("ix_export_run_org_id"))
        batch_op.drop_index("ix_export_run_due")
    op.drop_table("export_run")
    with op.batch_alter_table("crm_connection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_connection_org_id"))
    op.drop_table("crm_connection")
    op.drop_table("integration_settings")
