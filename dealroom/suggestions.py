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
from datetime import date, datetime, timedelta

from sqlalchemy import UniqueConstraint, func
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
    RoomItem,
    Section,
)
from .db import pk, utcnow
from .errors import InvalidInput, NotFound
from .i18n import _, label, ngettext
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
MEANINGFUL_SECONDS = 15  # less time than this on an item is a glance, not a read
MODES = ("personalized", "seller_order", "paused")

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


def _items(session: Session, room: Room) -> list[_Item]:
    query = (
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
        .join(Document, col(Document.id) == col(RoomItem.document_id))
        .join(
            DocumentVersion,
            CURRENT_VERSION,
            isouter=True,
        )
        .join(Section, col(Section.id) == col(RoomItem.section_id), isouter=True)
        .where(col(RoomItem.room_id) == room.id, col(Document.org_id) == room.org_id)
        # The room page lists unsectioned items first, then the sections in order.
        .order_by(
            func.coalesce(col(Section.position), -1),
            col(RoomItem.position),
            col(RoomItem.id),
        )
    )
    items = []
    for n, row in enumerate(session.execute(query)):
        iid, pid, title, section, stages, roles, doc, version, kind, fkind, lkind, pages = row
        if kind == "link":
            shown = "embed" if lkind in ("youtube", "vimeo", "loom") else "link"
        else:
            shown = fkind or "file"
        items.append(
            _Item(
                iid,
                pid,
                title,
                n,
                section,
                _split(stages),
                _split(roles),
                doc,
                version,
                shown,
                pages,
            )
        )
    return items


def _completion(item: _Item, pages_done: int, video_seconds: int, duration: int) -> float | None:
    if item.kind == "pdf" and item.pages:
        return min(1.0, pages_done / item.pages)
    if item.kind in ("video", "embed") and duration:
        return min(1.0, video_seconds / duration)
    return None


def _stats(
    session: Session, room: Room, items: dict[int, _Item], invite_ids: Iterable[int]
) -> dict[int, dict[int, _Stat]]:
    """invite id -> item id -> what the rollups hold (one query over the room's rollups);
    the first of `invite_ids` is the viewer, the others colleagues."""
    ids = list(invite_ids)
    out: dict[int, dict[int, _Stat]] = defaultdict(dict)
    if not ids:
        return out
    query = sa_select(
        col(ViewerItemStat.invite_id),
        col(ViewerItemStat.room_item_id),
        col(ViewerItemStat.active_seconds),
        col(ViewerItemStat.opens),
        col(ViewerItemStat.clicks),
        col(ViewerItemStat.downloads),
        col(ViewerItemStat.pages_done),
        col(ViewerItemStat.video_seconds),
        col(ViewerItemStat.duration),
        col(ViewerItemStat.last_at),
    ).where(
        col(ViewerItemStat.room_id) == room.id,
        col(ViewerItemStat.invite_id).in_(ids),
        # Colleagues' glances are not a signal; all of the viewer's own rows are (consumed).
        (col(ViewerItemStat.invite_id) == ids[0])
        | (col(ViewerItemStat.active_seconds) >= MEANINGFUL_SECONDS),
    )
    for (
        invite_id,
        item_id,
        active,
        opens,
        clicks,
        downloads,
        done,
        vsec,
        dur,
        last,
    ) in session.execute(query):
        item = items.get(item_id)
        if item is None:
            continue
        out[invite_id][item_id] = _Stat(
            active, opens + clicks + downloads, downloads, _completion(item, done, vsec, dur), last
        )
    return out


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


def _item_states(session: Session, invite: Invite) -> dict[int, SuggestionItem]:
    return {
        s.room_item_id: s
        for s in session.exec(select(SuggestionItem).where(SuggestionItem.invite_id == invite.id))
    }


def _pins(session: Session, room: Room) -> list[SuggestionPin]:
    return list(
        session.exec(
            select(SuggestionPin)
            .where(SuggestionPin.room_id == room.id)
            .order_by(col(SuggestionPin.id))
        )
    )


_co_cache: dict[tuple[str, frozenset[int], frozenset[int]], tuple[float, dict]] = {}
_co_lock = threading.Lock()


def _co_engagement(
    session: Session, room: Room, mine: Sequence[_Item], items: Sequence[_Item]
) -> dict[int, tuple[int, int]]:
    """document id in this room -> (people, source document id): in the org's other rooms, how
    many people who spent time on one of `mine` later spent time on it. Counts only.

    Other deals' aggregates do not need to be fresh to the second (the viewer's own reading
    is: it changes `mine`, hence the key), so a result is reused for a minute per process."""
    if not mine:
        return {}
    mine_docs = {i.document_id for i in mine}
    docs = {i.document_id for i in items} - mine_docs
    if not docs:
        return {}
    key = (room.public_id, frozenset(mine_docs), frozenset(docs))
    clock = time.monotonic()
    with _co_lock:
        hit = _co_cache.get(key)
        if hit is not None and clock - hit[0] < CO_CACHE_SECONDS:
            return hit[1]
    best = _co_read(session, room, mine_docs, docs)
    with _co_lock:
        if len(_co_cache) > 4096:
            _co_cache.clear()
        _co_cache[key] = (clock, best)
    return best


