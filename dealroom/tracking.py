"""Intent tracking: who viewed what, when and for how long, counting only active time.

Two ways in, one writer:

    browser  static/track.js ──beacon──> web/tracking.py (checks, no database)
                                            └─> Ingest buffer ──every 100 ms──> apply_beats()
    server   content views, downloads, link clicks, task and chat activity ──> record()

Both end in `_Writer`, which appends raw events (`TrackEvent`, deleted after the room's
retention) and updates the rollups the analytics pages read (`ViewerStat`, `ViewerItemStat`,
per-page seconds inside `ViewerItemStat`) plus anonymous aggregates that outlive retention (`ActivityHour`, `ItemDay`).
Rollups are updated as events arrive, with additive upserts, so several app processes can flush
at once and a room with a million events is read as fast as one with ten.

Trust: room and viewer come from the signed buyer cookie, never from the body; a beat's seconds
are capped by the real time since the stream's previous beat; sequence numbers drop replays; bots,
the seller's own team, revoked viewers, paused viewers and viewers who have not been shown the
tracking notice are dropped and counted (`TrackDrop`). Nothing is stored about a paused viewer.
"""

from __future__ import annotations

import functools
import logging
import math
import operator
import re
import sys
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Index, LargeBinary, UniqueConstraint, bindparam, func, literal, tuple_
from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Column, Field, Session, SQLModel, col, select

from . import accounts
from .content import CURRENT_VERSION, Document, DocumentVersion, RoomItem, Section
from .db import Database, pk, utcnow
from .ids import new_id
from .invites import Invite
from .rooms import Room

log = logging.getLogger("dealroom.tracking")

HOUR = timedelta(hours=1)
VISIT_GAP = timedelta(minutes=30)  # a quieter stretch than this starts a new visit
SLACK_SECONDS = 2.0  # network jitter allowed on top of the real time between two beats
MAX_EVENT_SECONDS = 3600
MAX_VIDEO_SECONDS = 6 * 3600  # watched-seconds bitmaps cover videos up to six hours
COMPLETE_PAGE_SECONDS = 5  # a PDF page counts as read after this much active time
MIN_BEAT_INTERVAL = 1.0  # faster than this (except the final flush) is a script, not a person
# Titles or sections with these words make an item "pricing" for the economic-buyer signal.
PRICING_WORDS = ("pricing", "price", "quote", "quotation", "proposal", "見積", "価格", "料金")
BOT_AGENTS = re.compile(
    r"bot|crawl|spider|slurp|headless|phantom|selenium|puppeteer|playwright|lighthouse|"
    r"preview|fetch|python|curl|wget|httpclient|okhttp|java/|go-http|axios|node|monitor|pingdom|scan",
    re.IGNORECASE,
)

DROP_REASONS = (
    "bot",
    "seller",
    "revoked",
    "paused",
    "no_notice",
    "duplicate",
    "too_fast",
    "foreign_item",
    "bad_page",
    "unknown",
    "overflow",
)


# ---------------------------------------------------------------- tables


class Visit(SQLModel, table=True):
    """One viewer's session in a room: from the first activity to a 30-minute silence."""

    __tablename__ = "visit"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("vis"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int = Field(foreign_key="invite.id", index=True)
    started_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow, index=True)
    active_seconds: int = 0
    device: str = Field(default="desktop", max_length=10)  # desktop | tablet | mobile
    country: str = Field(default="", max_length=2)  # only when a setting allows it


class TrackStream(SQLModel, table=True):
    """One page load's beats: the sequence number seen last and when, for replays and caps."""

    __tablename__ = "track_stream"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=40)
    org_id: int = Field(foreign_key="org.id", index=True)
    invite_id: int = Field(foreign_key="invite.id", index=True)
    # Indexed: the purge deletes streams by visit, and deleting a visit checks for its streams.
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    issued_at: datetime
    last_seq: int = 0
    last_beat_at: datetime | None = None
    inputs: int = 0


