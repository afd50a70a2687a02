"""the language a buyer last used, for the mails they get

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 12:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: SQLite and PostgreSQL both add it in place.
    op.add_column(
        "invite", sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True)
    )


def downgrade() -> None:
    # SQLite drops columns only by rebuilding the table, which batch mode does.
    with op.batch_alter_table("invite") as batch:
        batch.drop_column("locale")
