"""deleting a visit no longer scans the raw events: track_event.visit_id loses its foreign key,
track_stream.visit_id gains an index

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 07:30:00.000000

The retention purge and a viewer's erasure delete visits. With a foreign key from track_event,
every deleted visit made the database look for events pointing at it, and visit_id has no index
there (the table is the biggest there is, and writing it is the ingest's hot path): one scan of
the whole table per visit. On SQLite the table is rebuilt without the constraint (batch mode),
which takes a while on a big database; PostgreSQL drops the constraint in place.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# SQLite's foreign keys have no names: batch mode names them by this convention to drop one.
_SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _visit_fk_name() -> str | None:
    for fk in sa.inspect(op.get_bind()).get_foreign_keys("track_event"):
        if fk["constrained_columns"] == ["visit_id"]:
            return fk["name"]
    return None


def upgrade() -> None:
    with op.batch_alter_table("track_stream", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_stream_visit_id"), ["visit_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("track_event", naming_convention=_SQLITE_NAMES) as batch_op:
            batch_op.drop_constraint("fk_track_event_visit_id_visit", type_="foreignkey")
    else:
        name = _visit_fk_name()
        if name:
            op.drop_constraint(name, "track_event", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("track_event", naming_convention=_SQLITE_NAMES) as batch_op:
            batch_op.create_foreign_key(
                "fk_track_event_visit_id_visit", "visit", ["visit_id"], ["id"]
            )
    else:
        op.create_foreign_key(
            "track_event_visit_id_fkey", "track_event", "visit", ["visit_id"], ["id"]
        )
    with op.batch_alter_table("track_stream", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_stream_visit_id"))