def _co_read(
    session: Session, room: Room, mine_docs: set[int], docs: set[int]
) -> dict[int, tuple[int, int]]:
    # One read of the other deals' rollups for this room's documents, combined here: cheaper
    # than a self-join of the rollups, which has no index to pair rows by person.
    query = (
        sa_select(
            col(ViewerItemStat.invite_id), col(RoomItem.document_id), col(ViewerItemStat.first_at)
        )
        .join(RoomItem, col(RoomItem.id) == col(ViewerItemStat.room_item_id))
        .where(
            col(ViewerItemStat.org_id) == room.org_id,
            col(ViewerItemStat.room_id) != room.id,
            col(ViewerItemStat.active_seconds) >= MEANINGFUL_SECONDS,
            col(RoomItem.document_id).in_(mine_docs | docs),
        )
    )
    people: dict[int, dict[int, datetime | None]] = defaultdict(dict)
    for invite_id, document_id, first_at in session.execute(query):
        people[invite_id][document_id] = first_at
    pairs: dict[tuple[int, int], int] = defaultdict(int)
    for read in people.values():
        sources = [(d, at) for d, at in read.items() if d in mine_docs]
        if not sources:
            continue
        for target, target_at in read.items():
            if target not in docs:
                continue
            for source, source_at in sources:
                if source_at is None or target_at is None or target_at >= source_at:
                    pairs[(source, target)] += 1
    best: dict[int, tuple[int, int]] = {}
    for (source, target), count in pairs.items():
        if count >= 2 and count > best.get(target, (0, 0))[0]:  # one person is an identity
            best[target] = (count, source)
    return best


