"""What each buyer should read next ("Suggested for you"), and what the seller should do next.

One score per item, the sum of a few signals, each of which brings its own reason in plain words:

    stage fit      the room's deal stage against the item's stage tags, and the viewer's progress
    role fit       the viewer's committee role against the item's role tags
    own interest   what this viewer spent time on (same section or tags), halving every
                   `suggest_half_life_days`
    committee      what colleagues in the same buyer company spent time on (named: they share a room)
    co-engagement  in the org's other rooms, people who read X went on to read Y (counts only)
    seller intent  items the seller pinned for this person or their role

Hard rules come before the score: consumed items (80 % read, watched, or downloaded) are left out
unless a newer version came since; an item shown 3 times without being opened rests 7 days; a
dismissed item stays gone; the panel never shows the same set twice in a row when there are
others; with fewer than 5 eligible items, the seller's own order is shown and labelled so.
Switches: suggestions off -> the seller's order; tracking paused -> only stage, role and the
seller's picks (nothing about the person's behaviour), and the panel says so.

Everything is read from the tracking rollups at request time (no batch), so a page read a few
seconds ago already moves the next suggestion. A stable share of viewers (the holdout) gets the
seller's order, and what was shown, opened and read afterwards is recorded per item, so `lift()`
reports the measured effect with its counts.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    or_,
    type_coerce,
    union_all,
)
from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from .accounts import User
from .analytics import company
from .content import (
    CURRENT_VERSION,
    TAG_STAGES,
    Document,
    DocumentVersion,
    ItemSeen,
    RoomContent,
    RoomItem,
    Section,
)
from .db import pk, utcnow
from .errors import InvalidInput, NotFound
from .i18n import N_, _, label, ngettext
from .ids import has_prefix, new_id
from .invites import BUYER_ROLES, Invite
from .rooms import Room
from .tasks import Task
from .tracking import PRICING_WORDS, ViewerItemStat

PANEL_SIZE = 3
MIN_ITEMS = 5  # fewer eligible items than this: the seller's order, labelled (P9)
CONSUMED = 0.8  # completion at which an item counts as read
CAP_IMPRESSIONS = 3  # shown this often without an open ...
CAP_REST = timedelta(days=7)  # ... rests this long (P5)
IMPRESSION_GAP = timedelta(minutes=30)  # shown again within this: the same impression
MAX_ACTIONS = 5
NEW_PEOPLE_DAYS = 7
INTEREST_SOURCES = 10  # own interest: the items with the most (decayed) reading time
CO_SOURCES = 5  # co-engagement starts from the strongest few of those
CO_CACHE_SECONDS = 60.0  # other deals' aggregates: a minute old is fresh enough
CO_MIN_PEOPLE = 2  # fewer people than this in other deals: one person's path could identify them
MEANINGFUL_SECONDS = 15  # less time than this on an item is a glance, not a read
MODES = ("personalized", "seller_order", "paused")
# Reasons whose words are built only if shown (functools.partial(_, ...)): marked with N_ so
# the message extractor sees them.
RELATED = N_("Related to “%(title)s”, which you read recently.")
SIMILAR_DEALS = N_("In similar deals, %(count)s people who read “%(title)s” went on to read this.")

# Signal weights: what one unit of each signal adds to the score.
W_STAGE_NOW = 1.0
W_STAGE_NEXT = 0.8
W_ROLE = 1.0
W_ROLE_OTHER = -0.3
W_INTEREST = 0.6
W_COMMITTEE = 0.7
W_CO = 0.4
W_PIN_PERSON = 2.0
W_PIN_ROLE = 1.5
W_UPDATED = 0.5
W_ORDER = 0.05  # a nudge so equal scores keep the seller's order


# ---------------------------------------------------------------- tables


class SuggestionPin(SQLModel, table=True):
    """The seller wants this item in front of one person, or everyone with a role."""

    __tablename__ = "suggestion_pin"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("pin"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    room_item_id: int  # no foreign key: a removed item's pins are simply ignored
    invite_id: int | None = Field(default=None, foreign_key="invite.id")
    role: str = Field(default="", max_length=30)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class SuggestionViewer(SQLModel, table=True):
    """One viewer's suggestion switches and what the panel showed last."""

    __tablename__ = "suggestion_viewer"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int = Field(foreign_key="invite.id", unique=True)
    off: bool = False
    holdout: bool = False  # assigned at the first impression, from a hash of the invite id
    last_set: str = Field(default="", max_length=400)  # item public ids, comma separated
    held_back: str = Field(default="", max_length=64)  # rotated out of the last fresh display
    updated_at: datetime = Field(default_factory=utcnow)


