"""Leases: one process among several holds a named lease in the database, e.g. the right to run
scheduled jobs (see dealroom/scheduler.py).

A lease is one row: its holder, when it expires, and a fencing token. The holder renews it well
before it expires; anyone may take over a lease that has expired, and each takeover increments
the token. Whoever acts on behalf of the lease checks, in the same database, that it still holds
the token it was given (`holds`), so a holder that stalled (paused, swapped out, cut off) past
its expiry is refused even if it wakes up believing it still leads.

    acquire(holder A)      -> token 1        A leads
    acquire(holder B)      -> None           B follows (A's lease has not expired)
    ... A dies; its lease expires ...
    acquire(holder B)      -> token 2        B leads
    holds(A, token 1)      -> False          A woke up: refused

Every step is one conditional UPDATE (or INSERT … ON CONFLICT DO NOTHING for the first row) whose
row count says who won, so it works the same on SQLite and PostgreSQL without advisory locks.
Times come from the caller (`now`), so tests move the clock instead of sleeping; with several
hosts, their clocks must agree to well within the lease's lifetime (NTP does).

The table APScheduler keeps its persistent jobs in is declared here too, column for column as
`apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore` creates it, so the migrations create it and
the schema test sees models and migrations agree.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Float, LargeBinary, Table, Unicode, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

# Never a real expiry: a fresh row is free to take.
_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class Lease(SQLModel, table=True):
    __tablename__ = "scheduler_lease"
    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(default="", max_length=200)
    # Incremented by every takeover: a later leader always holds a larger token.
    token: int = 0
    acquired_at: datetime = _LONG_AGO
    expires_at: datetime = _LONG_AGO


# What SQLAlchemyJobStore(tablename="apscheduler_jobs") creates: id, next run (a UTC timestamp),
# and the pickled job (trigger, textual function reference, arguments).
APSCHEDULER_JOBS = Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


def new_holder() -> str:
    """An id for this process: readable in logs (host and pid) and unique across restarts."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


def _ensure_row(session: Session, name: str) -> None:
    values = {"name": name, "holder": "", "token": 0}
    values |= {"acquired_at": _LONG_AGO, "expires_at": _LONG_AGO}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.exec(postgresql.insert(Lease).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.exec(sqlite.insert(Lease).values(**values).on_conflict_do_nothing())
    elif session.get(Lease, name) is None:  # pragma: no cover - other databases
        session.exec(insert(Lease).values(**values))


def acquire(
    session: Session, *, name: str, holder: str, ttl: timedelta, now: datetime
) -> int | None:
    """Renew the lease if `holder` holds it, else take it over if it has expired. Returns the
    fencing token to act under, or None when someone else holds the lease."""
    renewed = session.exec(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder, col(Lease.expires_at) > now)
        .values(expires_at=now + ttl)
    ).rowcount
    if renewed != 1:
        _ensure_row(session, name)
        taken = session.exec(
            update(Lease)
            .where(col(Lease.name) == name, col(Lease.expires_at) <= now)
            .values(
                holder=holder, token=col(Lease.token) + 1, acquired_at=now, expires_at=now + ttl
            )
        ).rowcount
        if taken != 1:
            return None
    # Columns, not the entity: the UPDATEs above bypassed the session's identity map.
    found, token = session.exec(
        select(Lease.holder, Lease.token).where(col(Lease.name) == name)
    ).one()
    return token if found == holder else None


def holds(session: Session, *, name: str, holder: str, token: int, now: datetime) -> bool:
    """Whether `holder` still holds the lease under `token` (checked before acting on it)."""
    found = session.exec(
        select(Lease.name).where(
            col(Lease.name) == name,
            col(Lease.holder) == holder,
            col(Lease.token) == token,
            col(Lease.expires_at) > now,
        )
    ).first()
    return found is not None


def release(session: Session, *, name: str, holder: str, token: int, now: datetime) -> bool:
    """Give the lease up at once (a clean shutdown), so another process need not wait for it
    to expire. Only the current holder can release it."""
    released = session.exec(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder, col(Lease.token) == token)
        .values(expires_at=now)
    ).rowcount
    return bool(released == 1)


def current(session: Session, *, name: str) -> Lease | None:
    return session.get(Lease, name)