def _committee(
    session: Session, room: Room, colleagues: list[_Person]
) -> dict[int, tuple[datetime | None, list[tuple[int, _Person]]]]:
    """item id -> (the latest colleague read, [(active seconds, colleague)]): two narrow
    queries (the dates grouped per item), as this runs on every panel refresh."""
    if not colleagues:
        return {}
    people = {p.id: p for p in colleagues}
    where = (
        col(ViewerItemStat.room_id) == room.id,
        col(ViewerItemStat.invite_id).in_(people),
        col(ViewerItemStat.active_seconds) >= MEANINGFUL_SECONDS,
    )
    latest = dict(
        session.execute(
            sa_select(col(ViewerItemStat.room_item_id), func.max(col(ViewerItemStat.last_at)))
            .where(*where)
            .group_by(col(ViewerItemStat.room_item_id))
        ).all()
    )
    readers: dict[int, list[tuple[int, _Person]]] = defaultdict(list)
    for item_id, invite_id, active in session.execute(
        sa_select(
            col(ViewerItemStat.room_item_id),
            col(ViewerItemStat.invite_id),
            col(ViewerItemStat.active_seconds),
        ).where(*where)
    ):
        readers[item_id].append((active, people[invite_id]))
    return {item_id: (latest.get(item_id), found) for item_id, found in readers.items()}


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
) -> Suggestions:
    """What this viewer would see now (reads only; `show()` records an impression)."""
    now = now or utcnow()
    items = _items(session, room)
    by_id = {i.id: i for i in items}
    viewer = _viewer_state(session, invite)
    states = _item_states(session, invite)
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
    # Colleagues: the room's other people at the viewer's company (as analytics.company sees
    # it), read as plain columns: a room page refreshes this every 15 s for every viewer.
    domains = room.domains
    mine_company = company(room, invite)
    colleagues = [
        _Person(pid, name or email, prole, email)
        for pid, name, email, prole in session.execute(
            sa_select(col(Invite.id), col(Invite.name), col(Invite.email), col(Invite.role)).where(
                col(Invite.room_id) == room.id,
                col(Invite.id) != invite.id,
                col(Invite.revoked_at).is_(None),
            )
        )
        if (
            room.buyer_company
            if not domains or email.rpartition("@")[2].lower() in domains
            else email.rpartition("@")[2].lower()
        )
        == mine_company
    ]
    own = _stats(session, room, by_id, [pk(invite)]).get(pk(invite), {})
    seen = dict(
        session.execute(
            sa_select(col(ItemSeen.room_item_id), col(ItemSeen.version_seen)).where(
                col(ItemSeen.invite_id) == invite.id
            )
        ).all()
    )
    updated: set[int] = set()
    eligible: list[_Item] = []
    for item in items:
        if item.id in dismissed:
            continue
        state = states.get(item.id)
        if state is not None and state.rest_until is not None and state.rest_until > now:
            continue
        if consumed(item, own.get(item.id)):
            if seen.get(item.id, item.version) >= item.version:
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
    scored = [_Scored(i) for i in eligible]
    stage = _stage_now(room)
    stage_index = TAG_STAGES.index(stage)
    nxt = TAG_STAGES[stage_index + 1] if stage_index + 1 < len(TAG_STAGES) else None
    # Progress: what share of the current stage's items this viewer has consumed.
    now_items = [i for i in items if stage in i.stages]
    covered = sum(1 for i in now_items if consumed(i, own.get(i.id)))
    progressed = not paused and bool(now_items) and covered / len(now_items) >= 0.6
    role = invite.role if invite.role in BUYER_ROLES else ""
    pins = _pins(session, room)
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
        for pin in pins:
            if pin.room_item_id != item.id:
                continue
            if pin.invite_id == invite.id:
                s.add(W_PIN_PERSON, _("%(seller)s picked this for you.", seller=seller))
            elif pin.invite_id is None and role and pin.role == role:
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
    interest: list[tuple[_Item, float, set[str]]] = []
    for item_id, stat in own.items():
        if stat.active >= MEANINGFUL_SECONDS:
            weight = min(stat.active, 1800) / 60 * _decay(stat.last_at, now, half_life_days)
            source = by_id[item_id]
            tags = set(source.stages) | {"role:" + r for r in source.roles}
            interest.append((source, weight, tags))
    # What matters is what they read most and lately: the strongest few, not every glance.
    interest = sorted(interest, key=lambda e: -e[1])[:INTEREST_SOURCES]
    reading = [i for i, _w, _t in interest[:CO_SOURCES]]
    committee = _committee(session, room, colleagues)
    co = _co_engagement(session, room, reading, items)
    docs = {i.document_id: i for i in items}
    updated_text = _("Updated since you read it.") if updated else ""
    for s in scored:
        item = s.item
        if item.id in updated:
            s.add(W_UPDATED, updated_text)
        best_source, total = None, 0.0
        tags = set(item.stages) | {"role:" + r for r in item.roles}
        for source, weight, source_tags in interest:
            if source.id == item.id:
                continue
            similarity = 0.3 * len(source_tags & tags)
            if source.section_id is not None and source.section_id == item.section_id:
                similarity += 1.0
            part = weight * similarity
            total += part
            if part > 0 and (best_source is None or part > best_source[1]):
                best_source = (source, part)
        if total > 0 and best_source is not None:
            value = W_INTEREST * math.log1p(total)
            reason = None
            if value >= 0.15:
                reason = functools.partial(
                    _,
                    "Related to “%(title)s”, which you read recently.",
                    title=best_source[0].title,
                )
            s.add(value, reason)
        found_readers = committee.get(item.id)
        if found_readers:
            latest, readers = found_readers
            minutes_now = sum(a for a, _p in readers) * _decay(latest, now, half_life_days) / 60
            s.add(W_COMMITTEE * math.log1p(minutes_now), functools.partial(_colleague, readers))
        found = co.get(item.document_id)
        if found is not None:
            people, source_doc = found
            origin = docs.get(source_doc)
            if origin is not None:
                s.add(
                    W_CO * math.log1p(people),
                    functools.partial(
                        _,
                        "In similar deals, %(count)s people who read “%(title)s” went on to "
                        "read this.",
                        count=people,
                        title=origin.title,
                    ),
                )


def _colleague(readers: list[tuple[int, _Person]]) -> str:
    best_active, top = max(readers, key=lambda r: r[0])
    who = top.display_name
    if top.role:
        who = _("%(name)s (%(role)s)", name=who, role=label(top.role, "buyer_role"))
    if len(readers) == 1:
        return _(
            "Your colleague %(who)s spent %(minutes)s min on this.",
            who=who,
            minutes=_minutes(best_active),
        )
    return ngettext(
        "Your colleague %(who)s spent %(minutes)s min on this, and %(num)d other "
        "colleague read it too.",
        "Your colleague %(who)s spent %(minutes)s min on this, and %(num)d other "
        "colleagues read it too.",
        len(readers) - 1,
        who=who,
        minutes=_minutes(best_active),
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
) -> Suggestions:
    """What the "Suggested for you" panel shows now. A fresh display (`refresh=False`) never
    repeats the previous set when there are others; a refresh of a panel already on screen
    (`refresh=True`) changes it only when the ranking changed. With `record`, what is newly
    on screen counts as an impression (the API asks with `record=False`)."""
    now = now or utcnow()
    found = suggest(
        session,
        room=room,
        invite=invite,
        half_life_days=half_life_days,
        holdout_percent=holdout_percent,
        now=now,
        seller_name=seller_name,
    )
    viewer = _viewer_state(session, invite)
    last = _split(viewer.last_set) if viewer is not None else ()
    held_back = viewer.held_back if viewer is not None else ""
    if refresh and last:
        found = _keep(found, last, held_back)
    elif not refresh and not found.off:  # off means the seller's order, as it is
        found, held_back = _rotate(found, last)
    _words(found)
    if record:
        viewer = _record(session, room, invite, viewer, found, last, refresh, now)
        viewer.held_back = held_back
    return found


