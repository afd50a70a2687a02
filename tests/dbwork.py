"""Counting the work a query does, for tests that guard against reading a whole table: not a
time (timed tests are flaky), a count the database keeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text


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
