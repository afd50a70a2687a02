"""Fixed-window rate limits kept in the database, so several app processes share one count."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Field, Session, SQLModel, col, select

from .db import utcnow
from .errors import RateLimited


class RateLimitHit(SQLModel, table=True):
    __tablename__ = "rate_limit_hit"
    key: str = Field(primary_key=True, max_length=300)
    window_start: datetime
    count: int = 0


def _window(session: Session, key: str, window: timedelta, now: datetime) -> RateLimitHit:
    row = session.get(RateLimitHit, key)
    if row is None:
        row = RateLimitHit(key=key, window_start=now, count=0)
        session.add(row)
        session.flush()
    elif now - row.window_start >= window:
        row.window_start, row.count = now, 0
    return row


def check(session: Session, key: str, *, limit: int, window: timedelta, message: str) -> None:
    """Raise RateLimited when `key` already used `limit` hits in the current window."""
    now = utcnow()
    row = session.get(RateLimitHit, key)
    if row is not None and now - row.window_start < window and row.count >= limit:
        retry = int((row.window_start + window - now).total_seconds()) + 1
        raise RateLimited(message, retry_after=retry)


def hit(session: Session, key: str, *, window: timedelta) -> None:
    now = utcnow()
    row = _window(session, key, window, now)
    # An UPDATE expression so two processes incrementing at once both count.
    session.exec(
        update(RateLimitHit)
        .where(col(RateLimitHit.key) == key)
        .values(count=col(RateLimitHit.count) + 1)
    )
    session.refresh(row)


def consume(session: Session, key: str, *, limit: int, window: timedelta, message: str) -> None:
    """Check, then count this attempt."""
    check(session, key, limit=limit, window=window, message=message)
    hit(session, key, window=window)


def reset(session: Session, key: str) -> None:
    session.exec(delete(RateLimitHit).where(col(RateLimitHit.key) == key))


def purge(session: Session, *, older_than: timedelta) -> int:
    cutoff = utcnow() - older_than
    rows = session.exec(select(RateLimitHit).where(RateLimitHit.window_start < cutoff)).all()
    for row in rows:
        session.delete(row)
    return len(rows)
