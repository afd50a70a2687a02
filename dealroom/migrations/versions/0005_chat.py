"""chat: messages, mentions, pending notices and per-address mail spacing

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 17:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("author_invite_id", sa.Integer(), nullable=True),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["author_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["author_invite_id"], ["invite.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("chat_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_message_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "ix_chat_message_room_created", ["room_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "chat_mention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["chat_message.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chat_mention", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_mention_message_id"), ["message_id"], unique=False
        )

    op.create_table(
        "chat_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("recipient_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["chat_message.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chat_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_notice_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_notice_room_id"), ["room_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_notice_message_id"), ["message_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_chat_notice_recipient_email"), ["recipient_email"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_chat_notice_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "chat_digest",
        sa.Column("recipient_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("last_sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("recipient_email"),
    )


def downgrade() -> None:
    op.drop_table("chat_digest")
    with op.batch_alter_table("chat_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_notice_sent_at"))
        batch_op.drop_index(batch_op.f("ix_chat_notice_recipient_email"))
        batch_op.drop_index(batch_op.f("ix_chat_notice_message_id"))
        batch_op.drop_index(batch_op.f("ix_chat_notice_room_id"))
        batch_op.drop_index(batch_op.f("ix_chat_notice_org_id"))
    op.drop_table("chat_notice")
    with op.batch_alter_table("chat_mention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_mention_message_id"))
    op.drop_table("chat_mention")
    with op.batch_alter_table("chat_message", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_message_room_created")
        batch_op.drop_index(batch_op.f("ix_chat_message_org_id"))
    op.drop_table("chat_message")