class TrackEvent(SQLModel, table=True):
    """A raw event; deleted after the room's retention (the rollups stay)."""

    __tablename__ = "track_event"
    __table_args__ = (Index("ix_track_event_room_at", "room_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    # Not indexed: every read also names the room (or the viewer), whose indexes it takes; an
    # org_id index only cost each insert and tempted SQLite's planner (see dashboard.feed).
    org_id: int = Field(foreign_key="org.id")
    room_id: int = Field(foreign_key="room.id")
    invite_id: int = Field(foreign_key="invite.id", index=True)
    # No foreign key (and no index): deleting a visit would then look for its events, a scan of
    # the biggest table for every visit the purge or an erasure removes. Both delete the events
    # first; an event whose visit is gone is still a valid record of the viewer's time.
    visit_id: int | None = None
    at: datetime = Field(default_factory=utcnow, index=True)
    kind: str = Field(
        max_length=10
    )  # view | room | video | section | open | download | click | task | chat
    room_item_id: int | None = None  # no foreign key: history outlives a removed item
    page: int | None = None
    seconds: int = 0
    start: int | None = None  # video: the second range watched
    stop: int | None = None
    ref: str = Field(default="", max_length=64)  # section / task public id


class ViewerStat(SQLModel, table=True):
    __tablename__ = "viewer_stat"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int = Field(foreign_key="invite.id", unique=True)
    active_seconds: int = 0
    visits: int = 0
    messages: int = 0
    task_updates: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class ViewerItemStat(SQLModel, table=True):
    __tablename__ = "viewer_item_stat"
    __table_args__ = (UniqueConstraint("invite_id", "room_item_id", name="uq_viewer_item_stat"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int = Field(foreign_key="invite.id")
    room_item_id: int
    active_seconds: int = 0
    opens: int = 0
    visits_opened: int = 0  # distinct visits with time or an open: 2+ means re-read
    last_visit_id: int | None = None
    downloads: int = 0
    clicks: int = 0
    video_seconds: int = 0  # distinct seconds of the video watched
    duration: int = 0  # the video's length, as the player reported it
    watched: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # PDFs: active seconds per page (uint32 little-endian, page 1 first) and how many pages
    # have at least COMPLETE_PAGE_SECONDS: one row per viewer and document, not per page, so a
    # room's analytics read stays small however much was read.
    page_seconds: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    pages_done: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None


class ActivityHour(SQLModel, table=True):
    """Anonymous: a room's active seconds per UTC hour (heatmaps, trends; kept past retention)."""

    __tablename__ = "activity_hour"
    __table_args__ = (UniqueConstraint("room_id", "hour", name="uq_activity_hour"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id")
    hour: datetime
    active_seconds: int = 0
    events: int = 0


class RoomDay(SQLModel, table=True):
    """Anonymous: a room's active seconds per UTC day, kept with ActivityHour as events arrive.
    The dashboards' sparklines and momentum read these: a month of 500 rooms is 15,000 rows,
    where the same month in hours is up to 360,000."""

    __tablename__ = "room_day"
    __table_args__ = (
        UniqueConstraint("room_id", "day", name="uq_room_day"),
        Index("ix_room_day_org_day", "org_id", "day", "room_id", "active_seconds"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id")
    room_id: int = Field(foreign_key="room.id")
    day: date
    active_seconds: int = 0
    events: int = 0


class ItemDay(SQLModel, table=True):
    """Anonymous: active seconds per room item and UTC day (content effectiveness)."""

    __tablename__ = "item_day"
    __table_args__ = (UniqueConstraint("room_item_id", "day", name="uq_item_day"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    room_item_id: int
    document_id: int = Field(index=True)
    day: date
    active_seconds: int = 0


class TrackDrop(SQLModel, table=True):
    """Events refused, by reason and day: what we did not count, and why."""

    __tablename__ = "track_drop"
    __table_args__ = (UniqueConstraint("day", "reason", name="uq_track_drop"),)
    id: int | None = Field(default=None, primary_key=True)
    day: date
    reason: str = Field(max_length=20)
    count: int = 0


class Signal(SQLModel, table=True):
    """Something worth a seller's attention, found while events arrive."""

    __tablename__ = "track_signal"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("sig"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int | None = Field(default=None, foreign_key="invite.id")
    kind: str = Field(max_length=20)  # new_person | returned | pricing | reread
    room_item_id: int | None = None
    at: datetime = Field(default_factory=utcnow, index=True)
    days: int = 0  # returned: days of silence before


SIGNAL_KINDS = ("new_person", "returned", "pricing", "reread")


# ---------------------------------------------------------------- events (one class per kind)
# Named tuples: every beat is built by the web process and pickled to the writer process, and
# tuples cost a fraction of what (frozen) dataclasses cost to build and to pickle.


class ItemTime(NamedTuple):
    """Active seconds on a room item (and a PDF page)."""

    item: str  # RoomItem.public_id
    seconds: int
    page: int | None = None


class RoomTime(NamedTuple):
    """Active seconds on the room page itself."""

    seconds: int


class VideoWatch(NamedTuple):
    """A range of a video watched while the viewer was active."""

    item: str
    start: int
    stop: int
    seconds: int
    duration: int = 0


class SectionOpen(NamedTuple):
    section: str  # Section.public_id


BeatEvent = ItemTime | RoomTime | VideoWatch | SectionOpen


class Beat(NamedTuple):
    """One accepted beacon, as the web layer hands it over (already authenticated)."""

    received_at: float  # time.time() when the request arrived
    room: str  # public ids from the signed cookie
    invite: str
    stream: str
    issued_at: float  # when the page issued the stream token
    seq: int
    events: tuple[BeatEvent, ...]
    inputs: int = 0  # interactions the page saw since the previous beat
    final: bool = False  # the pagehide flush
    device: str = "desktop"
    country: str = ""


BEAT_EVENTS = Beat._fields.index("events")


@dataclass(frozen=True)
class ItemOpened:
    item_id: int


@dataclass(frozen=True)
class Downloaded:
    item_id: int


@dataclass(frozen=True)
class LinkClicked:
    item_id: int


@dataclass(frozen=True)
class TaskActivity:
    task: str  # public id


@dataclass(frozen=True)
class ChatActivity:
    pass


ServerEvent = ItemOpened | Downloaded | LinkClicked | TaskActivity | ChatActivity


class BeatError(ValueError):
    """The beacon body is not one we accept (the web layer answers 400)."""


# ---------------------------------------------------------------- parsing the beacon body


MAX_EVENTS = 50


def _int(value: Any, low: int, high: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BeatError(f"{name} must be an integer between {low} and {high}")
    return value


def _id(value: Any, prefix: str, name: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefix + "_") or len(value) > 64:
        raise BeatError(f"{name} must be a {prefix}_ id")
    return value


def parse_events(raw: Any) -> tuple[BeatEvent, ...]:
    """The events of a beacon body, strictly: unknown kinds or fields out of range are errors."""
    if not isinstance(raw, list) or len(raw) > MAX_EVENTS:
        raise BeatError(f"ev must be a list of at most {MAX_EVENTS} events")
    events: list[BeatEvent] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise BeatError("each event must be an object")
        kind = entry.get("k")
        seconds = _int(entry.get("s", 0), 0, MAX_EVENT_SECONDS, "s")
        if kind == "view":
            page = entry.get("page")
            events.append(
                ItemTime(
                    item=_id(entry.get("item"), "item", "item"),
                    seconds=seconds,
                    page=None if page is None else _int(page, 1, 100_000, "page"),
                )
            )
        elif kind == "room":
            events.append(RoomTime(seconds=seconds))
        elif kind == "video":
            start = _int(entry.get("a"), 0, MAX_VIDEO_SECONDS, "a")
            stop = _int(entry.get("b"), 0, MAX_VIDEO_SECONDS, "b")
            if stop < start:
                raise BeatError("b must not be before a")
            events.append(
                VideoWatch(
                    item=_id(entry.get("item"), "item", "item"),
                    start=start,
                    stop=stop,
                    seconds=seconds,
                    duration=_int(entry.get("d", 0), 0, MAX_VIDEO_SECONDS, "d"),
                )
            )
        elif kind == "section":
            events.append(SectionOpen(section=_id(entry.get("section"), "sec", "section")))
        else:
            raise BeatError("unknown event kind")
    return tuple(events)


@functools.lru_cache(maxsize=4096)
def device_class(user_agent: str) -> str:
    if re.search(r"iPad|Tablet|Android(?!.*Mobile)", user_agent):
        return "tablet"
    if re.search(r"Mobi|iPhone|Android", user_agent):
        return "mobile"
    return "desktop"


@functools.lru_cache(maxsize=4096)  # browsers send the same few strings over and over
def is_bot(user_agent: str) -> bool:
    return not user_agent or bool(BOT_AGENTS.search(user_agent))


# ---------------------------------------------------------------- counting drops


class DropCounter:
    """Per-process tally of refused events (flushed to TrackDrop with the next batch, and read
    by /metrics), so the hot path never writes for a drop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, int] = defaultdict(int)
        self.total: dict[str, int] = defaultdict(int)
        self.accepted = 0

    def add(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._pending[reason] += count
            self.total[reason] += count

    def take(self) -> dict[str, int]:
        with self._lock:
            pending, self._pending = dict(self._pending), defaultdict(int)
        return pending

    def restore(self, pending: dict[str, int]) -> None:
        with self._lock:
            for reason, count in pending.items():
                self._pending[reason] += count


def _write_drops(session: Session, drops: dict[str, int], day: date) -> None:
    rows = [{"day": day, "reason": r, "count": n} for r, n in drops.items() if n]
    if rows:
        _upsert(session, TrackDrop, rows, keys=("day", "reason"), add=("count",))


def drop_totals(session: Session, *, since: date | None = None) -> dict[str, int]:
    query = select(TrackDrop.reason, func.sum(TrackDrop.count)).group_by(TrackDrop.reason)
    if since is not None:
        query = query.where(TrackDrop.day >= since)
    return {reason: int(total or 0) for reason, total in session.exec(query)}


# ---------------------------------------------------------------- portable upserts


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# The writer's three per-beat statements (insert the events, read and update each page's
# stream) go to the driver directly: SQLAlchemy's per-row parameter processing cost more than
# the database work. Times are aware UTC; SQLite gets them in SQLAlchemy's own storage format
# (so they compare and read back like every other column), PostgreSQL as they are.


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without "+00:00"


def _driver_time(session: Session) -> Callable[[datetime | None], Any]:
    return _sqlite_time if _dialect(session) == "sqlite" else (lambda value: value)


def _read_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _placeholders(session: Session, count: int) -> str:
    mark = "?" if _dialect(session) == "sqlite" else "%s"
    return ", ".join([mark] * count)


EVENT_COLUMNS = (
    "org_id",
    "room_id",
    "invite_id",
    "visit_id",
    "at",
    "kind",
    "room_item_id",
    "page",
    "seconds",
    "start",
    "stop",
    "ref",
)


def _upsert(
    session: Session,
    model: type[SQLModel],
    rows: list[dict[str, Any]],
    *,
    keys: tuple[str, ...],
    add: tuple[str, ...] = (),
    latest: tuple[str, ...] = (),
    earliest: tuple[str, ...] = (),
    replace: tuple[str, ...] = (),
) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE: `add` columns are summed, `latest`/`earliest` keep
    the max/min, `replace` takes the new value. Safe when several processes flush at once: the
    database serialises conflicting rows, nothing is read first. Rows must have distinct keys.
    They are written in key order: two writers (the writer processes of two app processes, or
    a page recording an opening) taking the same rows in different orders would each wait for
    the other (PostgreSQL: "deadlock detected", and the batch is written again)."""
    if not rows:
        return
    rows = sorted(rows, key=lambda row: tuple(row[key] for key in keys))
    dialect = _dialect(session)
    shape = (model, dialect, keys, add, latest, earliest, replace)
    stmt = _UPSERTS.get(shape)
    if stmt is None:
        stmt = _UPSERTS[shape] = _upsert_statement(*shape)
    session.execute(stmt, rows)


# Built once per shape: the writer upserts the same five tables every half second.
_UPSERTS: dict[tuple[Any, ...], Any] = {}


def _upsert_statement(
    model: type[SQLModel],
    dialect: str,
    keys: tuple[str, ...],
    add: tuple[str, ...],
    latest: tuple[str, ...],
    earliest: tuple[str, ...],
    replace: tuple[str, ...],
) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    new = stmt.excluded
    greatest = func.greatest if dialect == "postgresql" else func.max
    least = func.least if dialect == "postgresql" else func.min
    updates: dict[str, Any] = {}
    for name in add:
        updates[name] = table.c[name] + new[name]
    for name in latest:
        updates[name] = greatest(func.coalesce(table.c[name], new[name]), new[name])
    for name in earliest:
        updates[name] = least(func.coalesce(table.c[name], new[name]), new[name])
    for name in replace:
        updates[name] = new[name]
    if updates:
        return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


# ---------------------------------------------------------------- the writer


def _bits_set(bitmap: bytes | None, start: int, stop: int) -> tuple[bytes, int]:
    """Mark seconds [start, stop) in a watched-seconds bitmap; returns it and how many were new."""
    stop = min(stop, MAX_VIDEO_SECONDS)
    data = bytearray(bitmap or b"")
    need = (stop + 7) // 8
    if len(data) < need:
        data.extend(b"\0" * (need - len(data)))
    added = 0
    for second in range(start, stop):
        byte, bit = divmod(second, 8)
        if not data[byte] & (1 << bit):
            data[byte] |= 1 << bit
            added += 1
    return bytes(data), added


def page_times(data: bytes | None) -> array[int]:
    """Seconds per page (index 0 is page 1) from a `page_seconds` column."""
    values = array("I")
    if data:
        values.frombytes(data)
        if sys.byteorder != "little":
            values.byteswap()
    return values


def add_page_seconds(data: bytes | None, added: dict[int, int]) -> tuple[bytes, int]:
    """Add seconds to pages; returns the new column value and the pages now read."""
    values = page_times(data)
    top = max(added)
    if len(values) < top:
        values.extend([0] * (top - len(values)))
    for page, seconds in added.items():
        values[page - 1] = min(values[page - 1] + seconds, 2**32 - 1)
    done = sum(1 for v in values if v >= COMPLETE_PAGE_SECONDS)
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes(), done


def watched_ranges(bitmap: bytes | None) -> list[tuple[int, int]]:
    """[(start, stop), …] second ranges set in a watched bitmap."""
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for second in range(len(bitmap or b"") * 8):
        byte, bit = divmod(second, 8)
        on = bool(bitmap and bitmap[byte] & (1 << bit))
        if on and start is None:
            start = second
        elif not on and start is not None:
            ranges.append((start, second))
            start = None
    if start is not None:
        ranges.append((start, len(bitmap or b"") * 8))
    return ranges


@dataclass
class _ItemInfo:
    id: int
    room_id: int
    document_id: int
    pages: int | None
    file_kind: str
    pricing: bool


@dataclass
class _Person:
    """What the writer needs of a viewer (read with one column query per batch)."""

    id: int
    public_id: str
    org_id: int
    room_id: int
    email: str
    role: str
    source: str
    revoked: bool
    paused: bool
    notified: bool

    @classmethod
    def of(cls, invite: Invite) -> _Person:
        return cls(
            pk(invite),
            invite.public_id,
            invite.org_id,
            invite.room_id,
            invite.email,
            invite.role,
            invite.source,
            invite.revoked_at is not None,
            invite.tracking_paused_at is not None,
            invite.tracking_notice_at is not None,
        )


@dataclass
class _Visit:
    id: int
    invite_id: int
    last_seen_at: datetime
    added: int = 0  # active seconds this batch adds
    seen: datetime | None = None  # the newest activity this batch saw


@dataclass(slots=True)  # a writer remembers up to 100,000 of them
class _Stream:
    id: int
    key: str
    invite_id: int
    visit_id: int | None
    issued_at: datetime
    last_seq: int
    last_beat_at: datetime | None
    inputs: int
    changed: bool = False
    beat_at: Any = None  # last_beat_at as the driver takes it, once changed
    stored_seq: int = -1  # last_seq as the database holds it (the update is conditional on it)

    def __post_init__(self) -> None:
        if self.stored_seq < 0:
            self.stored_seq = self.last_seq


V = Visit.__table__  # type: ignore[attr-defined]
S = TrackStream.__table__  # type: ignore[attr-defined]
VIS = ViewerItemStat.__table__  # type: ignore[attr-defined]


@dataclass
class _Writer:
    """Accumulates one batch's effects, then writes them with a handful of statements (column
    queries and executemany: no ORM objects on this path, it runs for every beat)."""

    session: Session
    return_days: int
    events: list[tuple[Any, ...]] = field(default_factory=list)  # rows of EVENT_COLUMNS
    viewer: dict[int, dict[str, Any]] = field(default_factory=dict)
    items: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    pages: dict[tuple[int, int], dict[int, int]] = field(default_factory=dict)
    hours: dict[tuple[int, datetime], dict[str, Any]] = field(default_factory=dict)
    days: dict[tuple[int, date], dict[str, Any]] = field(default_factory=dict)
    videos: dict[tuple[int, int], list[tuple[int, int]]] = field(default_factory=dict)
    durations: dict[tuple[int, int], int] = field(default_factory=dict)
    visits: dict[int, _Visit] = field(default_factory=dict)
    latest: dict[int, _Visit] = field(default_factory=dict)  # each viewer's newest visit
    signals: list[dict[str, Any]] = field(default_factory=list)
    item_visit: dict[tuple[int, int], int] = field(default_factory=dict)
    item_at: dict[tuple[int, int], datetime] = field(default_factory=dict)  # the latest event
    pricing: set[tuple[int, int]] = field(default_factory=set)
    people: dict[int, _Person] = field(default_factory=dict)
    _stamped: tuple[datetime | None, Any] = (None, None)
    _convert: Callable[[datetime | None], Any] | None = None
    _hour: datetime | None = None  # the hour of the latest event (a batch is within one or two)

    def _hour_of(self, at: datetime) -> datetime:
        hour = self._hour
        if hour is None or not hour <= at < hour + HOUR:
            hour = self._hour = at.replace(minute=0, second=0, microsecond=0)
        return hour

    def stamp(self, value: datetime | None) -> Any:
        """`value` as the driver takes it; a beat's events share one time, converted once."""
        at, stamped = self._stamped
        if value is not at:
            if self._convert is None:
                self._convert = _driver_time(self.session)
            stamped = self._convert(value)
            self._stamped = (value, stamped)
        return stamped

    # -- visits

    def load_latest(self, invite_ids: Iterable[int]) -> None:
        """Each viewer's newest visit, in one query for the whole batch."""
        ids = set(invite_ids) - set(self.latest)
        if not ids:
            return
        newest = (
            sa_select(V.c.invite_id, func.max(V.c.id).label("newest"))
            .where(V.c.invite_id.in_(ids))
            .group_by(V.c.invite_id)
            .subquery()
        )
        query = sa_select(V.c.id, V.c.invite_id, V.c.last_seen_at).join(
            newest, V.c.id == newest.c.newest
        )
        for visit_id, invite_id, last_seen in self.session.execute(query):
            visit = self.visits.setdefault(visit_id, _Visit(visit_id, invite_id, last_seen))
            self.latest[invite_id] = visit

    def visit_for(
        self, person: _Person, at: datetime, *, device: str, country: str, current: int | None
    ) -> _Visit:
        """The viewer's visit at `at`: the stream's own, else one still warm, else a new one."""
        candidate = self.visits.get(current) if current is not None else None
        if candidate is None or candidate.invite_id != person.id:
            candidate = self.latest.get(person.id)
        if candidate is not None:
            last = max(candidate.last_seen_at, candidate.seen or candidate.last_seen_at)
            if at - last <= VISIT_GAP:
                return candidate
        previous_seen = (
            max(candidate.last_seen_at, candidate.seen or candidate.last_seen_at)
            if candidate is not None
            else None
        )
        visit_id = self.session.execute(
            V.insert()
            .values(
                public_id=new_id("vis"),
                org_id=person.org_id,
                room_id=person.room_id,
                invite_id=person.id,
                started_at=at,
                last_seen_at=at,
                active_seconds=0,
                device=device,
                country=country,
            )
            .returning(V.c.id)
        ).scalar_one()
        visit = _Visit(visit_id, person.id, at)
        self.visits[visit_id] = visit
        self.latest[person.id] = visit
        self._viewer_row(person, at)["visits"] += 1
        if previous_seen is None:
            if person.source != "seller":  # joined through a forwarded link or a request
                self.signal(person, "new_person", at)
        elif (gap := (at - previous_seen).days) >= self.return_days:
            self.signal(person, "returned", at, days=gap)
        return visit

    def signal(
        self, person: _Person, kind: str, at: datetime, *, item: int | None = None, days: int = 0
    ) -> None:
        self.signals.append(
            {
                "public_id": new_id("sig"),
                "org_id": person.org_id,
                "room_id": person.room_id,
                "invite_id": person.id,
                "kind": kind,
                "room_item_id": item,
                "at": at,
                "days": days,
            }
        )

    # -- accumulating

    def _viewer_row(self, person: _Person, at: datetime) -> dict[str, Any]:
        self.people[person.id] = person
        row = self.viewer.get(person.id)
        if row is None:
            row = self.viewer[person.id] = {
                "org_id": person.org_id,
                "room_id": person.room_id,
                "invite_id": person.id,
                "active_seconds": 0,
                "visits": 0,
                "messages": 0,
                "task_updates": 0,
                "first_seen": at,
                "last_seen": at,
            }
        if at > row["last_seen"]:
            row["last_seen"] = at
        elif at < row["first_seen"]:
            row["first_seen"] = at
        return row

    def add_event(
        self,
        person: _Person,
        visit: _Visit | None,
        at: datetime,
        kind: str,
        *,
        item: _ItemInfo | None = None,
        seconds: int = 0,
        page: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        ref: str = "",
    ) -> None:
        self.events.append(  # EVENT_COLUMNS, as the driver takes them
            (
                person.org_id,
                person.room_id,
                person.id,
                visit.id if visit is not None else None,
                self.stamp(at),
                kind,
                item.id if item is not None else None,
                page,
                seconds,
                start,
                stop,
                ref,
            )
        )
        stat = self._viewer_row(person, at)
        stat["active_seconds"] += seconds
        if kind == "chat":
            stat["messages"] += 1
        elif kind == "task":
            stat["task_updates"] += 1
        if visit is not None:
            visit.seen = max(visit.seen or at, at)
            visit.added += seconds
        hour = self._hour_of(at)
        h = self.hours.get((person.room_id, hour))
        if h is None:
            h = self.hours[(person.room_id, hour)] = {
                "org_id": person.org_id,
                "room_id": person.room_id,
                "hour": hour,
                "active_seconds": 0,
                "events": 0,
            }
        h["active_seconds"] += seconds
        h["events"] += 1
        if item is None:
            return
        key = (person.id, item.id)
        row = self.items.get(key)
        if row is None:
            row = self.items[key] = {
                "org_id": person.org_id,
                "room_id": item.room_id,
                "invite_id": person.id,
                "room_item_id": item.id,
                "active_seconds": 0,
                "opens": 0,
                "downloads": 0,
                "clicks": 0,
                "first_at": at,
                "last_at": at,
            }
        row["last_at"] = max(row["last_at"], at)
        row["active_seconds"] += seconds
        if kind == "open":
            row["opens"] += 1
        elif kind == "download":
            row["downloads"] += 1
        elif kind == "click":
            row["clicks"] += 1
        if visit is not None and (seconds or kind in ("open", "download", "click")):
            self.item_visit[key] = visit.id
        if key not in self.item_at or at > self.item_at[key]:
            self.item_at[key] = at
        if page is not None and seconds:
            on_pages = self.pages.setdefault(key, {})
            on_pages[page] = on_pages.get(page, 0) + seconds
        if kind == "video" and start is not None and stop is not None:
            self.videos.setdefault(key, []).append((start, stop))
        if seconds:
            day = at.date()
            d = self.days.get((item.id, day))
            if d is None:
                d = self.days[(item.id, day)] = {
                    "org_id": person.org_id,
                    "room_id": item.room_id,
                    "room_item_id": item.id,
                    "document_id": item.document_id,
                    "day": day,
                    "active_seconds": 0,
                }
            d["active_seconds"] += seconds
        if item.pricing and person.role == "economic_buyer" and (seconds or kind == "open"):
            self.pricing.add(key)

    # -- writing

    def write(self) -> None:
        session = self.session
        if self.events:
            columns = ", ".join(f'"{name}"' for name in EVENT_COLUMNS)
            if _dialect(session) == "postgresql":
                # COPY: one statement for the batch, where an INSERT per row cost the server
                # about as much again as the rest of the write.
                raw = session.connection().connection.driver_connection
                with raw.cursor() as cursor:  # type: ignore[union-attr]
                    with cursor.copy(f"COPY track_event ({columns}) FROM STDIN") as copy:
                        for row in self.events:
                            copy.write_row(row)
            else:
                session.connection().exec_driver_sql(
                    # Only constant column names and placeholders are formatted in.
                    f"INSERT INTO track_event ({columns}) "  # noqa: S608
                    f"VALUES ({_placeholders(session, len(EVENT_COLUMNS))})",
                    self.events,
                )
        _upsert(
            session,
            ViewerStat,
            list(self.viewer.values()),
            keys=("invite_id",),
            add=("active_seconds", "visits", "messages", "task_updates"),
            latest=("last_seen",),
            earliest=("first_seen",),
        )
        _upsert(
            session,
            ViewerItemStat,
            list(self.items.values()),
            keys=("invite_id", "room_item_id"),
            add=("active_seconds", "opens", "downloads", "clicks"),
            latest=("last_at",),
            earliest=("first_at",),
        )
        _upsert(
            session,
            ActivityHour,
            list(self.hours.values()),
            keys=("room_id", "hour"),
            add=("active_seconds", "events"),
        )
        _upsert(session, RoomDay, room_days(self.hours.values()), **ROOM_DAY_SUMS)
        _upsert(
            session,
            ItemDay,
            list(self.days.values()),
            keys=("room_item_id", "day"),
            add=("active_seconds",),
        )
        touched = [v for v in self.visits.values() if v.seen is not None]
        if touched:
            # Additive, and the newest time wins: another process may touch the same visit.
            greatest = func.greatest if _dialect(session) == "postgresql" else func.max
            session.execute(
                V.update()
                .where(V.c.id == bindparam("vid"))
                .values(
                    active_seconds=V.c.active_seconds + bindparam("added"),
                    last_seen_at=greatest(V.c.last_seen_at, bindparam("seen")),
                ),
                [{"vid": v.id, "added": v.added, "seen": v.seen} for v in touched],
            )
        self._write_item_details()
        if self.signals:
            session.execute(Signal.__table__.insert(), self.signals)  # type: ignore[attr-defined]

    def _write_item_details(self) -> None:
        """What additive upserts cannot do: watched-seconds bitmaps, visits per item (re-reads),
        video lengths and once-only signals. The upserts above locked these rows already."""
        keys = set(self.videos) | set(self.item_visit) | set(self.durations) | set(self.pages)
        session = self.session
        if keys:
            query = sa_select(
                VIS.c.id,
                VIS.c.invite_id,
                VIS.c.room_item_id,
                VIS.c.last_visit_id,
                VIS.c.visits_opened,
                VIS.c.video_seconds,
                VIS.c.duration,
                VIS.c.watched if self.videos else literal(None),
                VIS.c.page_seconds if self.pages else literal(None),
            ).where(tuple_(VIS.c.invite_id, VIS.c.room_item_id).in_(sorted(keys)))
            updates = []
            for (
                row_id,
                invite_id,
                item_id,
                last_visit,
                opened,
                video_seconds,
                duration,
                bitmap,
                page_bytes,
            ) in session.execute(query):
                key = (invite_id, item_id)
                change: dict[str, Any] = {}
                visit_id = self.item_visit.get(key)
                if visit_id is not None and visit_id != last_visit:
                    change["last_visit_id"] = visit_id
                    change["visits_opened"] = opened + 1
                    if opened + 1 == 2:
                        self.signal(
                            self.people[invite_id], "reread", self.item_at[key], item=item_id
                        )
                for start, stop in self.videos.get(key, ()):
                    bitmap, added = _bits_set(bitmap, start, stop)
                    video_seconds += added
                    change["watched"] = bitmap
                    change["video_seconds"] = video_seconds
                if key in self.pages:
                    page_bytes, done = add_page_seconds(page_bytes, self.pages[key])
                    change["page_seconds"] = page_bytes
                    change["pages_done"] = done
                if self.durations.get(key, 0) > duration:
                    change["duration"] = self.durations[key]
                if change:
                    updates.append((row_id, change))
            for row_id, change in updates:
                session.execute(VIS.update().where(VIS.c.id == row_id).values(**change))
        if self.pricing:
            seen = set(
                session.execute(
                    sa_select(Signal.__table__.c.invite_id, Signal.__table__.c.room_item_id).where(  # type: ignore[attr-defined]
                        Signal.__table__.c.kind == "pricing",  # type: ignore[attr-defined]
                        Signal.__table__.c.invite_id.in_({k[0] for k in self.pricing}),  # type: ignore[attr-defined]
                    )
                ).all()
            )
            for invite_id, item_id in sorted(self.pricing - {tuple(r) for r in seen}):
                self.signal(
                    self.people[invite_id],
                    "pricing",
                    self.item_at[(invite_id, item_id)],
                    item=item_id,
                )


ROOM_DAY_SUMS: dict[str, Any] = {"keys": ("room_id", "day"), "add": ("active_seconds", "events")}


def room_days(hours: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """ActivityHour rows summed into RoomDay rows."""
    days: dict[tuple[int, date], dict[str, Any]] = {}
    for h in hours:
        key = (h["room_id"], h["hour"].date())
        row = days.get(key)
        if row is None:
            row = days[key] = {
                "org_id": h["org_id"],
                "room_id": h["room_id"],
                "day": key[1],
                "active_seconds": 0,
                "events": 0,
            }
        row["active_seconds"] += h["active_seconds"]
        row["events"] += h["events"]
    return list(days.values())


def add_room_activity(
    session: Session, *, org_id: int, room_id: int, at: datetime, seconds: int, events: int = 1
) -> None:
    """Add active seconds to a room's hourly and daily aggregates directly (demo data, tests);
    tracked events do this through the writer."""
    hour = {
        "org_id": org_id,
        "room_id": room_id,
        "hour": at.astimezone(UTC).replace(minute=0, second=0, microsecond=0),
        "active_seconds": seconds,
        "events": events,
    }
    _upsert(
        session, ActivityHour, [hour], keys=("room_id", "hour"), add=("active_seconds", "events")
    )
    _upsert(session, RoomDay, room_days([hour]), **ROOM_DAY_SUMS)


def _aware(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _seller_emails(session: Session, org_ids: Iterable[int]) -> set[tuple[int, str]]:
    rows = session.exec(
        select(accounts.User.org_id, accounts.User.email).where(
            col(accounts.User.org_id).in_(set(org_ids))
        )
    )
    return {(org_id, email.lower()) for org_id, email in rows}


def _is_pricing(title: str, section: str) -> bool:
    text = f"{title} {section}".lower()
    return any(word in text for word in PRICING_WORDS)


def _items(
    session: Session, room_ids: Iterable[int], *, only: int | None = None
) -> dict[tuple[int, str], _ItemInfo]:
    """Every item of these rooms (or just `only`) by (room id, public id), with what the
    checks need."""
    query = (
        sa_select(
            col(RoomItem.id),
            col(RoomItem.public_id),
            col(RoomItem.room_id),
            col(RoomItem.document_id),
            col(Document.title),
            col(Document.file_kind),
            col(DocumentVersion.pages),
            col(Section.title),
        )
        .join(Document, col(Document.id) == col(RoomItem.document_id))
        .join(
            DocumentVersion,
            CURRENT_VERSION,
            isouter=True,
        )
        .join(Section, col(Section.id) == col(RoomItem.section_id), isouter=True)
        .where(col(RoomItem.room_id).in_(set(room_ids)))
    )
    if only is not None:
        query = query.where(col(RoomItem.id) == only)
    return {
        (room_id, public_id): _ItemInfo(
            id=item_id,
            room_id=room_id,
            document_id=document_id,
            pages=pages,
            file_kind=file_kind,
            pricing=_is_pricing(title, section or ""),
        )
        for item_id, public_id, room_id, document_id, title, file_kind, pages, section in session.execute(
            query
        )
        if item_id is not None
    }


def _sections(session: Session, room_ids: Iterable[int]) -> set[tuple[int, str]]:
    return {
        (room_id, public_id)
        for room_id, public_id in session.exec(
            select(Section.room_id, Section.public_id).where(
                col(Section.room_id).in_(set(room_ids))
            )
        )
    }


def _refusal(person: _Person, sellers: set[tuple[int, str]]) -> str | None:
    if person.revoked:
        return "revoked"
    if person.paused:
        return "paused"
    if not person.notified:
        return "no_notice"
    if (person.org_id, person.email.lower()) in sellers:
        return "seller"
    return None


def _people(session: Session, public_ids: Iterable[str]) -> dict[str, _Person]:
    I = Invite.__table__  # type: ignore[attr-defined]  # noqa: N806, E741
    query = sa_select(
        I.c.id,
        I.c.public_id,
        I.c.org_id,
        I.c.room_id,
        I.c.email,
        I.c.role,
        I.c.source,
        I.c.revoked_at.is_not(None),
        I.c.tracking_paused_at.is_not(None),
        I.c.tracking_notice_at.is_not(None),
    ).where(I.c.public_id.in_(set(public_ids)))
    return {row[1]: _Person(*row) for row in session.execute(query)}


def _streams(session: Session, keys: set[str]) -> dict[str, _Stream]:
    if not keys:
        return {}
    postgres = _dialect(session) == "postgresql"
    found: dict[str, _Stream] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        # Several processes may flush beats of one stream: PostgreSQL locks the rows.
        lock = " ORDER BY id FOR UPDATE" if postgres else ""
        marks = _placeholders(session, len(chunk))
        rows = session.connection().exec_driver_sql(
            "SELECT id, key, invite_id, visit_id, issued_at, last_seq, last_beat_at, inputs "  # noqa: S608
            f"FROM track_stream WHERE key IN ({marks}){lock}",
            tuple(chunk),
        )
        for row_id, key, invite_id, visit_id, issued, seq, beat_at, inputs in rows:
            found[key] = _Stream(
                row_id,
                key,
                invite_id,
                visit_id,
                _read_time(issued),  # type: ignore[arg-type]
                seq,
                _read_time(beat_at),
                inputs,
            )
    return found


class Reference:
    """What the writer checks beats against (viewers, rooms, the seller teams, items and
    sections), kept for `ttl` seconds between batches so a busy process does not re-read it
    every 100 ms. Anything not found is read again at once (a new invite, a new item), so a
    cache can only delay a change of state: a revocation or a pause counts from at most `ttl`
    seconds after it."""

    STREAMS_REMEMBERED = 100_000  # past this, the remembered streams start again from none

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        # Each page's stream as this writer last committed it: a page beats every 10 s, so
        # reading its row back for every beat cost more than the rest of the beat. The update
        # is conditional on the sequence number read here, so a stream another process's writer
        # moved on in between is noticed (StaleStreams) and the batch written again from the
        # database. Not reset with the rest: nothing but a writer changes a stream.
        self.streams: dict[str, _Stream] = {}
        self._reset()

    def forget_streams(self) -> None:
        self.streams.clear()

    def remember_streams(self, streams: Iterable[_Stream]) -> None:
        if len(self.streams) > self.STREAMS_REMEMBERED:
            self.streams.clear()
        for stream in streams:
            stream.changed = False
            stream.stored_seq = stream.last_seq
            self.streams[stream.key] = stream

    def _reset(self) -> None:
        self._at = -1e18
        self.people: dict[str, _Person] = {}
        self.rooms: dict[str, int] = {}
        self.sellers: set[tuple[int, str]] = set()
        self.items: dict[tuple[int, str], _ItemInfo] = {}
        self.sections: set[tuple[int, str]] = set()
        self._orgs: set[int] = set()
        self._room_ids: set[int] = set()

    def lookup(
        self, session: Session, beats: Sequence[Beat]
    ) -> tuple[
        dict[str, _Person],
        dict[str, int],
        set[tuple[int, str]],
        dict[tuple[int, str], _ItemInfo],
        set[tuple[int, str]],
    ]:
        now = time.monotonic()
        invites = {b.invite for b in beats}
        room_keys = {b.room for b in beats}
        stale = now - self._at > self.ttl
        missing_items = any(
            isinstance(e, ItemTime | VideoWatch)
            and (self.rooms.get(b.room), e.item) not in self.items
            for b in beats
            for e in b.events
        ) or any(
            isinstance(e, SectionOpen) and (self.rooms.get(b.room), e.section) not in self.sections
            for b in beats
            for e in b.events
        )
        if (
            stale
            or not invites <= set(self.people)
            or not room_keys <= set(self.rooms)
            or missing_items
        ):
            if stale:
                self._reset()
            self.people.update(_people(session, invites | set(self.people)))
            R = Room.__table__  # type: ignore[attr-defined]  # noqa: N806
            self.rooms.update(
                session.execute(
                    sa_select(R.c.public_id, R.c.id).where(
                        R.c.public_id.in_(room_keys | set(self.rooms))
                    )
                ).all()
            )
            self._orgs = {p.org_id for p in self.people.values()}
            self._room_ids = set(self.rooms.values())
            self.sellers = _seller_emails(session, self._orgs)
            self.items = _items(session, self._room_ids)
            self.sections = _sections(session, self._room_ids)
            self._at = now if stale else self._at
        return self.people, self.rooms, self.sellers, self.items, self.sections


def apply_beats(
    session: Session,
    beats: Sequence[Beat],
    *,
    drops: DropCounter,
    return_days: int = 7,
    reference: Reference | None = None,
) -> int:
    """Write a batch of beats; returns how many events were accepted. Refusals go to `drops`.
    `reference` may carry what earlier batches read (see Reference); without it, all is read."""
    if not beats:
        return 0
    known = reference or Reference(ttl=0)
    refused = DropCounter()  # counted into `drops` once the batch is written
    try:
        accepted = _apply_beats(session, beats, known, refused, return_days)
    except BaseException:
        known.forget_streams()  # rolled back: what the batch changed is not in the database
        raise
    for reason, count in refused.take().items():
        drops.add(reason, count)
    drops.accepted += accepted
    return accepted


_STREAM_ORDER = operator.attrgetter("stream", "seq")


class StaleStreams(Exception):
    """Another process's writer moved on one of this batch's streams since this writer read it
    (the batch is rolled back and written again from the database)."""


def _apply_beats(
    session: Session, beats: Sequence[Beat], known: Reference, drops: DropCounter, return_days: int
) -> int:
    people, rooms_by_id, sellers, items, sections = known.lookup(session, beats)
    keys = {b.stream for b in beats}
    cached = known.streams
    streams = {key: cached[key] for key in keys if key in cached}
    streams.update(_streams(session, keys - streams.keys()))
    new_streams: dict[str, dict[str, Any]] = {}
    for beat in beats:
        person = people.get(beat.invite)
        if beat.stream in streams or beat.stream in new_streams or person is None:
            continue
        new_streams[beat.stream] = {
            "key": beat.stream,
            "org_id": person.org_id,
            "invite_id": person.id,
            "issued_at": _aware(beat.issued_at),
            "last_seq": 0,
            "inputs": 0,
        }
    if new_streams:
        _upsert(session, TrackStream, list(new_streams.values()), keys=("key",))
        streams.update(_streams(session, set(new_streams)))
    writer = _Writer(session, return_days)
    writer.load_latest(p.id for p in people.values())
    accepted = 0
    for beat in sorted(beats, key=_STREAM_ORDER):
        events = beat.events
        person = people.get(beat.invite)
        stream = streams.get(beat.stream)
        if (
            person is None
            or stream is None
            or person.room_id != rooms_by_id.get(beat.room)
            or stream.invite_id != person.id
        ):
            drops.add("unknown", len(events) or 1)
            continue
        room_id = person.room_id
        refusal = _refusal(person, sellers)
        if refusal is not None:
            drops.add(refusal, len(events) or 1)
            continue
        if beat.seq <= stream.last_seq:
            drops.add("duplicate", len(events) or 1)
            continue
        at = _aware(beat.received_at)
        last = stream.last_beat_at
        elapsed = (at - (last or stream.issued_at)).total_seconds()
        if last is not None and elapsed < MIN_BEAT_INTERVAL and not beat.final:
            drops.add("too_fast", len(events) or 1)
            continue
        stream.last_seq = beat.seq
        if last is None or at > last:
            stream.last_beat_at = last = at
        stream.beat_at = writer.stamp(last)  # usually `at`: its events reuse it
        stream.inputs += beat.inputs
        stream.changed = True
        if not events:
            continue
        visit = writer.visit_for(
            person, at, device=beat.device, country=beat.country, current=stream.visit_id
        )
        stream.visit_id = visit.id
        allowed = max(0.0, elapsed) + SLACK_SECONDS
        claimed = 0
        watching = False
        for event in events:
            if not isinstance(event, SectionOpen):
                claimed += event.seconds
                watching = watching or isinstance(event, VideoWatch)
        scale = min(1.0, allowed / claimed) if claimed else 1.0
        if stream.inputs == 0 and not watching:
            scale = 0.0  # active time without a single interaction ever: not a person reading
        for event in events:
            if isinstance(event, SectionOpen):
                if (room_id, event.section) not in sections:
                    drops.add("foreign_item")
                    continue
                writer.add_event(person, visit, at, "section", ref=event.section)
                accepted += 1
                continue
            seconds = int(math.floor(event.seconds * scale))
            if isinstance(event, RoomTime):
                writer.add_event(person, visit, at, "room", seconds=seconds)
                accepted += 1
                continue
            info = items.get((room_id, event.item))
            if info is None:
                drops.add("foreign_item")
                continue
            if isinstance(event, ItemTime):
                page = event.page
                if page is not None and (
                    info.file_kind != "pdf" or info.pages is None or page > info.pages
                ):
                    drops.add("bad_page")
                    continue
                writer.add_event(person, visit, at, "view", item=info, seconds=seconds, page=page)
            else:
                # A range can't be longer than the real time allows (up to 2x playback speed).
                stop = min(event.stop, event.start + int(2 * allowed) + 1)
                writer.add_event(
                    person,
                    visit,
                    at,
                    "video",
                    item=info,
                    seconds=seconds,
                    start=event.start,
                    stop=stop,
                )
                if event.duration:
                    key = (person.id, info.id)
                    writer.durations[key] = max(writer.durations.get(key, 0), event.duration)
            accepted += 1
    changed = sorted((s for s in streams.values() if s.changed), key=lambda s: s.id)
    if changed:
        # In id order, like every writer: two taking the same rows in different orders would
        # each wait for the other.
        rows = [(s.last_seq, s.beat_at, s.visit_id, s.inputs, s.id, s.stored_seq) for s in changed]
        if _dialect(session) == "postgresql":
            # One statement over arrays (one per stream cost the server more than the rest of
            # the batch). PostgreSQL joins them in id order (a nested loop over the sorted
            # arrays, or a merge join on the primary key for big batches), so rows are still
            # locked in id order; were a plan to differ, a deadlock is detected and the batch
            # written again.
            result = session.connection().exec_driver_sql(
                "UPDATE track_stream AS s SET last_seq = v.seq, last_beat_at = v.at, "
                "visit_id = v.visit, inputs = v.inputs FROM unnest(%s::bigint[], "
                "%s::timestamptz[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) "
                "AS v(seq, at, visit, inputs, id, stored) "
                "WHERE s.id = v.id AND s.last_seq = v.stored",
                tuple(list(column) for column in zip(*rows, strict=True)),
            )
        else:
            result = session.connection().exec_driver_sql(
                "UPDATE track_stream SET last_seq = ?, last_beat_at = ?, visit_id = ?, "
                "inputs = ? WHERE id = ? AND last_seq = ?",
                rows,
            )
        if result.rowcount != len(changed):
            raise StaleStreams(f"{len(changed) - result.rowcount} streams moved on elsewhere")
    writer.write()
    known.remember_streams(streams.values())
    return accepted


def record(
    session: Session, *, invite: Invite | None, event: ServerEvent, return_days: int = 7
) -> bool:
    """Record a server-side event (content opened, downloaded, a link clicked, task or chat
    activity) inside the caller's transaction. Returns False when it must not be recorded (a
    seller's preview, a paused or unnotified viewer, a member of the seller's team)."""
    if invite is None:
        return False
    person = _Person.of(invite)
    if _refusal(person, _seller_emails(session, [invite.org_id])) is not None:
        return False
    at = utcnow()
    writer = _Writer(session, return_days)
    writer.load_latest([person.id])
    visit = writer.visit_for(person, at, device="desktop", country="", current=None)
    if isinstance(event, ItemOpened | Downloaded | LinkClicked):
        info = next(iter(_items(session, [invite.room_id], only=event.item_id).values()), None)
        if info is None or info.room_id != invite.room_id:
            return False
        kind = {ItemOpened: "open", Downloaded: "download", LinkClicked: "click"}[type(event)]
        writer.add_event(person, visit, at, kind, item=info)
    elif isinstance(event, TaskActivity):
        writer.add_event(person, visit, at, "task", ref=event.task)
    else:
        writer.add_event(person, visit, at, "chat")
    writer.write()
    return True


# ---------------------------------------------------------------- the ingest buffer


class Ingest:
    """Beats accepted by the web layer wait here and are written in batches (every `interval`
    seconds, or sooner when `batch` beats are waiting) by one background thread per process.
    `close()` (app shutdown, SIGTERM) writes whatever is left, so nothing acknowledged is lost.

    A failed write keeps the beats and retries. Memory stays bounded without dropping what was
    acknowledged: once `limit` beats wait (the database down, or the writer far behind), `full`
    is true and the beacon answers 503, so the browser keeps the beat and sends it again. Past
    `limit`, `add` itself drops the oldest and counts them ("overflow"): a last resort for
    callers that add without asking `full`."""

    def __init__(
        self,
        db: Database,
        *,
        interval: float = 0.1,
        batch: int = 500,
        limit: int = 200_000,
        return_days: int = 7,
        on_flush: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.interval = interval
        self.batch = batch
        self.limit = limit
        self.return_days = return_days
        self.drops = DropCounter()
        self.on_flush = on_flush
        self.reference = Reference(ttl=1.0)
        # Beats waiting (a ProcessIngest keeps their wire tuples: see trackwriter.to_wire).
        self._beats: list[Any] = []
        self._lock = threading.Condition()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.flushed = 0

    @property
    def depth(self) -> int:
        """Beats accepted and not yet written."""
        return len(self._beats)

    @property
    def full(self) -> bool:
        """True once `limit` beats wait: take no more until the writer catches up."""
        return self.depth >= self.limit

    @property
    def accepted_total(self) -> int:
        """Events written by this process's writer since it started (for /metrics)."""
        return self.drops.accepted

    def refused_total(self) -> dict[str, int]:
        """Events refused since start, by reason (for /metrics)."""
        return dict(self.drops.total)

    def add(self, beat: Beat) -> None:
        with self._lock:
            self._beats.append(beat)
            self._added()

    def extend(self, beats: Sequence[Beat]) -> None:
        with self._lock:
            self._beats.extend(beats)
            self._added()

    def _added(self) -> None:
        """With the lock held: drop the oldest past `limit`, wake the writer past `batch`."""
        if len(self._beats) > self.limit:
            overflow = self._beats[: len(self._beats) - self.limit]
            del self._beats[: len(overflow)]
            # b[BEAT_EVENTS]: a Beat's events, and a wire tuple's in the same place
            self.drops.add("overflow", sum(max(1, len(b[BEAT_EVENTS])) for b in overflow))
        if len(self._beats) >= self.batch:
            self._lock.notify()

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="tracking-ingest", daemon=True)
            self._thread.start()

    def _wait(self) -> bool:
        """Until a batch is waiting or `interval` has passed; True once closing."""
        with self._lock:
            if not self._stopping and len(self._beats) < self.batch:
                self._lock.wait(self.interval)
            return self._stopping

    def _run(self) -> None:
        while True:
            stopping = self._wait()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - keep the thread alive; beats were put back
                log.exception("tracking flush failed; retrying")
                time.sleep(min(1.0, self.interval * 10))
            if stopping:
                return

    def flush(self) -> int:
        """Write everything waiting now (also called directly by tests and at shutdown)."""
        with self._flush_lock:
            with self._lock:
                beats, self._beats = self._beats, []
            pending = self.drops.take()
            if not beats and not pending:
                return 0
            try:
                try:
                    accepted = self._write(beats, pending)
                except StaleStreams:
                    # Another process wrote some of these pages' beats meanwhile: again, with
                    # every stream read from the database (the cache was just dropped).
                    accepted = self._write(beats, pending)
            except Exception:
                self.reference.forget_streams()
                with self._lock:
                    self._beats[:0] = beats
                self.drops.restore(pending)
                raise
            self.flushed += accepted
            if self.on_flush is not None:
                self.on_flush(accepted)
            return accepted

    def _write(self, beats: list[Beat], pending: dict[str, int]) -> int:
        """One transaction: the beats, then every refusal counted so far (added to `pending`,
        which the caller gives back to `drops` if the transaction fails)."""
        with self.db.session(write=True) as session:
            accepted = apply_beats(
                session,
                beats,
                drops=self.drops,
                return_days=self.return_days,
                reference=self.reference,
            )
            late = self.drops.take()
            for reason, count in late.items():
                pending[reason] = pending.get(reason, 0) + count
            _write_drops(session, pending, utcnow().date())
        return accepted

    def close(self) -> None:
        thread = self._thread
        if thread is not None:
            with self._lock:
                self._stopping = True
                self._lock.notify()
            thread.join(timeout=10)
            self._thread = None
        self.flush()


# ---------------------------------------------------------------- consent, retention, erasure


def show_notice(invite: Invite) -> bool:
    """Mark that the tracking notice was shown to this viewer (tracking starts from here).
    Returns True the first time."""
    if invite.tracking_notice_at is None:
        invite.tracking_notice_at = utcnow()
        return True
    return False


def acknowledge_notice(invite: Invite) -> None:
    show_notice(invite)
    invite.tracking_ack_at = invite.tracking_ack_at or utcnow()


def set_paused(invite: Invite, paused: bool) -> None:
    invite.tracking_paused_at = utcnow() if paused else None
    acknowledge_notice(invite)  # choosing is an answer to the notice


PURGE_CHUNK = 10_000  # raw events deleted per transaction by the retention job


class PurgeIncomplete(Exception):
    """Some rooms could not be purged (the first failure is the cause); `deleted` events of the
    others, and of chunks before the failure, were deleted and committed all the same."""

    def __init__(self, deleted: int, failed: list[int]) -> None:
        super().__init__(f"{len(failed)} room(s) could not be purged; {deleted} events deleted")
        self.deleted, self.failed = deleted, failed


def purge_expired_in_chunks(
    db: Database, *, now: datetime | None = None, chunk: int = PURGE_CHUNK
) -> int:
    """Delete raw events (and visits, streams) older than each room's retention; the per-viewer
    rollups and the anonymous hourly/daily aggregates stay. Returns the events deleted.

    In short transactions of at most `chunk` events each: a first purge of millions of events
    (a big room's retention shortened) never holds the database, and on SQLite its only write
    lock, for longer than one chunk takes (the ingest writer waits at most that). A room that
    fails does not stop the others: PurgeIncomplete is raised at the end."""
    now = now or utcnow()
    with db.session(write=False) as session:
        cutoffs = retention_cutoffs(session, now=now)
    deleted = 0
    failed: list[int] = []
    first: Exception | None = None
    for room_id, cutoff in cutoffs:
        try:
            while True:
                with db.session() as session:
                    done = purge_room(session, room_id=room_id, cutoff=cutoff, limit=chunk)
                deleted += done
                if done < chunk:
                    break
        except Exception as exc:  # noqa: BLE001 - the other rooms still go; raised below
            failed.append(room_id)
            first = first or exc
    with db.session() as session:
        purge_unused_streams(session, now=now)
    if failed:
        raise PurgeIncomplete(deleted, failed) from first
    return deleted


def retention_cutoffs(session: Session, *, now: datetime) -> list[tuple[int, datetime]]:
    """Each room and the moment before which its raw events go."""
    return [
        (room_id, now - timedelta(days=max(1, days)))
        for room_id, days in session.exec(
            select(Room.id, Room.retention_days).order_by(col(Room.id))
        )
        if room_id is not None
    ]


def purge_room(session: Session, *, room_id: int, cutoff: datetime, limit: int) -> int:
    """Delete at most `limit` of one room's raw events from before `cutoff`; once none of those
    is left, its visits and their streams from before `cutoff` too. Returns the events deleted."""
    some = (
        sa_select(col(TrackEvent.id))
        .where(col(TrackEvent.room_id) == room_id, col(TrackEvent.at) < cutoff)
        .limit(limit)
    )
    result = session.execute(sa_delete(TrackEvent).where(col(TrackEvent.id).in_(some)))
    deleted = int(getattr(result, "rowcount", 0) or 0)
    if deleted >= limit:
        return deleted  # more to go: the visits wait for the last chunk
    # A visit's events are never newer than its last activity, so they are gone by now.
    old = (col(Visit.room_id) == room_id, col(Visit.last_seen_at) < cutoff)
    session.execute(
        sa_delete(TrackStream).where(col(TrackStream.visit_id).in_(select(Visit.id).where(*old)))
    )
    session.execute(sa_delete(Visit).where(*old))
    return deleted


def purge_unused_streams(session: Session, *, now: datetime) -> None:
    """Streams that never got a visit (pages opened, nothing recorded) go after a day."""
    session.execute(
        sa_delete(TrackStream).where(
            col(TrackStream.visit_id).is_(None),
            col(TrackStream.issued_at) < now - timedelta(days=1),
        )
    )


def erase_viewer(session: Session, *, invite: Invite) -> int:
    """Erase what tracking holds about one person (a GDPR/APPI request). The anonymous hourly
    and daily aggregates keep their numbers; nothing in them points to the person."""
    invite_id = pk(invite)
    result = session.execute(sa_delete(TrackEvent).where(col(TrackEvent.invite_id) == invite_id))
    erased = int(getattr(result, "rowcount", 0) or 0)
    for model in (ViewerItemStat, ViewerStat, Signal, TrackStream):
        session.execute(sa_delete(model).where(getattr(model, "invite_id") == invite_id))  # noqa: B009
    session.execute(sa_delete(Visit).where(col(Visit.invite_id) == invite_id))
    return erased


def viewer_events(session: Session, *, invite: Invite) -> list[TrackEvent]:
    return list(
        session.exec(
            select(TrackEvent)
            .where(TrackEvent.invite_id == invite.id)
            .order_by(col(TrackEvent.at), col(TrackEvent.id))
        )
    )


def viewer_visits(session: Session, *, invite: Invite) -> list[Visit]:
    return list(
        session.exec(
            select(Visit).where(Visit.invite_id == invite.id).order_by(col(Visit.started_at))
        )
    )
