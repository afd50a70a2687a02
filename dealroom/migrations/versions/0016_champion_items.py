"""champion view: the room's key items, chosen by the seller (gone with the item)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 00:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "champion_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("room_item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["room_item_id"], ["room_item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_item_id"),
    )
    with op.batch_alter_table("champion_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_champion_item_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_champion_item_room_id"), ["room_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("champion_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_champion_item_room_id"))
        batch_op.drop_index(batch_op.f("ix_champion_item_org_id"))
    op.drop_table("champion_item")