class SuggestionItem(SQLModel, table=True):
    """One viewer and one item: impressions, the frequency cap, a dismissal, and what happened
    after the first impression (for the measured lift)."""

    __tablename__ = "suggestion_item"
    __table_args__ = (UniqueConstraint("invite_id", "room_item_id", name="uq_suggestion_item"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int = Field(foreign_key="invite.id")
    room_item_id: int
    grp: str = Field(default="", max_length=12)  # suggested | holdout | other (first impression)
    impressions: int = 0
    since_open: int = 0  # impressions since the item was last opened
    first_shown_at: datetime | None = None
    last_shown_at: datetime | None = None
    rest_until: datetime | None = None
    dismissed_at: datetime | None = None
    base_activity: int = 0  # opens + clicks + downloads at the first impression
    base_seconds: int = 0  # active seconds at the first impression
    mark_activity: int = 0  # ... at the latest impression
    mark_seconds: int = 0


class NextActionDismissal(SQLModel, table=True):
    __tablename__ = "next_action_dismissal"
    __table_args__ = (UniqueConstraint("room_id", "key", name="uq_next_action_dismissal"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id")
    key: str = Field(max_length=40)
    dismissed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    dismissed_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- what the ranker reads


@dataclass(slots=True)
class _Item:
    id: int
    public_id: str
    title: str
    order: int  # the seller's order
    section_id: int | None
    stages: tuple[str, ...]
    roles: tuple[str, ...]
    document_id: int
    version: int
    kind: str  # pdf | video | image | office | text | link | embed
    pages: int | None
    tags: frozenset[str]  # stages and "role:"-prefixed roles, for similarity


@dataclass(slots=True)
class _Stat:
    active: int = 0
    activity: int = 0  # opens + clicks + downloads
    downloads: int = 0
    completion: float | None = None
    last_at: datetime | None = None


@dataclass
class Suggestion:
    content_id: str
    title: str
    score: float
    lazy: list[Reason]  # words built only for what is shown: a room has hundreds of items

    @property
    def reasons(self) -> list[str]:
        self.lazy = [r if isinstance(r, str) else r() for r in self.lazy]
        return self.lazy  # type: ignore[return-value]  # all str now


def _words(found: Suggestions) -> Suggestions:
    """Build the shown items' reasons now, in the caller's language (the locale is per request)."""
    for s in found.items:
        s.reasons  # noqa: B018 - resolves and keeps the words
    return found


@dataclass
class Suggestions:
    mode: str  # personalized | seller_order | paused
    items: list[Suggestion]
    note: str  # one line for the panel: why it looks the way it does (P6, P9)
    holdout: bool = False
    off: bool = False
    rest: list[Suggestion] = field(default_factory=list)  # the next ones, best first

    def api(self) -> dict[str, object]:
        return {
            "suggestions": [
                {
                    "content_id": s.content_id,
                    "title": s.title,
                    "score": round(s.score, 3),
                    "reasons": s.reasons,
                }
                for s in self.items
            ],
            "mode": self.mode,
        }


Reason = str | Callable[[], str]


@dataclass(frozen=True, slots=True)
class _Person:
    id: int
    display_name: str
    role: str
    email: str


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


@functools.lru_cache(maxsize=4096)
def _tagging(stages: str, roles: str) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """An item's stage and role tags, and both as one set (a room repeats a few combinations,
    so each is parsed once per process, not once per item per request)."""
    stage_tags, role_tags = _split(stages), _split(roles)
    return stage_tags, role_tags, frozenset(stage_tags) | {"role:" + r for r in role_tags}


# Built once with bound parameters: composing a select with joins costs more than running it.
_ITEMS = (
    sa_select(
        col(RoomItem.id),
        col(RoomItem.public_id),
        col(Document.title),
        col(RoomItem.section_id),
        col(RoomItem.stages),
        col(RoomItem.roles),
        col(Document.id),
        col(Document.current_version),
        col(Document.kind),
        col(Document.file_kind),
        col(Document.link_kind),
        col(DocumentVersion.pages),
    )
    .select_from(RoomItem)
    .join(Document, col(Document.id) == col(RoomItem.document_id))
    .join(DocumentVersion, CURRENT_VERSION, isouter=True)
    .join(Section, col(Section.id) == col(RoomItem.section_id), isouter=True)
    .where(
        col(RoomItem.room_id) == bindparam("room_id"),
        col(Document.org_id) == bindparam("org_id"),
    )
    # The room page lists unsectioned items first, then the sections in order.
    .order_by(func.coalesce(col(Section.position), -1), col(RoomItem.position), col(RoomItem.id))
)


def _shown_kind(kind: str, file_kind: str, link_kind: str) -> str:
    if kind == "link":
        return "embed" if link_kind in ("youtube", "vimeo", "loom") else "link"
    return file_kind or "file"


def _rows(session: Session, query: Any, params: dict[str, Any] | None = None) -> Sequence[Any]:
    """Plain rows through the connection, without the ORM's per-row work (these reads run on
    every panel refresh). What the ORM would do first is done here: pending changes are flushed,
    so a dismissal or a switch made earlier in the request is seen."""
    return session.connection().execute(query, params or {}).all()


def _items(session: Session, room: Room) -> list[_Item]:
    if session.autoflush:
        session.flush()
    items = []
    rows = _rows(session, _ITEMS, {"room_id": room.id, "org_id": room.org_id})
    for n, row in enumerate(rows):
        iid, pid, title, section, stages, roles, doc, version, kind, fkind, lkind, pages = row
        stage_tags, role_tags, tags = _tagging(stages, roles)
        items.append(
            _Item(
                iid,
                pid,
                title,
                n,
                section,
                stage_tags,
                role_tags,
                doc,
                version,
                _shown_kind(kind, fkind, lkind),
                pages,
                tags,
            )
        )
    return items


def _items_from(listing: RoomContent) -> list[_Item]:
    """The same items from the room page's own listing (no query)."""
    items = []
    for n, view in enumerate(listing.items):
        record, document = view.item, view.document
        stage_tags, role_tags, tags = _tagging(record.stages, record.roles)
        items.append(
            _Item(
                record.id,
                record.public_id,
                document.title,
                n,
                record.section_id,
                stage_tags,
                role_tags,
                document.id,
                document.current_version,
                _shown_kind(document.kind, document.file_kind, document.link_kind),
                view.version.pages if view.version is not None else None,
                tags,
            )
        )
    return items


def _completion(item: _Item, pages_done: int, video_seconds: int, duration: int) -> float | None:
    if item.kind == "pdf" and item.pages:
        return min(1.0, pages_done / item.pages)
    if item.kind in ("video", "embed") and duration:
        return min(1.0, video_seconds / duration)
    return None


# Read times come back as the driver has them (aware on PostgreSQL, naive UTC on SQLite) and are
# made aware here: hundreds of rows through the model's UTC column type cost more than the query.
_RAW_TIME = DateTime(timezone=True)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # SQLite stores UTC without an offset
    return value


def consumed(item: _Item, stat: _Stat | None) -> bool:
    """Read to the end (80 %), watched, downloaded; an image seen or a web link followed has
    no "amount" to read, so opening it is having it."""
    if stat is None:
        return False
    if stat.downloads:
        return True
    if stat.completion is not None:
        return stat.completion >= CONSUMED
    if item.kind in ("image", "link"):
        return stat.activity > 0
    return False


def holdout(invite: Invite, percent: int) -> bool:
    """Stable per viewer: the same person is in (or out of) the holdout on every request."""
    digest = hashlib.sha256(("suggest-holdout:" + invite.public_id).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def _decay(at: datetime | None, now: datetime, half_life_days: int) -> float:
    if at is None:
        return 0.0
    age = max(0.0, (now - at).total_seconds()) / 86400
    return 0.5 ** (age / max(1, half_life_days))


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


def _stage_now(room: Room) -> str:
    return room.stage if room.stage in TAG_STAGES else "decision"


def _viewer_state(session: Session, invite: Invite) -> SuggestionViewer | None:
    return session.exec(
        select(SuggestionViewer).where(SuggestionViewer.invite_id == invite.id)
    ).first()


def _pins(session: Session, room: Room) -> list[SuggestionPin]:
    return list(
        session.exec(
            select(SuggestionPin)
            .where(SuggestionPin.room_id == room.id)
            .order_by(col(SuggestionPin.id))
        )
    )


@dataclass(slots=True)
class _State:
    """One viewer and one item's suggestion row, as plain values."""

    room_item_id: int
    grp: str = ""
    impressions: int = 0
    since_open: int = 0
    first_shown_at: datetime | None = None
    last_shown_at: datetime | None = None
    rest_until: datetime | None = None
    dismissed_at: datetime | None = None
    base_activity: int = 0
    base_seconds: int = 0
    mark_activity: int = 0
    mark_seconds: int = 0


_STATE_COLUMNS = list(_State.__slots__)  # type: ignore[attr-defined]


@dataclass(slots=True)
class _ViewerRow:
    off: bool = False
    holdout: bool = False
    last_set: str = ""
    held_back: str = ""
    updated_at: datetime | None = None


@dataclass
class _Loaded:
    """What one panel request reads about the viewer, once, for the ranking and the recording."""

    viewer: _ViewerRow | None
    states: dict[int, _State]
    pins: list[tuple[int, int | None, str]]  # item, for this person (or None: a role), role
    reading: list[tuple[Any, ...]]  # this viewer's rollups: item, seconds, ... (see _ABOUT)
    people: list[tuple[int, str, str, str]] | None  # the room's people: id, name, email, role
    # Filled by the ranking, for the recording: the items, and the viewer's rollups.
    by_id: dict[int, _Item] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # public id -> id
    own: dict[int, _Stat] | None = None


# Everything small a panel request needs about the viewer and the room's people, read in one
# round trip (a request runs a handful of statements, and on PostgreSQL each costs more in
# round trip than in work). One UNION ALL; each part is tagged by its first column and fills the
# slots it needs (seven numbers, four times, three strings), the rest NULL:
#   v  the viewer's switches and what the panel showed last (suggestion_viewer: one row or none)
#   s  their suggestion row per item (suggestion_item)
#   p  the room's pins (suggestion_pin)
#   o  their rollups per item, with the version they last opened (viewer_item_stat, item_seen)
#   i  the room's people, unless the page has read them already (invite)
_NUMBERS, _TIMES, _STRINGS = 7, 4, 3


def _part(
    kind: str, item: Any, numbers: Sequence[Any], times: Sequence[Any], strings: Sequence[Any]
) -> Any:
    def slots(values: Sequence[Any], size: int, kind_: Any) -> list[Any]:
        filled = [type_coerce(v, kind_) for v in values]
        return filled + [cast(null(), kind_) for _n in range(size - len(values))]

    return sa_select(
        literal_column(f"'{kind}'", String),
        type_coerce(item, Integer) if item is not None else cast(null(), Integer),
        *slots(numbers, _NUMBERS, Integer),
        *slots(times, _TIMES, _RAW_TIME),
        *slots(strings, _STRINGS, String),
    )


_ME: Any = bindparam("invite_id")
_ABOUT_PARTS = (
    _part(
        "v",
        None,
        [cast(col(SuggestionViewer.off), Integer), cast(col(SuggestionViewer.holdout), Integer)],
        [col(SuggestionViewer.updated_at)],
        [col(SuggestionViewer.last_set), col(SuggestionViewer.held_back)],
    ).where(col(SuggestionViewer.invite_id) == _ME),
    _part(
        "s",
        col(SuggestionItem.room_item_id),
        [
            col(SuggestionItem.impressions),
            col(SuggestionItem.since_open),
            col(SuggestionItem.base_activity),
            col(SuggestionItem.base_seconds),
            col(SuggestionItem.mark_activity),
            col(SuggestionItem.mark_seconds),
        ],
        [
            col(SuggestionItem.first_shown_at),
            col(SuggestionItem.last_shown_at),
            col(SuggestionItem.rest_until),
            col(SuggestionItem.dismissed_at),
        ],
        [col(SuggestionItem.grp)],
    ).where(col(SuggestionItem.invite_id) == _ME),
    _part(
        "p",
        col(SuggestionPin.room_item_id),
        [col(SuggestionPin.invite_id), col(SuggestionPin.id)],
        [],
        [col(SuggestionPin.role)],
    ).where(col(SuggestionPin.room_id) == bindparam("room_id")),
    _part(
        "o",
        col(ViewerItemStat.room_item_id),
        [
            col(ViewerItemStat.active_seconds),
            col(ViewerItemStat.opens) + col(ViewerItemStat.clicks) + col(ViewerItemStat.downloads),
            col(ViewerItemStat.downloads),
            col(ViewerItemStat.pages_done),
            col(ViewerItemStat.video_seconds),
            col(ViewerItemStat.duration),
            col(ItemSeen.version_seen),
        ],
        [col(ViewerItemStat.last_at)],
        [],
    )
    .select_from(ViewerItemStat)
    .join(
        ItemSeen,
        (col(ItemSeen.invite_id) == col(ViewerItemStat.invite_id))
        & (col(ItemSeen.room_item_id) == col(ViewerItemStat.room_item_id)),
        isouter=True,
    )
    .where(
        col(ViewerItemStat.room_id) == bindparam("room_id"),
        col(ViewerItemStat.invite_id) == _ME,
    ),
)
_PEOPLE_PART = _part(
    "i", col(Invite.id), [], [], [col(Invite.name), col(Invite.email), col(Invite.role)]
).where(col(Invite.room_id) == bindparam("room_id"), col(Invite.revoked_at).is_(None))
_ABOUT = union_all(*_ABOUT_PARTS, _PEOPLE_PART)
_ABOUT_WITHOUT_PEOPLE = union_all(*_ABOUT_PARTS)


def _load(session: Session, room: Room, invite: Invite, people: Sequence[Invite] | None) -> _Loaded:
    if session.autoflush:
        session.flush()
    query = _ABOUT if people is None else _ABOUT_WITHOUT_PEOPLE
    loaded = _Loaded(None, {}, [], [], [] if people is None else None)
    pins: list[tuple[int, int, int | None, str]] = []
    for kind, item, n1, n2, n3, n4, n5, n6, n7, t1, t2, t3, t4, s1, s2, s3 in _rows(
        session, query, {"invite_id": invite.id, "room_id": room.id}
    ):
        if kind == "o":
            loaded.reading.append((item, n1, n2, n3, n4, n5, n6, n7, _aware(t1)))
        elif kind == "s":
            loaded.states[item] = _State(
                item, s1, n1, n2, _aware(t1), _aware(t2), _aware(t3), _aware(t4), n3, n4, n5, n6
            )
        elif kind == "i":
            assert loaded.people is not None
            loaded.people.append((item, s1, s2, s3))
        elif kind == "p":
            pins.append((n2, item, n1, s1))
        else:
            loaded.viewer = _ViewerRow(bool(n1), bool(n2), s1, s2, _aware(t1))
    loaded.pins = [(item, person, role) for _id, item, person, role in sorted(pins)]
    return loaded


def _own(
    loaded: _Loaded, items: dict[int, _Item]
) -> tuple[dict[int, _Stat], dict[int, int | None]]:
    """What the rollups hold about this viewer, per item, and the version they last opened."""
    own: dict[int, _Stat] = {}
    seen: dict[int, int | None] = {}
    for item_id, active, activity, downloads, done, vsec, dur, version, last in loaded.reading:
        item = items.get(item_id)
        if item is None:
            continue
        own[item_id] = _Stat(active, activity, downloads, _completion(item, done, vsec, dur), last)
        seen[item_id] = version
    return own, seen


@dataclass
class _CoReads:
    """Other deals' reading, per source document of this room: document -> how many people who
    read the source went on to read it (pairs read by fewer than CO_MIN_PEOPLE are left out)."""

    at: float
    by_source: dict[int, dict[int, int]] = field(default_factory=dict)


_co_cache: dict[tuple[str, frozenset[int]], _CoReads] = {}
_co_lock = threading.Lock()


def _co_engagement(
    session: Session, room: Room, mine: Sequence[_Item], items: Sequence[_Item]
) -> dict[int, tuple[int, int]]:
    """document id in this room -> (people, source document id): in the org's other rooms, how
    many people who spent time on one of `mine` later spent time on it. Counts only.

    Other deals' reading does not need to be fresh to the second: each source document's counts
    are read once a minute per room and process, and shared by every viewer of the room; which
    sources apply is this viewer's own reading (`mine`), taken on every call, so what they just
    read moves the result at once."""
    if not mine:
        return {}
    mine_docs = {i.document_id for i in mine}
    all_docs = frozenset(i.document_id for i in items)
    if not all_docs - mine_docs:
        return {}
    key = (room.public_id, all_docs)
    clock = time.monotonic()
    with _co_lock:
        reads = _co_cache.get(key)
        if reads is None or clock - reads.at >= CO_CACHE_SECONDS:
            if len(_co_cache) > 1024:
                _co_cache.clear()
            reads = _co_cache[key] = _CoReads(clock)
        missing = mine_docs - reads.by_source.keys()
    if missing:
        found = _co_read(session, room, missing)
        with _co_lock:
            reads.by_source.update(found)
    best: dict[int, tuple[int, int]] = {}
    for source in sorted(mine_docs):
        for target, count in reads.by_source[source].items():
            if target in mine_docs:
                continue
            if count > best.get(target, (0, 0))[0]:
                best[target] = (count, source)
    return best


# Pairs of one person's rollups in another room: the source document, then (or at the same time)
# the target, both read for more than a glance, the target a document of this room. Counted in
# the database, so only (source, target, people) rows cross the wire; the rollups' unique
# (invite, room item) index pairs a person's rows.
_CO_SOURCE = ViewerItemStat.__table__.alias("co_source")  # type: ignore[attr-defined]
_CO_TARGET = ViewerItemStat.__table__.alias("co_target")  # type: ignore[attr-defined]
_CO_SOURCE_ITEM = RoomItem.__table__.alias("co_source_item")  # type: ignore[attr-defined]
_CO_TARGET_ITEM = RoomItem.__table__.alias("co_target_item")  # type: ignore[attr-defined]
_CO_HERE = RoomItem.__table__.alias("co_here")  # type: ignore[attr-defined]
_CO_PEOPLE = func.count()
_CO_PAIRS = (
    sa_select(_CO_SOURCE_ITEM.c.document_id, _CO_TARGET_ITEM.c.document_id, _CO_PEOPLE)
    .select_from(_CO_SOURCE)
    .join(_CO_SOURCE_ITEM, _CO_SOURCE_ITEM.c.id == _CO_SOURCE.c.room_item_id)
    .join(_CO_TARGET, _CO_TARGET.c.invite_id == _CO_SOURCE.c.invite_id)
    .join(_CO_TARGET_ITEM, _CO_TARGET_ITEM.c.id == _CO_TARGET.c.room_item_id)
    .join(
        _CO_HERE,
        (_CO_HERE.c.room_id == bindparam("room_id"))
        & (_CO_HERE.c.document_id == _CO_TARGET_ITEM.c.document_id),
    )
    .where(
        _CO_SOURCE.c.org_id == bindparam("org_id"),
        _CO_SOURCE.c.room_id != bindparam("room_id"),
        _CO_SOURCE.c.active_seconds >= MEANINGFUL_SECONDS,
        _CO_SOURCE_ITEM.c.document_id.in_(bindparam("sources", expanding=True)),
        _CO_TARGET.c.active_seconds >= MEANINGFUL_SECONDS,
        _CO_TARGET_ITEM.c.document_id != _CO_SOURCE_ITEM.c.document_id,
        or_(
            _CO_TARGET.c.first_at >= _CO_SOURCE.c.first_at,
            _CO_TARGET.c.first_at.is_(None),
            _CO_SOURCE.c.first_at.is_(None),
        ),
    )
    .group_by(_CO_SOURCE_ITEM.c.document_id, _CO_TARGET_ITEM.c.document_id)
    .having(_CO_PEOPLE >= CO_MIN_PEOPLE)
)


def _co_read(session: Session, room: Room, sources: set[int]) -> dict[int, dict[int, int]]:
    """source document -> target document -> people, for each of `sources` (one query)."""
    found: dict[int, dict[int, int]] = {source: {} for source in sources}
    params = {"room_id": room.id, "org_id": room.org_id, "sources": sorted(sources)}
    for source, target, people in _rows(session, _CO_PAIRS, params):
        found[source][target] = people
    return found


@dataclass(slots=True)
class _Readers:
    """Colleagues' reading of one item, summed in the database."""

    total: int  # active seconds, all colleagues
    latest: datetime | None
    count: int  # colleagues who read it
    top_seconds: int  # the one who read it most ...
    top: _Person  # ... and who that is


# Each item's top reader comes out of the same GROUP BY as the sums: the largest of
# (seconds << 32) + invite id is the top reader's seconds and id (ties: the later invite).
_TOP_KEY = cast(col(ViewerItemStat.active_seconds), BigInteger) * 4294967296 + col(
    ViewerItemStat.invite_id
)
_COMMITTEE = (
    sa_select(
        col(ViewerItemStat.room_item_id),
        func.sum(col(ViewerItemStat.active_seconds)),
        type_coerce(func.max(col(ViewerItemStat.last_at)), _RAW_TIME),
        func.count(),
        func.max(_TOP_KEY),
    )
    .where(
        col(ViewerItemStat.room_id) == bindparam("room_id"),
        col(ViewerItemStat.invite_id).in_(bindparam("people", expanding=True)),
        col(ViewerItemStat.active_seconds) >= MEANINGFUL_SECONDS,
    )
    .group_by(col(ViewerItemStat.room_item_id))
)


def _committee(session: Session, room: Room, colleagues: list[_Person]) -> dict[int, _Readers]:
    """item id -> what colleagues read of it: one query, one row per item, summed in the
    database (not every colleague's rollup row: a room page refreshes this every 15 s)."""
    if not colleagues:
        return {}
    people = {p.id: p for p in colleagues}
    out = {}
    params = {"room_id": room.id, "people": list(people)}
    for item_id, total, latest, count, top in _rows(session, _COMMITTEE, params):
        top = int(top)
        person = people.get(top & 0xFFFFFFFF)
        if person is not None:
            out[item_id] = _Readers(int(total), _aware(latest), count, top >> 32, person)
    return out


# ---------------------------------------------------------------- the ranker


@dataclass
class _Scored:
    item: _Item
    score: float = 0.0
    reasons: list[tuple[float, Reason]] = field(default_factory=list)

    def add(self, weight: float, reason: Reason | None = None) -> None:
        self.score += weight
        if reason:
            self.reasons.append((weight, reason))


def suggest(
    session: Session,
    *,
    room: Room,
    invite: Invite,
    half_life_days: int = 7,
    holdout_percent: int = 10,
    now: datetime | None = None,
    seller_name: str = "",
    listing: RoomContent | None = None,
    people: Sequence[Invite] | None = None,
) -> Suggestions:
    """What this viewer would see now (reads only; `panel()` records an impression).

    A page that has already read the room's items (`listing`, from content.room_content) and
    its people (`people`, every invite of the room) passes them in, so they are not read again.
    """
    return _rank(
        session,
        room,
        invite,
        _load(session, room, invite, people),
        half_life_days=half_life_days,
        holdout_percent=holdout_percent,
        now=now or utcnow(),
        seller_name=seller_name,
        listing=listing,
        people=people,
    )


def _colleagues(
    room: Room, invite: Invite, loaded: _Loaded, people: Sequence[Invite] | None
) -> list[_Person]:
    """The room's other people at the viewer's company (as analytics.company sees it)."""
    rows: list[tuple[Any, ...]]
    if people is None:
        rows = [row for row in loaded.people or () if row[0] != invite.id]
    else:
        rows = [
            (p.id, p.name, p.email, p.role)
            for p in people
            if p.id != invite.id and p.revoked_at is None and p.room_id == room.id
        ]
    domains = room.domains
    mine_company = company(room, invite)
    return [
        _Person(pid, name or email, prole, email)
        for pid, name, email, prole in rows
        if (
            room.buyer_company
            if not domains or email.rpartition("@")[2].lower() in domains
            else email.rpartition("@")[2].lower()
        )
        == mine_company
    ]


def _rank(
    session: Session,
    room: Room,
    invite: Invite,
    loaded: _Loaded,
    *,
    half_life_days: int,
    holdout_percent: int,
    now: datetime,
    seller_name: str,
    listing: RoomContent | None,
    people: Sequence[Invite] | None,
) -> Suggestions:
    items = _items(session, room) if listing is None else _items_from(listing)
    by_id = {i.id: i for i in items}
    loaded.by_id, loaded.ids = by_id, {i.public_id: i.id for i in items}
    viewer, states = loaded.viewer, loaded.states
    dismissed = {i for i, s in states.items() if s.dismissed_at is not None}
    seller = seller_name or _("your contact")
    if viewer is not None and viewer.off:
        kept = [i for i in items if i.id not in dismissed]
        return _ordered(
            "seller_order",
            kept,
            seller,
            _(
                "Suggestions are off: here is the room in the order %(seller)s arranged.",
                seller=seller,
            ),
            off=True,
        )
    paused = invite.tracking_paused_at is not None
    own, seen = _own(loaded, by_id)
    loaded.own = own
    updated: set[int] = set()
    eligible: list[_Item] = []
    for item in items:
        if item.id in dismissed:
            continue
        state = states.get(item.id)
        if state is not None and state.rest_until is not None and state.rest_until > now:
            continue
        if consumed(item, own.get(item.id)):
            if (seen.get(item.id) or item.version) >= item.version:
                continue
            updated.add(item.id)  # consumed, but a newer version replaced what was read (P2)
        eligible.append(item)
    in_holdout = holdout(invite, holdout_percent)
    if len(eligible) < MIN_ITEMS:
        return _ordered(
            "seller_order",
            eligible,
            seller,
            _(
                "This room has only a few items for you, so they are shown in the order "
                "%(seller)s arranged.",
                seller=seller,
            ),
            holdout=in_holdout,
        )
    if in_holdout and not paused:
        return _ordered(
            "seller_order",
            eligible,
            seller,
            _("Shown in the order %(seller)s arranged.", seller=seller),
            holdout=True,
        )
    colleagues = [] if paused else _colleagues(room, invite, loaded, people)
    scored = [_Scored(i) for i in eligible]
    stage = _stage_now(room)
    stage_index = TAG_STAGES.index(stage)
    nxt = TAG_STAGES[stage_index + 1] if stage_index + 1 < len(TAG_STAGES) else None
    # Progress: what share of the current stage's items this viewer has consumed.
    now_items = [i for i in items if stage in i.stages]
    covered = sum(1 for i in now_items if consumed(i, own.get(i.id)))
    progressed = not paused and bool(now_items) and covered / len(now_items) >= 0.6
    role = invite.role if invite.role in BUYER_ROLES else ""
    pins = loaded.pins
    n = len(items)
    # The same words for every item: translated once, not once per item.
    stage_label = label(stage, "stage")
    fits = _("Fits where your deal is now: %(stage)s.", stage=stage_label)
    next_step = _(
        "You have covered most of the %(stage)s material; this is the next step.",
        stage=stage_label,
    )
    for_role = _("Picked for your role: %(role)s.", role=label(role, "buyer_role")) if role else ""
    for s in scored:
        item = s.item
        s.add(W_ORDER * (1 - item.order / max(1, n)))
        if stage in item.stages:
            s.add(W_STAGE_NOW, fits)
        elif nxt and nxt in item.stages and progressed:
            s.add(W_STAGE_NEXT, next_step)
        if role and role in item.roles:
            s.add(W_ROLE, for_role)
        elif role and item.roles:
            s.add(W_ROLE_OTHER)
        for pin_item, pin_invite, pin_role in pins:
            if pin_item != item.id:
                continue
            if pin_invite == invite.id:
                s.add(W_PIN_PERSON, _("%(seller)s picked this for you.", seller=seller))
            elif pin_invite is None and role and pin_role == role:
                s.add(
                    W_PIN_ROLE,
                    _(
                        "%(seller)s picked this for everyone in the %(role)s role.",
                        seller=seller,
                        role=label(role, "buyer_role"),
                    ),
                )
    if not paused:
        _personal(
            session,
            room,
            invite,
            scored,
            items,
            own,
            colleagues,
            updated,
            half_life_days,
            now,
        )
    ranked = [
        _suggestion(s, seller) for s in sorted(scored, key=lambda s: (-s.score, s.item.order))
    ]
    picked, rest = ranked[:PANEL_SIZE], ranked[PANEL_SIZE:]
    if paused:
        return _words(
            Suggestions(
                "paused",
                picked,
                _(
                    "Tracking is paused, so these use only the deal stage, your role and "
                    "%(seller)s's picks, nothing about your reading.",
                    seller=seller,
                ),
                rest=rest,
            )
        )
    return _words(
        Suggestions(
            "personalized",
            picked,
            _("Picked for you from what your deal, your role and your team need now."),
            rest=rest,
        )
    )


def _personal(
    session: Session,
    room: Room,
    invite: Invite,
    scored: list[_Scored],
    items: list[_Item],
    own: dict[int, _Stat],
    colleagues: list[_Person],
    updated: set[int],
    half_life_days: int,
    now: datetime,
) -> None:
    """The signals that come from reading: this viewer's own (decaying), their colleagues',
    and other deals' (counts only). Never used while tracking is paused."""
    by_id = {i.id: i for i in items}
    # Own interest: minutes on each item, halved every half-life since the last read (P3).
    interest: list[tuple[_Item, float, frozenset[str]]] = []
    for item_id, stat in own.items():
        if stat.active >= MEANINGFUL_SECONDS:
            weight = min(stat.active, 1800) / 60 * _decay(stat.last_at, now, half_life_days)
            source = by_id[item_id]
            interest.append((source, weight, source.tags))
    # What matters is what they read most and lately: the strongest few, not every glance.
    interest = sorted(interest, key=lambda e: -e[1])[:INTEREST_SOURCES]
    reading = [i for i, _w, _t in interest[:CO_SOURCES]]
    committee = _committee(session, room, colleagues)
    co = _co_engagement(session, room, reading, items)
    docs = {i.document_id: i for i in items}
    updated_text = _("Updated since you read it.") if updated else ""
    # Shared tags with each source: a room has a few tag combinations, so once per combination.
    shared: dict[frozenset[str], list[float]] = {}
    for s in scored:
        item = s.item
        if item.id in updated:
            s.add(W_UPDATED, updated_text)
        best_source, best_part, total = None, 0.0, 0.0
        tags = item.tags
        by_tags = shared.get(tags)
        if by_tags is None:
            by_tags = shared[tags] = [0.3 * len(t & tags) for _s, _w, t in interest]
        for k, (source, weight, _t) in enumerate(interest):
            if source.id == item.id:
                continue
            similarity = by_tags[k]
            if source.section_id is not None and source.section_id == item.section_id:
                similarity += 1.0
            part = weight * similarity
            total += part
            if part > best_part:
                best_source, best_part = source, part
        if total > 0 and best_source is not None:
            value = W_INTEREST * math.log1p(total)
            reason = None
            if value >= 0.15:
                reason = functools.partial(_, RELATED, title=best_source.title)
            s.add(value, reason)
        readers = committee.get(item.id)
        if readers is not None:
            minutes_now = readers.total * _decay(readers.latest, now, half_life_days) / 60
            s.add(W_COMMITTEE * math.log1p(minutes_now), functools.partial(_colleague, readers))
        found = co.get(item.document_id)
        if found is not None:
            people, source_doc = found
            origin = docs.get(source_doc)
            if origin is not None:
                s.add(
                    W_CO * math.log1p(people),
                    functools.partial(_, SIMILAR_DEALS, count=people, title=origin.title),
                )


def _colleague(readers: _Readers) -> str:
    top = readers.top
    who = top.display_name
    if top.role:
        who = _("%(name)s (%(role)s)", name=who, role=label(top.role, "buyer_role"))
    if readers.count == 1:
        return _(
            "Your colleague %(who)s spent %(minutes)s min on this.",
            who=who,
            minutes=_minutes(readers.top_seconds),
        )
    return ngettext(
        "Your colleague %(who)s spent %(minutes)s min on this, and %(num)d other "
        "colleague read it too.",
        "Your colleague %(who)s spent %(minutes)s min on this, and %(num)d other "
        "colleagues read it too.",
        readers.count - 1,
        who=who,
        minutes=_minutes(readers.top_seconds),
    )


def _suggestion(s: _Scored, seller: str) -> Suggestion:
    reasons = [text for _w, text in sorted(s.reasons, key=lambda r: -r[0])]
    if not reasons:
        reasons = [functools.partial(_, "Next in the order %(seller)s arranged.", seller=seller)]
    return Suggestion(s.item.public_id, s.item.title, s.score, reasons)


def _ordered(
    mode: str, items: Sequence[_Item], seller: str, note: str, **flags: bool
) -> Suggestions:
    listed = _seller_order(items, seller)
    return Suggestions(mode, listed[:PANEL_SIZE], note, rest=listed[PANEL_SIZE:], **flags)


def _seller_order(items: Sequence[_Item], seller: str) -> list[Suggestion]:
    text = _("Next in the order %(seller)s arranged.", seller=seller)
    return [Suggestion(i.public_id, i.title, 0.0, [text]) for i in items]


# ---------------------------------------------------------------- the panel: rotation, impressions


def _rotate(found: Suggestions, last: Sequence[str]) -> tuple[Suggestions, str]:
    """Never the same set twice in a row when there is anything else to show (P5): the
    weakest of the three makes room for the best of the rest. Returns the one held back."""
    shown = [s.content_id for s in found.items]
    if not found.rest or not shown or set(shown) != set(last):
        return found, ""
    items = found.items[:-1] + [found.rest[0]]
    rest = found.rest[1:] + [found.items[-1]]
    held = found.items[-1].content_id
    return Suggestions(found.mode, items, found.note, found.holdout, found.off, rest), held


REFRESH_MARGIN = 0.1  # a refresh swaps an item only for one that scores clearly higher


def _keep(found: Suggestions, last: Sequence[str], held_back: str) -> Suggestions:
    """A refresh of the panel on screen: keep what is shown while it is still eligible, and let
    in only what now clearly outranks the weakest shown (what was just read moves the panel;
    nothing churns every 15 s, and a rotated-out item does not come straight back)."""
    ranked = found.items + found.rest
    shown = [s for s in ranked if s.content_id in last]
    for candidate in ranked:
        if candidate.content_id in last or candidate.content_id == held_back:
            continue
        if len(shown) < PANEL_SIZE:
            shown.append(candidate)
            continue
        weakest = min(shown, key=lambda s: s.score)
        if candidate.score > weakest.score + REFRESH_MARGIN:
            shown[shown.index(weakest)] = candidate
    order = {s.content_id: n for n, s in enumerate(ranked)}
    shown.sort(key=lambda s: order[s.content_id])
    picked = {s.content_id for s in shown}
    rest = [s for s in ranked if s.content_id not in picked]
    return Suggestions(found.mode, shown, found.note, found.holdout, found.off, rest)


def panel(
    session: Session,
    *,
    room: Room,
    invite: Invite,
    half_life_days: int = 7,
    holdout_percent: int = 10,
    refresh: bool = False,
    record: bool = True,
    seller_name: str = "",
    now: datetime | None = None,
    listing: RoomContent | None = None,
    people: Sequence[Invite] | None = None,
    defer: Callable[[Callable[[Session], None]], None] | None = None,
) -> Suggestions:
    """What the "Suggested for you" panel shows now. A fresh display (`refresh=False`) never
    repeats the previous set when there are others; a refresh of a panel already on screen
    (`refresh=True`) changes it only when the ranking changed. With `record`, what is newly
    on screen counts as an impression (the API asks with `record=False`). `listing` and
    `people`: see `suggest`.

    `defer`: the recording is handed to it (a function of a session) instead of written in
    `session`: a page read in a read transaction writes it in a short one of its own after it
    (on SQLite, a read transaction that starts writing fails when another connection wrote
    in between, and the tracking writer writes every few hundred milliseconds)."""
    now = now or utcnow()
    loaded = _load(session, room, invite, people)
    found = _rank(
        session,
        room,
        invite,
        loaded,
        half_life_days=half_life_days,
        holdout_percent=holdout_percent,
        now=now,
        seller_name=seller_name,
        listing=listing,
        people=people,
    )
    viewer = loaded.viewer
    last = _split(viewer.last_set) if viewer is not None else ()
    held_back = viewer.held_back if viewer is not None else ""
    if refresh and last:
        found = _keep(found, last, held_back)
    elif not refresh and not found.off:  # off means the seller's order, as it is
        found, held_back = _rotate(found, last)
    _words(found)
    if record:
        write = functools.partial(
            _record,
            shown=_Shown(
                room.org_id,
                pk(room),
                pk(invite),
                invite.tracking_paused_at is not None,
                found,
                tuple(last),
                refresh,
                held_back,
                now,
            ),
            loaded=loaded,
        )
        if defer is None:
            write(session)
        else:
            defer(write)
    return found


@dataclass(frozen=True)
class _Shown:
    """One display of the panel, as plain values, to be recorded now or after the request."""

    org_id: int
    room_id: int
    invite_id: int
    paused: bool
    found: Suggestions
    last: tuple[str, ...]
    refresh: bool
    held_back: str
    now: datetime


def _upsert(
    session: Session,
    model: type[SQLModel],
    rows: list[dict[str, Any]],
    keys: list[str],
    changed: Sequence[str],
) -> None:
    """Insert `rows`, or set the `changed` columns of the stored ones with the same `keys`: one
    statement, sent once for all the rows (both databases speak ON CONFLICT; the drivers' batch
    execution sends every row in one go)."""
    connection = session.connection()
    statement = _upsert_statement(connection.dialect.name, model, tuple(keys), tuple(changed))
    connection.execute(statement, rows)


@functools.lru_cache(maxsize=16)
def _upsert_statement(
    dialect_name: str, model: type[SQLModel], keys: tuple[str, ...], changed: tuple[str, ...]
) -> Any:
    """Built once per table: composing an upsert costs more than running it."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(model.__table__)  # type: ignore[attr-defined]
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in changed}
    )


def _record(session: Session, *, shown: _Shown, loaded: _Loaded) -> None:
    """What is on screen now: the viewer's last set, and an impression for each item newly
    shown (unless tracking is paused). At most two statements, whatever the number of items."""
    found, last, refresh, held_back, now = (
        shown.found,
        shown.last,
        shown.refresh,
        shown.held_back,
        shown.now,
    )
    on_screen = [s.content_id for s in found.items]
    viewer = loaded.viewer
    new_set = ",".join(on_screen)
    if viewer is None or viewer.last_set != new_set or viewer.held_back != held_back:
        updated_at = now if viewer is None or viewer.last_set != new_set else viewer.updated_at
        row: dict[str, Any] = {
            "invite_id": shown.invite_id,
            "org_id": shown.org_id,
            "room_id": shown.room_id,
            "off": False,
            "holdout": found.holdout,  # kept from the first impression on
            "last_set": new_set,
            "held_back": held_back,
            "updated_at": updated_at,
        }
        # The switch and the holdout group are never changed here, once stored.
        _upsert(
            session,
            SuggestionViewer,
            [row],
            ["invite_id"],
            ("last_set", "held_back", "updated_at"),
        )
        if viewer is None:
            loaded.viewer = _ViewerRow(False, found.holdout, new_set, held_back, updated_at)
        else:
            viewer.last_set, viewer.held_back, viewer.updated_at = new_set, held_back, updated_at
    if shown.paused or found.off:
        return  # nothing about a paused viewer is counted; "off" suggests nothing
    fresh = [c for c in on_screen if not (refresh and c in last)]
    own = loaded.own or {}  # read by the ranking on every path that reaches here
    group = "holdout" if found.holdout else "suggested" if found.mode == "personalized" else "other"
    rows = []
    for public_id in fresh:
        item_id = loaded.ids.get(public_id)
        if item_id is None:
            continue
        stat = own.get(item_id)
        seconds, activity = (stat.active, stat.activity) if stat is not None else (0, 0)
        state = loaded.states.get(item_id)
        if state is None:
            state = _State(
                item_id,
                grp=group,
                first_shown_at=now,
                base_activity=activity,
                base_seconds=seconds,
            )
            loaded.states[item_id] = state
        elif activity > state.mark_activity or seconds > state.mark_seconds:
            state.since_open = 0  # opened since it was last shown: the cap starts again
        elif state.last_shown_at is not None and now - state.last_shown_at < IMPRESSION_GAP:
            continue  # back and forth between the room and a document: one visit, one showing
        state.impressions += 1
        state.since_open += 1
        state.last_shown_at = now
        state.mark_activity, state.mark_seconds = activity, seconds
        if state.since_open >= CAP_IMPRESSIONS:
            state.rest_until, state.since_open = now + CAP_REST, 0
        rows.append(
            {
                "invite_id": shown.invite_id,
                "room_item_id": item_id,
                "org_id": shown.org_id,
                "room_id": shown.room_id,
                **{c: getattr(state, c) for c in _STATE_COLUMNS if c != "room_item_id"},
            }
        )
    if rows:
        # The group and the dismissal are never changed by a showing.
        changed = [c for c in _STATE_COLUMNS if c not in ("room_item_id", "grp", "dismissed_at")]
        _upsert(session, SuggestionItem, rows, ["invite_id", "room_item_id"], changed)


def _state_for(session: Session, room: Room, invite: Invite, item_id: str) -> SuggestionItem:
    if not has_prefix(item_id, "item"):
        raise NotFound(_("No such item in this room."))
    item = session.exec(
        select(RoomItem).where(RoomItem.room_id == room.id, RoomItem.public_id == item_id)
    ).first()
    if item is None:
        raise NotFound(_("No such item in this room."))
    state = session.exec(
        select(SuggestionItem).where(
            SuggestionItem.invite_id == invite.id, SuggestionItem.room_item_id == item.id
        )
    ).first()
    if state is None:
        state = SuggestionItem(
            org_id=room.org_id, room_id=pk(room), invite_id=pk(invite), room_item_id=pk(item)
        )
        session.add(state)
    return state


def dismiss(session: Session, *, room: Room, invite: Invite, item_id: str) -> None:
    """ "Not relevant": the item is never suggested to this viewer again (P1)."""
    state = _state_for(session, room, invite, item_id)
    state.dismissed_at = state.dismissed_at or utcnow()


def set_off(session: Session, *, room: Room, invite: Invite, off: bool) -> None:
    """The buyer's switch (P1): off shows the seller's order instead of suggestions."""
    viewer = _viewer_state(session, invite)
    if viewer is None:
        viewer = SuggestionViewer(org_id=room.org_id, room_id=pk(room), invite_id=pk(invite))
        session.add(viewer)
    viewer.off, viewer.updated_at = off, utcnow()


def is_off(session: Session, *, invite: Invite) -> bool:
    viewer = _viewer_state(session, invite)
    return viewer is not None and viewer.off


def erase_viewer(session: Session, *, invite: Invite) -> None:
    """Forget what suggestions hold about one person (with tracking's erasure, P11)."""
    for model in (SuggestionItem, SuggestionViewer, SuggestionPin):
        session.execute(sa_delete(model).where(model.invite_id == invite.id))  # type: ignore[arg-type]


# ---------------------------------------------------------------- seller pins


@dataclass
class PinView:
    public_id: str
    item_id: str
    title: str
    target: str  # a person's name or a role's label
    invite_id: str | None = None  # pinned for this person ...
    role: str | None = None  # ... or for everyone with this role
    created_at: datetime | None = None

    def api(self) -> dict[str, object]:
        return {
            "id": self.public_id,
            "content_id": self.item_id,
            "title": self.title,
            "invite_id": self.invite_id,
            "role": self.role,
            "target": self.target,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


def pin(
    session: Session,
    *,
    room: Room,
    user: User,
    item_id: object,
    target: object,
) -> SuggestionPin:
    """Pin an item for one person (`target` an invite id) or for a role (`target` a role)."""
    errors: dict[str, str] = {}
    item = None
    if isinstance(item_id, str) and has_prefix(item_id, "item"):
        item = session.exec(
            select(RoomItem).where(RoomItem.room_id == room.id, RoomItem.public_id == item_id)
        ).first()
    if item is None:
        errors["item_id"] = _("Choose an item of this room.")
    invite = None
    role = ""
    if isinstance(target, str) and target in BUYER_ROLES:
        role = target
    elif isinstance(target, str) and has_prefix(target, "inv"):
        invite = session.exec(
            select(Invite).where(
                Invite.room_id == room.id,
                Invite.public_id == target,
                col(Invite.revoked_at).is_(None),
            )
        ).first()
    if invite is None and not role:
        errors["target"] = _("Choose a person or a role.")
    if errors:
        raise InvalidInput(fields=errors)
    assert item is not None
    existing = session.exec(
        select(SuggestionPin).where(
            SuggestionPin.room_item_id == item.id,
            SuggestionPin.invite_id == (invite.id if invite else None),
            SuggestionPin.role == role,
        )
    ).first()
    if existing is not None:
        return existing
    row = SuggestionPin(
        org_id=room.org_id,
        room_id=pk(room),
        room_item_id=pk(item),
        invite_id=pk(invite) if invite else None,
        role=role,
        created_by_id=user.id,
    )
    session.add(row)
    session.flush()
    return row


def unpin(session: Session, *, room: Room, pin_id: str) -> None:
    row = session.exec(
        select(SuggestionPin).where(
            SuggestionPin.room_id == room.id, SuggestionPin.public_id == pin_id
        )
    ).first()
    if row is None or not has_prefix(pin_id, "pin"):
        raise NotFound(_("No such pin in this room."))
    session.delete(row)


def list_pins(session: Session, *, room: Room) -> list[PinView]:
    items = {i.id: i for i in _items(session, room)}
    people = {p.id: p for p in session.exec(select(Invite).where(Invite.room_id == room.id))}
    out = []
    for row in _pins(session, room):
        item = items.get(row.room_item_id)
        if item is None:
            continue
        person = people.get(row.invite_id) if row.invite_id is not None else None
        if row.invite_id is not None:
            target = person.display_name if person is not None else ""
        else:
            target = label(row.role, "buyer_role")
        out.append(
            PinView(
                row.public_id,
                item.public_id,
                item.title,
                target,
                invite_id=person.public_id if person is not None else None,
                role=row.role or None,
                created_at=row.created_at,
            )
        )
    return out


def get_pin(session: Session, *, room: Room, pin_id: str) -> PinView:
    found = next((p for p in list_pins(session, room=room) if p.public_id == pin_id), None)
    if found is None:
        raise NotFound(_("No such pin in this room."))
    return found


# ---------------------------------------------------------------- measuring the effect (P10)


LIFT_MIN_VIEWERS = 10  # per group: fewer people than this and a difference means nothing yet
LIFT_MIN_SHOWN = 30  # per group: items shown
LIFT_Z = 1.96  # two-proportion z at which an open-rate difference is unlikely to be chance


@dataclass
class Arm:
    group: str  # suggested | holdout
    viewers: int = 0
    shown: int = 0  # (viewer, item) pairs shown at least once
    opened: int = 0  # ... opened after they were first shown
    seconds: int = 0  # active seconds on shown items after they were first shown

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.shown if self.shown else None

    @property
    def seconds_per_viewer(self) -> float | None:
        return self.seconds / self.viewers if self.viewers else None

    def api(self) -> dict[str, object]:
        rate, per_viewer = self.open_rate, self.seconds_per_viewer
        return {
            "viewers": self.viewers,
            "shown": self.shown,
            "opened": self.opened,
            "open_rate": None if rate is None else round(rate, 4),
            "active_seconds": self.seconds,
            "active_seconds_per_viewer": None if per_viewer is None else round(per_viewer, 1),
        }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b - 1


@dataclass
class Lift:
    suggested: Arm
    holdout: Arm
    rooms: int = 0  # rooms where anything was shown to either group

    @property
    def open_rate_lift(self) -> float | None:
        return _ratio(self.suggested.open_rate, self.holdout.open_rate)

    @property
    def time_lift(self) -> float | None:
        """Active time after a showing, per viewer: suggested against holdout."""
        return _ratio(self.suggested.seconds_per_viewer, self.holdout.seconds_per_viewer)

    @property
    def enough(self) -> bool:
        """Both groups big enough that a difference could mean something (P9, P10: no fake
        precision)."""
        return all(
            arm.viewers >= LIFT_MIN_VIEWERS and arm.shown >= LIFT_MIN_SHOWN
            for arm in (self.suggested, self.holdout)
        )

    @property
    def z(self) -> float | None:
        """The two-proportion z of the open rates. Items shown to one person are not
        independent, so this is generous; it is a floor for "clear", not a proof."""
        a, b = self.suggested, self.holdout
        if not a.shown or not b.shown:
            return None
        pooled = (a.opened + b.opened) / (a.shown + b.shown)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / a.shown + 1 / b.shown))
        if not spread:
            return None
        return (a.opened / a.shown - b.opened / b.shown) / spread

    @property
    def clear(self) -> bool:
        z = self.z
        return self.enough and z is not None and abs(z) >= LIFT_Z

    @property
    def note(self) -> str:
        """One plain sentence on what the figures allow one to say."""
        a, b = self.suggested, self.holdout
        if not a.shown and not b.shown:
            return _("No suggestions have been shown yet, so there is nothing to measure.")
        if not self.enough:
            return _(
                "Too few to tell yet: %(suggested)s people saw suggestions and %(holdout)s "
                "are in the holdout; each group needs at least %(viewers)s people and "
                "%(items)s items shown before a difference means anything.",
                suggested=a.viewers,
                holdout=b.viewers,
                viewers=LIFT_MIN_VIEWERS,
                items=LIFT_MIN_SHOWN,
            )
        if not self.clear:
            return _(
                "No clear difference yet: the open rates differ by less than chance alone "
                "could explain."
            )
        lift_ = self.open_rate_lift
        if lift_ is None:
            return _("Suggested items were opened; the holdout opened none.")
        if lift_ > 0:
            return _(
                "Suggested items were opened %(percent)s%% more often than the holdout's.",
                percent=round(lift_ * 100),
            )
        return _(
            "Suggested items were opened %(percent)s%% less often than the holdout's.",
            percent=round(-lift_ * 100),
        )

    def api(self) -> dict[str, object]:
        open_lift, time_lift = self.open_rate_lift, self.time_lift
        return {
            "rooms": self.rooms,
            "suggested": self.suggested.api(),
            "holdout": self.holdout.api(),
            "open_rate_lift": None if open_lift is None else round(open_lift, 4),
            "active_time_lift": None if time_lift is None else round(time_lift, 4),
            "enough_data": self.enough,
            "clear": self.clear,
            "note": self.note,
        }


def lift(
    session: Session,
    *,
    org_id: int,
    room: Room | None = None,
    room_ids: Iterable[int] | None = None,
    owner_id: int | None = None,
) -> Lift:
    """Open rate and active time after a suggestion, suggested vs holdout, with the counts:
    for one room, some rooms (`room_ids`), one seller's rooms (`owner_id`) or the whole
    organisation (none of them). One query over the suggestion rows and their rollups."""
    query = (
        sa_select(
            col(SuggestionItem.grp),
            col(SuggestionItem.room_id),
            col(SuggestionItem.invite_id),
            col(SuggestionItem.base_activity),
            col(SuggestionItem.base_seconds),
            col(ViewerItemStat.opens),
            col(ViewerItemStat.clicks),
            col(ViewerItemStat.downloads),
            col(ViewerItemStat.active_seconds),
        )
        .join(
            ViewerItemStat,
            (col(ViewerItemStat.invite_id) == col(SuggestionItem.invite_id))
            & (col(ViewerItemStat.room_item_id) == col(SuggestionItem.room_item_id)),
            isouter=True,
        )
        .where(
            col(SuggestionItem.org_id) == org_id,
            col(SuggestionItem.grp).in_(("suggested", "holdout")),
            col(SuggestionItem.impressions) > 0,
        )
    )
    if room is not None:
        query = query.where(col(SuggestionItem.room_id) == room.id)
    if room_ids is not None:
        query = query.where(col(SuggestionItem.room_id).in_(list(room_ids)))
    if owner_id is not None:
        query = query.join(Room, col(Room.id) == col(SuggestionItem.room_id)).where(
            col(Room.owner_id) == owner_id
        )
    arms = {"suggested": Arm("suggested"), "holdout": Arm("holdout")}
    viewers: dict[str, set[int]] = defaultdict(set)
    rooms: set[int] = set()
    for (
        grp,
        room_id,
        invite_id,
        base_act,
        base_sec,
        opens,
        clicks,
        downloads,
        active,
    ) in session.execute(query):
        arm = arms[grp]
        viewers[grp].add(invite_id)
        rooms.add(room_id)
        arm.shown += 1
        activity = (opens or 0) + (clicks or 0) + (downloads or 0)
        after = max(0, (active or 0) - base_sec)
        if activity > base_act or after > 0:
            arm.opened += 1
        arm.seconds += after
    for grp, arm in arms.items():
        arm.viewers = len(viewers[grp])
    return Lift(arms["suggested"], arms["holdout"], len(rooms))


# ---------------------------------------------------------------- next best actions (seller)


@dataclass
class NextAction:
    kind: str  # pricing | reread | new_people | overdue_task
    text: str
    key: str  # stable, for dismissing: "na_" + a hash of what it is about
    priority: float
    invite_id: str | None = None
    content_id: str | None = None
    task_id: str | None = None

    def api(self) -> dict[str, str]:
        out = {"kind": self.kind, "text": self.text}
        for name in ("invite_id", "content_id", "task_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


ACTION_KINDS = ("pricing", "reread", "new_people", "overdue_task")


def _key(*parts: object) -> str:
    return "na_" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16]


def _who(person: Invite) -> str:
    if person.role:
        return _(
            "%(role)s (%(name)s)", role=label(person.role, "buyer_role"), name=person.display_name
        )
    return person.display_name


def _page_range(times: Sequence[int]) -> tuple[int, int] | None:
    """The most-read stretch of pages: the top page widened to neighbours with at least half
    its time."""
    if not times or not max(times):
        return None
    top = max(range(len(times)), key=lambda n: times[n])
    low = high = top
    while low > 0 and times[low - 1] * 2 >= times[top]:
        low -= 1
    while high + 1 < len(times) and times[high + 1] * 2 >= times[top]:
        high += 1
    return low + 1, high + 1


def next_actions(
    session: Session, *, room: Room, now: datetime | None = None, limit: int = MAX_ACTIONS
) -> list[NextAction]:
    """What a good account executive would do next in this room, ranked, at most `limit`."""
    from .tracking import page_times  # the byte layout of per-page seconds is tracking's

    now = now or utcnow()
    items = _items(session, room)
    by_id = {i.id: i for i in items}
    people = [
        p for p in session.exec(select(Invite).where(Invite.room_id == room.id)) if not p.revoked
    ]
    ids = {pk(p): p for p in people}
    rows = session.execute(
        sa_select(
            col(ViewerItemStat.invite_id),
            col(ViewerItemStat.room_item_id),
            col(ViewerItemStat.active_seconds),
            col(ViewerItemStat.opens) + col(ViewerItemStat.clicks),
            col(ViewerItemStat.visits_opened),
            col(ViewerItemStat.page_seconds),
        ).where(col(ViewerItemStat.room_id) == room.id)
    ).all()
    actions: list[NextAction] = []
    # 1. The economic buyer has not opened pricing, but colleagues have.
    pricing = [i for i in items if any(w in i.title.lower() for w in PRICING_WORDS)]
    opened: dict[int, set[int]] = defaultdict(set)
    for invite_id, item_id, active, opens, _visits, _pages in rows:
        if active or opens:
            opened[item_id].add(invite_id)
    for item in pricing:
        readers = opened.get(item.id, set()) & set(ids)
        for person in people:
            if person.role != "economic_buyer" or pk(person) in readers or not readers:
                continue
            actions.append(
                NextAction(
                    "pricing",
                    ngettext(
                        "%(who)s has not opened “%(title)s” — %(num)d colleague has.",
                        "%(who)s has not opened “%(title)s” — %(num)d colleagues have.",
                        len(readers),
                        who=_who(person),
                        title=item.title,
                    ),
                    _key("pricing", person.public_id, item.public_id),
                    3.0 + len(readers) * 0.1,
                    invite_id=person.public_id,
                    content_id=item.public_id,
                )
            )
    # 2. Someone re-read part of a document: send the related item they have not seen.
    for invite_id, item_id, active, _opens, visits, page_bytes in rows:
        reader, item_read = ids.get(invite_id), by_id.get(item_id)
        if reader is None or item_read is None or visits < 2 or active < MEANINGFUL_SECONDS:
            continue
        seen_items = {i for i, readers in opened.items() if invite_id in readers}
        related = [
            i
            for i in items
            if i.id != item_read.id
            and i.id not in seen_items
            and (
                (i.section_id is not None and i.section_id == item_read.section_id)
                or set(i.stages) & set(item_read.stages)
                or set(i.roles) & set(item_read.roles)
            )
        ]
        span = _page_range(page_times(page_bytes))
        where = item_read.title
        if span is not None and item_read.kind == "pdf":
            first, last = span
            where = (
                _("%(title)s page %(page)s", title=item_read.title, page=first)
                if first == last
                else _(
                    "%(title)s pages %(first)s–%(last)s",
                    title=item_read.title,
                    first=first,
                    last=last,
                )
            )
        if related:
            text = _(
                "%(who)s re-read %(where)s (%(visits)s visits): send “%(next)s”.",
                who=_who(reader),
                where=where,
                visits=visits,
                next=related[0].title,
            )
            content = related[0].public_id
        else:
            text = _(
                "%(who)s re-read %(where)s (%(visits)s visits): offer a call to go through it.",
                who=_who(reader),
                where=where,
                visits=visits,
            )
            content = item_read.public_id
        actions.append(
            NextAction(
                "reread",
                text,
                _key("reread", reader.public_id, item_read.public_id, visits),
                2.0 + min(visits, 5) * 0.1,
                invite_id=reader.public_id,
                content_id=content,
            )
        )
    # 3. New people from one domain this week: introduce yourself.
    week = now - timedelta(days=NEW_PEOPLE_DAYS)
    by_domain: dict[str, list[Invite]] = defaultdict(list)
    for person in people:
        if person.created_at >= week and person.source != "seller":
            by_domain[person.email.rpartition("@")[2].lower()].append(person)
    for domain, joined in sorted(by_domain.items()):
        actions.append(
            NextAction(
                "new_people",
                ngettext(
                    "%(num)d new person from %(domain)s joined this week: introduce yourself.",
                    "%(num)d new people from %(domain)s joined this week: introduce yourself.",
                    len(joined),
                    domain=domain,
                ),
                _key("new_people", domain, ",".join(sorted(p.public_id for p in joined))),
                1.5 + len(joined) * 0.1,
                invite_id=joined[0].public_id if len(joined) == 1 else None,
            )
        )
    # 4. Buyer-owned tasks past their due date.
    today: date = now.date()
    for task in session.exec(
        select(Task).where(
            Task.room_id == room.id,
            col(Task.owner_invite_id).is_not(None),
            Task.status != "done",
            col(Task.due_date) < today,
        )
    ):
        assert task.due_date is not None and task.owner_invite_id is not None
        owner = ids.get(task.owner_invite_id)
        days = (today - task.due_date).days
        actions.append(
            NextAction(
                "overdue_task",
                ngettext(
                    "Task “%(title)s” is %(num)d day overdue (owner: %(owner)s): offer help.",
                    "Task “%(title)s” is %(num)d days overdue (owner: %(owner)s): offer help.",
                    days,
                    title=task.title,
                    owner=owner.display_name if owner is not None else _("buyer"),
                ),
                _key("overdue_task", task.public_id, task.due_date),
                2.5 + min(days, 30) * 0.02,
                invite_id=owner.public_id if owner is not None else None,
                task_id=task.public_id,
            )
        )
    gone = set(
        session.exec(select(NextActionDismissal.key).where(NextActionDismissal.room_id == room.id))
    )
    actions = [a for a in actions if a.key not in gone]
    actions.sort(key=lambda a: -a.priority)
    return actions[:limit]


def dismiss_action(session: Session, *, room: Room, user: User, key: str) -> None:
    """The seller has dealt with it (or does not want it): it does not come back."""
    if not key.startswith("na_") or len(key) != 19:
        raise NotFound(_("No such action in this room."))
    known = {a.key for a in next_actions(session, room=room, limit=10_000)}
    if key not in known:
        raise NotFound(_("No such action in this room."))
    session.add(
        NextActionDismissal(org_id=room.org_id, room_id=pk(room), key=key, dismissed_by_id=user.id)
    )
