"""room templates: sections, library documents and a default action plan

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "room_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", String(length=200), nullable=False),
        sa.Column("description", String(length=2000), nullable=False),
        sa.Column("welcome_message", String(length=5000), nullable=False),
        sa.Column("stage", String(length=20), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("room_template", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_template_org_id"), ["org_id"], unique=False)

    op.create_table(
        "template_section",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("title", String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["room_template.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("template_section", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_template_section_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_template_section_template_id"), ["template_id"], unique=False
        )

    op.create_table(
        "template_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("template_section_id", sa.Integer(), nullable=True),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["room_template.id"]),
        sa.ForeignKeyConstraint(["template_section_id"], ["template_section.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint("template_id", "document_id", name="uq_template_item_document"),
    )
    with op.batch_alter_table("template_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_template_item_document_id"), ["document_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_template_item_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_template_item_template_id"), ["template_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_template_item_template_section_id"),
            ["template_section_id"],
            unique=False,
        )

    op.create_table(
        "template_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("milestone", String(length=200), nullable=False),
        sa.Column("title", String(length=200), nullable=False),
        sa.Column("owner", String(length=10), nullable=False),
        sa.Column("due", String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["room_template.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("template_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_template_task_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_template_task_template_id"), ["template_id"], unique=False
        )


def downgrade() -> None:
    for table, indexes in (
        ("template_task", ("org_id", "template_id")),
        ("template_item", ("document_id", "org_id", "template_id", "template_section_id")),
        ("template_section", ("org_id", "template_id")),
        ("room_template", ("org_id",)),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
