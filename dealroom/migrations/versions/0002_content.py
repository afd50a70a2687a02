"""content: documents with versions, links, sections, room items, what buyers have seen

Replaces content_item (one uploaded file per row) with documents that rooms reference, so a new
version of a library document reaches every room using it. No production data existed yet, so
content_item is dropped rather than converted.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("content_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_item_org_id"))
        batch_op.drop_index(batch_op.f("ix_content_item_room_id"))
    op.drop_table("content_item")

    op.create_table(
        "document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("kind", String(length=20), nullable=False),
        sa.Column("title", String(length=200), nullable=False),
        sa.Column("description", String(length=2000), nullable=False),
        sa.Column("url", String(length=2000), nullable=False),
        sa.Column("link_kind", String(length=20), nullable=False),
        sa.Column("file_kind", String(length=20), nullable=False),
        sa.Column("stages", String(length=100), nullable=False),
        sa.Column("roles", String(length=200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_document_room_id"), ["room_id"], unique=False)

    op.create_table(
        "document_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["stored_file.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "version", name="uq_document_version"),
    )
    with op.batch_alter_table("document_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_version_document_id"), ["document_id"], unique=False
        )

    op.create_table(
        "room_section",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("title", String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("room_section", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_section_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_room_section_room_id"), ["room_id"], unique=False)

    op.create_table(
        "room_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("allow_download", sa.Boolean(), nullable=False),
        sa.Column("stages", String(length=100), nullable=False),
        sa.Column("roles", String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["section_id"], ["room_section.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint("room_id", "document_id", name="uq_room_item_document"),
    )
    with op.batch_alter_table("room_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_item_document_id"), ["document_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_room_item_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_room_item_room_id"), ["room_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_room_item_section_id"), ["section_id"], unique=False)

    op.create_table(
        "item_seen",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=False),
        sa.Column("version_seen", sa.Integer(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.ForeignKeyConstraint(["room_item_id"], ["room_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_id", "room_item_id", name="uq_item_seen"),
    )
    with op.batch_alter_table("item_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_seen_invite_id"), ["invite_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_item_seen_room_item_id"), ["room_item_id"], unique=False
        )


def downgrade() -> None:
    for table, indexes in (
        ("item_seen", ("invite_id", "room_item_id")),
        ("room_item", ("document_id", "org_id", "room_id", "section_id")),
        ("room_section", ("org_id", "room_id")),
        ("document_version", ("document_id",)),
        ("document", ("org_id", "room_id")),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)

    op.create_table(
        "content_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("kind", String(length=20), nullable=False),
        sa.Column("file_kind", String(length=20), nullable=False),
        sa.Column("title", String(length=200), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("allow_download", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["stored_file.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("content_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_content_item_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_content_item_room_id"), ["room_id"], unique=False)
