"""Raw tracking rows at volume, and counting the work a query does on them, for tests that guard
against reading a whole table: not a time (timed tests are flaky), a count the database keeps."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import text

from dealroom.tracking import TrackEvent


def insert_events(
    session: Any,
    events: Iterable[tuple[datetime, str]],
    *,
    org_id: int,
    room_id: int,
    invite_id: int,
    visit_id: int | None = None,
    seconds: int = 10,
) -> None:
    """Raw events (at, kind) of one viewer, inserted as the ingest writer's rows are."""
    row = {"org_id": org_id, "room_id": room_id, "invite_id": invite_id, "visit_id": visit_id}
    extra = {"room_item_id": None, "page": None, "seconds": seconds, "start": None, "stop": None}
    session.execute(
        TrackEvent.__table__.insert(),  # type: ignore[attr-defined]
        [{**row, **extra, "at": at, "kind": kind, "ref": ""} for at, kind in events],
    )
    session.flush()


def work_on_events(session: Any, action: Callable[[], object]) -> int:
    """How much `action` reads: SQLite's virtual machine instructions (to within 10), PostgreSQL's
    tuples read from track_event in this transaction."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        steps = [0]

        def count() -> int:
            steps[0] += 10
            return 0

        raw = connection.connection.dbapi_connection
        raw.set_progress_handler(count, 10)
        try:
            action()
        finally:
            raw.set_progress_handler(None, 10)
        return steps[0]
    read = text(
        "SELECT coalesce(sum(seq_tup_read), 0) + coalesce(sum(idx_tup_fetch), 0) "
        "FROM pg_stat_xact_user_tables WHERE relname = 'track_event'"
    )
    before = session.execute(read).scalar_one()
    action()
    return int(session.execute(read).scalar_one() - before)