def _record(
    session: Session,
    room: Room,
    invite: Invite,
    viewer: SuggestionViewer | None,
    found: Suggestions,
    last: Sequence[str],
    refresh: bool,
    now: datetime,
) -> SuggestionViewer:
    shown = [s.content_id for s in found.items]
    if viewer is None:
        viewer = SuggestionViewer(
            org_id=room.org_id, room_id=pk(room), invite_id=pk(invite), holdout=found.holdout
        )
        session.add(viewer)
    if viewer.last_set != ",".join(shown):
        viewer.last_set, viewer.updated_at = ",".join(shown), now
    if invite.tracking_paused_at is not None or found.off:
        return viewer  # nothing about a paused viewer is counted; "off" suggests nothing
    fresh = [c for c in shown if not (refresh and c in last)]
    if not fresh:
        return viewer
    items = {
        public_id: item_id
        for item_id, public_id in session.execute(
            sa_select(col(RoomItem.id), col(RoomItem.public_id)).where(
                col(RoomItem.room_id) == room.id, col(RoomItem.public_id).in_(fresh)
            )
        )
    }
    now_stats = {
        item_id: (active, opens + clicks + downloads)
        for item_id, active, opens, clicks, downloads in session.execute(
            sa_select(
                col(ViewerItemStat.room_item_id),
                col(ViewerItemStat.active_seconds),
                col(ViewerItemStat.opens),
                col(ViewerItemStat.clicks),
                col(ViewerItemStat.downloads),
            ).where(
                col(ViewerItemStat.invite_id) == invite.id,
                col(ViewerItemStat.room_item_id).in_(items.values()),
            )
        )
    }
    states = _item_states(session, invite)
    group = "holdout" if found.holdout else "suggested" if found.mode == "personalized" else "other"
    for public_id in fresh:
        item_id = items.get(public_id)
        if item_id is None:
            continue
        seconds, activity = now_stats.get(item_id, (0, 0))
        state = states.get(item_id)
        if state is None:
            state = SuggestionItem(
                org_id=room.org_id,
                room_id=pk(room),
                invite_id=pk(invite),
                room_item_id=item_id,
                grp=group,
                first_shown_at=now,
                base_activity=activity,
                base_seconds=seconds,
            )
            session.add(state)
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
    return viewer


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
            select(Invite).where(Invite.room_id == room.id, Invite.public_id == target)
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
        if row.invite_id is not None:
            person = people.get(row.invite_id)
            target = person.display_name if person is not None else ""
        else:
            target = label(row.role, "buyer_role")
        out.append(PinView(row.public_id, item.public_id, item.title, target))
    return out


# ---------------------------------------------------------------- measuring the effect (P10)


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


@dataclass
class Lift:
    suggested: Arm
    holdout: Arm

    @property
    def open_rate_lift(self) -> float | None:
        a, b = self.suggested.open_rate, self.holdout.open_rate
        return None if a is None or not b else a / b - 1


def lift(session: Session, *, org_id: int, room: Room | None = None) -> Lift:
    """Open rate and active time after a suggestion, suggested vs holdout, with the counts."""
    query = (
        sa_select(
            col(SuggestionItem.grp),
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
    arms = {"suggested": Arm("suggested"), "holdout": Arm("holdout")}
    viewers: dict[str, set[int]] = defaultdict(set)
    for grp, invite_id, base_act, base_sec, opens, clicks, downloads, active in session.execute(
        query
    ):
        arm = arms[grp]
        viewers[grp].add(invite_id)
        arm.shown += 1
        activity = (opens or 0) + (clicks or 0) + (downloads or 0)
        after = max(0, (active or 0) - base_sec)
        if activity > base_act or after > 0:
            arm.opened += 1
        arm.seconds += after
    for grp, arm in arms.items():
        arm.viewers = len(viewers[grp])
    return Lift(arms["suggested"], arms["holdout"])


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
