"""What the seller sees of a room's attention, read from the tracking rollups.

Everything here reads pre-aggregated rows (`tracking.ViewerStat`, `ViewerItemStat`,
`ViewerPageStat`, `ActivityHour`) with column-only queries, so a room's analytics cost the same
whether it holds ten events or a million. Raw events are read only for the timeline (the newest
few) and for exports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import add
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from . import spreadsheet
from .content import CURRENT_VERSION, Document, DocumentVersion, RoomItem, Section
from .db import pk, utcnow
from .i18n import _
from .invites import Invite, list_invites
from .rooms import Room
from .tracking import (
    ActivityHour,
    Signal,
    TrackEvent,
    ViewerItemStat,
    ViewerStat,
    Visit,
    page_times,
    watched_ranges,
)

VIEWING_NOW = timedelta(seconds=30)  # beats come every 10 s: three missed means gone
EMBED_VIDEOS = ("youtube", "vimeo", "loom")


@dataclass(slots=True)
class ViewerItem:
    item_id: str
    title: str
    kind: str
    active_seconds: int
    completion: float | None
    page_array: Sequence[int]  # seconds per page, index 0 is page 1 (see `pages`)
    watched: list[tuple[int, int]]
    opens: int
    downloads: int
    clicks: int
    page_count: int | None = None
    duration: int = 0
    video_seconds: int = 0

    @property
    def pages(self) -> dict[int, int]:
        """1-based page -> active seconds, pages with time only (built when asked: a room's
        read has thousands of these and most pages show only totals)."""
        return {n + 1: v for n, v in enumerate(self.page_array) if v}

    @property
    def heat(self) -> list[tuple[int, int, int]]:
        """This viewer's heat strip for a PDF: (page, seconds, level 0-4) for every page."""
        return heat_strip(self.pages, self.page_count)


@dataclass
class ViewerEngagement:
    invite: Invite
    active_seconds: int
    visits: int
    first_seen: datetime | None
    last_seen: datetime | None
    tracking_paused: bool
    items: list[ViewerItem] = field(default_factory=list)
    messages: int = 0
    task_updates: int = 0
    viewing_now: bool = False

    @property
    def items_opened(self) -> int:
        return sum(1 for i in self.items if i.active_seconds or i.opens or i.clicks)


@dataclass
class ItemStats:
    item_id: str
    title: str
    kind: str
    active_seconds: int
    viewers: int
    page_count: int | None = None
    pages: dict[int, int] = field(default_factory=dict)  # all viewers: page -> seconds
    completion: float | None = None  # the mean over viewers who opened it

    @property
    def heat(self) -> list[tuple[int, int, int]]:
        """(page, seconds, level 0-4) for every page: the heat strip."""
        return heat_strip(self.pages, self.page_count)


def heat_strip(pages: dict[int, int], page_count: int | None) -> list[tuple[int, int, int]]:
    """(page, seconds, level) for pages 1..page_count: level 0 is no time, 1-4 rise with the
    page's share of the most-read page's time."""
    if not page_count:
        return []
    top = max(pages.values(), default=0)
    strip = []
    for page in range(1, page_count + 1):
        seconds = pages.get(page, 0)
        level = 0 if not seconds or not top else 1 + min(3, int(4 * seconds / (top + 1)))
        strip.append((page, seconds, level))
    return strip


@dataclass
class RoomEngagement:
    viewers: list[ViewerEngagement]
    items: list[ItemStats]

    @property
    def active_seconds(self) -> int:
        return sum(v.active_seconds for v in self.viewers)

    @property
    def visits(self) -> int:
        return sum(v.visits for v in self.viewers)

    @property
    def engaged(self) -> int:
        return sum(1 for v in self.viewers if v.active_seconds or v.visits)

    @property
    def viewing_now(self) -> list[ViewerEngagement]:
        return [v for v in self.viewers if v.viewing_now]

    def readers(self, item_id: str) -> list[tuple[ViewerEngagement, ViewerItem]]:
        """Who spent time on (or opened) one item, and their row for it, most time first."""
        found = [
            (viewer, item)
            for viewer in self.viewers
            for item in viewer.items
            if item.item_id == item_id and (item.active_seconds or item.opens or item.clicks)
        ]
        return sorted(found, key=lambda pair: -pair[1].active_seconds)


def company(room: Room, invite: Invite) -> str:
    """Where a viewer works, as far as the room knows: the buyer company for addresses on the
    room's domains (or any address when the room names none), else the address's own domain
    (a consultant or partner someone brought in)."""
    domain = invite.email.rpartition("@")[2].lower()
    if not room.domains or domain in room.domains:
        return room.buyer_company
    return domain


@dataclass
class _Item:
    id: int
    public_id: str
    title: str
    kind: str
    pages: int | None


def _room_items(session: Session, room: Room) -> dict[int, _Item]:
    query = (
        sa_select(
            col(RoomItem.id),
            col(RoomItem.public_id),
            col(Document.title),
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
        .order_by(func.coalesce(col(Section.position), 0), col(RoomItem.position), col(RoomItem.id))
    )
    items: dict[int, _Item] = {}
    for item_id, public_id, title, kind, file_kind, link_kind, pages in session.execute(query):
        if kind == "link":
            shown = "video" if link_kind in EMBED_VIDEOS else "link"
        else:
            shown = file_kind or "file"
        items[item_id] = _Item(item_id, public_id, title, shown, pages)
    return items


def room_engagement(
    session: Session, *, room: Room, now: datetime | None = None, include_revoked: bool = False
) -> RoomEngagement:
    """Per viewer and per item, from the rollups. Every non-revoked invite appears (zeros for
    those who never came), most active first; revoked ones too with `include_revoked`."""
    now = now or utcnow()
    invites = list_invites(session, room=room, include_revoked=include_revoked)
    items = _room_items(session, room)
    stats = {
        row.invite_id: row
        for row in session.execute(
            sa_select(
                col(ViewerStat.invite_id),
                col(ViewerStat.active_seconds),
                col(ViewerStat.visits),
                col(ViewerStat.first_seen),
                col(ViewerStat.last_seen),
                col(ViewerStat.messages),
                col(ViewerStat.task_updates),
            ).where(col(ViewerStat.room_id) == room.id)
        )
    }
    per_viewer: dict[int, list[ViewerItem]] = defaultdict(list)
    item_totals: dict[int, ItemStats] = {
        i.id: ItemStats(i.public_id, i.title, i.kind, 0, 0, i.pages) for i in items.values()
    }
    completions: dict[int, list[float]] = defaultdict(list)
    page_sums: dict[int, list[int]] = {}
    query = sa_select(
        col(ViewerItemStat.invite_id),
        col(ViewerItemStat.room_item_id),
        col(ViewerItemStat.active_seconds),
        col(ViewerItemStat.opens),
        col(ViewerItemStat.downloads),
        col(ViewerItemStat.clicks),
        col(ViewerItemStat.video_seconds),
        col(ViewerItemStat.duration),
        col(ViewerItemStat.watched),
        col(ViewerItemStat.page_seconds),
        col(ViewerItemStat.pages_done),
    ).where(col(ViewerItemStat.room_id) == room.id)
    # Core, not ORM, execution: thousands of rows, and the ORM's row handling cost more than
    # the loop below.
    for (
        invite_id,
        item_id,
        active,
        opens,
        downloads,
        clicks,
        video_seconds,
        duration,
        watched,
        page_bytes,
        pages_done,
    ) in session.connection().execute(query).all():
        item = items.get(item_id)
        if item is None:  # removed from the room since
            continue
        times = page_times(page_bytes)
        kind = item.kind
        if kind == "pdf" and item.pages:
            completion: float | None = min(1.0, pages_done / item.pages)
        elif kind == "video" and duration:
            completion = min(1.0, video_seconds / duration)
        else:
            completion = None
        per_viewer[invite_id].append(
            ViewerItem(
                item.public_id,
                item.title,
                kind,
                active,
                completion,
                times,
                watched_ranges(watched) if watched else [],
                opens,
                downloads,
                clicks,
                item.pages,
                duration,
                video_seconds,
            )
        )
        total = item_totals[item_id]
        total.active_seconds += active
        if active or opens or clicks:
            total.viewers += 1
            if completion is not None:
                completions[item_id].append(completion)
        if times:
            sums = page_sums.get(item_id)
            if sums is None:
                page_sums[item_id] = list(times)
            else:
                if len(sums) < len(times):
                    sums.extend([0] * (len(times) - len(sums)))
                sums[: len(times)] = map(add, sums, times)  # C-speed, no per-page bytecode
    for item_id, sums in page_sums.items():
        item_totals[item_id].pages = {n + 1: v for n, v in enumerate(sums) if v}
    for item_id, values in completions.items():
        item_totals[item_id].completion = sum(values) / len(values)
    live = set(
        session.exec(
            select(Visit.invite_id).where(
                Visit.room_id == room.id, col(Visit.last_seen_at) >= now - VIEWING_NOW
            )
        )
    )
    viewers = []
    for invite in invites:
        stat = stats.get(pk(invite))
        paused = invite.tracking_paused_at is not None
        viewers.append(
            ViewerEngagement(
                invite=invite,
                active_seconds=stat.active_seconds if stat else 0,
                visits=stat.visits if stat else 0,
                first_seen=stat.first_seen if stat else None,
                last_seen=stat.last_seen if stat else None,
                tracking_paused=paused,
                items=sorted(per_viewer.get(pk(invite), []), key=lambda v: -v.active_seconds),
                messages=stat.messages if stat else 0,
                task_updates=stat.task_updates if stat else 0,
                viewing_now=pk(invite) in live and not paused,
            )
        )
    viewers.sort(key=lambda v: (-v.active_seconds, v.invite.display_name.lower()))
    return RoomEngagement(viewers=viewers, items=list(item_totals.values()))


def viewer_engagement(session: Session, *, room: Room, invite: Invite) -> ViewerEngagement:
    """One viewer's row, exactly as the seller sees it (the buyer's "Your activity" panel).
    A revoked viewer's too: their data can still be exported or erased on request."""
    engagement = room_engagement(session, room=room, include_revoked=invite.revoked)
    for viewer in engagement.viewers:
        if viewer.invite.id == invite.id:
            return viewer
    return ViewerEngagement(invite, 0, 0, None, None, invite.tracking_paused_at is not None)


# ---------------------------------------------------------------- timeline and signals


@dataclass
class Moment:
    """One line of the room's timeline: a viewer's run of events on one thing."""

    at: datetime
    invite: Invite
    kind: str  # view | room | video | section | open | download | click | task | chat
    title: str  # the item's title ("" for room time, tasks, chat)
    seconds: int = 0
    pages: list[int] = field(default_factory=list)
    count: int = 1

    @property
    def page_span(self) -> str:
        if not self.pages:
            return ""
        low, high = min(self.pages), max(self.pages)
        return str(low) if low == high else f"{low}–{high}"


@dataclass
class RoomNames:
    """Who and what a room's events refer to (revoked people too), read once per page."""

    invites: dict[int, Invite]
    items: dict[int, _Item]


def room_names(session: Session, *, room: Room) -> RoomNames:
    return RoomNames(
        {pk(i): i for i in list_invites(session, room=room, include_revoked=True)},
        _room_items(session, room),
    )


def timeline(
    session: Session, *, room: Room, limit: int = 30, names: RoomNames | None = None
) -> list[Moment]:
    """The newest activity, consecutive events of one viewer on one thing merged."""
    names = names or room_names(session, room=room)
    invites, items = names.invites, names.items
    rows = session.execute(
        sa_select(
            col(TrackEvent.at),
            col(TrackEvent.invite_id),
            col(TrackEvent.kind),
            col(TrackEvent.room_item_id),
            col(TrackEvent.page),
            col(TrackEvent.seconds),
        )
        .where(col(TrackEvent.room_id) == room.id)
        .order_by(col(TrackEvent.at).desc(), col(TrackEvent.id).desc())
        .limit(limit * 20)
    )
    moments: list[Moment] = []
    last_key: tuple[Any, ...] | None = None
    for at, invite_id, kind, item_id, page, seconds in rows:
        invite = invites.get(invite_id)
        if invite is None:
            continue
        if kind == "section":
            continue
        merged_kind = "view" if kind in ("view", "open") else kind
        key = (invite_id, merged_kind, item_id)
        if key == last_key and moments:
            moment = moments[-1]
            moment.seconds += seconds
            moment.count += 1
            if page and seconds:
                moment.pages.append(page)
            continue
        if len(moments) >= limit:
            break
        item = items.get(item_id) if item_id is not None else None
        if item_id is not None and item is None:
            continue
        moments.append(
            Moment(
                at=at,
                invite=invite,
                kind=merged_kind,
                title=item.title if item else "",
                seconds=seconds,
                pages=[page] if page and seconds else [],
            )
        )
        last_key = key
    return moments


@dataclass
class SignalView:
    signal: Signal
    invite: Invite | None
    title: str

    @property
    def text(self) -> str:
        name = self.invite.display_name if self.invite else _("Someone")
        kind = self.signal.kind
        if kind == "new_person":
            return _("%(name)s joined the room through a shared link.", name=name)
        if kind == "returned":
            return _("%(name)s came back after %(days)s days.", name=name, days=self.signal.days)
        if kind == "pricing":
            return _("%(name)s (economic buyer) opened %(title)s.", name=name, title=self.title)
        if kind == "reread":
            return _("%(name)s is reading %(title)s again.", name=name, title=self.title)
        return kind


def signals(
    session: Session, *, room: Room, limit: int = 20, names: RoomNames | None = None
) -> list[SignalView]:
    names = names or room_names(session, room=room)
    invites, items = names.invites, names.items
    rows = session.exec(
        select(Signal)
        .where(Signal.room_id == room.id)
        .order_by(col(Signal.at).desc(), col(Signal.id).desc())
        .limit(limit)
    )
    views = []
    for signal in rows:
        item = items.get(signal.room_item_id) if signal.room_item_id else None
        invite = invites.get(signal.invite_id) if signal.invite_id else None
        views.append(SignalView(signal, invite, item.title if item else ""))
    return views


def daily_activity(
    session: Session, *, room: Room, days: int = 30, today: date | None = None
) -> list[tuple[date, int]]:
    """Active seconds per UTC day over the last `days` days (zeros included): the chart."""
    today = today or utcnow().date()
    start = today - timedelta(days=days - 1)
    totals: dict[date, int] = defaultdict(int)
    for hour, seconds in session.execute(
        sa_select(col(ActivityHour.hour), col(ActivityHour.active_seconds)).where(
            col(ActivityHour.room_id) == room.id,
            col(ActivityHour.hour)
            >= datetime.combine(start, datetime.min.time()).replace(tzinfo=utcnow().tzinfo),
        )
    ):
        totals[hour.date()] += seconds
    return [
        (start + timedelta(days=n), totals.get(start + timedelta(days=n), 0)) for n in range(days)
    ]


# ---------------------------------------------------------------- exports


# Kept importable from here: CSV builders elsewhere in the app use these names.
safe_cell = spreadsheet.safe_cell
_csv = spreadsheet.stream


EVENT_COLUMNS = (
    "time_utc",
    "viewer",
    "email",
    "role",
    "event",
    "item_id",
    "item",
    "page",
    "active_seconds",
    "video_from",
    "video_to",
    "visit_id",
)


def events_csv(session: Session, *, room: Room) -> Iterator[str]:
    """Every raw event of the room (within retention), oldest first."""
    invites = {pk(i): i for i in list_invites(session, room=room, include_revoked=True)}
    items = _room_items(session, room)
    visits = dict(
        session.execute(
            sa_select(col(Visit.id), col(Visit.public_id)).where(col(Visit.room_id) == room.id)
        ).all()
    )
    query = (
        sa_select(
            col(TrackEvent.at),
            col(TrackEvent.invite_id),
            col(TrackEvent.kind),
            col(TrackEvent.room_item_id),
            col(TrackEvent.page),
            col(TrackEvent.seconds),
            col(TrackEvent.start),
            col(TrackEvent.stop),
            col(TrackEvent.visit_id),
        )
        .where(col(TrackEvent.room_id) == room.id)
        .order_by(col(TrackEvent.at), col(TrackEvent.id))
        .execution_options(yield_per=2000)
    )

    def rows() -> Iterator[list[object]]:
        for at, invite_id, kind, item_id, page, seconds, start, stop, visit_id in session.execute(
            query
        ):
            invite = invites.get(invite_id)
            item = items.get(item_id) if item_id is not None else None
            yield [
                at.strftime("%Y-%m-%d %H:%M:%S"),
                invite.name if invite else "",
                invite.email if invite else "",
                invite.role if invite else "",
                kind,
                item.public_id if item else "",
                item.title if item else "",
                page or "",
                seconds,
                "" if start is None else start,
                "" if stop is None else stop,
                visits.get(visit_id, "") if visit_id else "",
            ]

    return _csv(EVENT_COLUMNS, rows())


PAGE_COLUMNS = ("viewer", "email", "role", "item_id", "item", "page", "active_seconds")


def pages_csv(session: Session, *, room: Room) -> Iterator[str]:
    """Active time per viewer, item and PDF page (from the rollups: complete, not windowed)."""
    engagement = room_engagement(session, room=room)
    rows = (
        [
            viewer.invite.name,
            viewer.invite.email,
            viewer.invite.role,
            item.item_id,
            item.title,
            page,
            seconds,
        ]
        for viewer in engagement.viewers
        for item in viewer.items
        for page, seconds in item.pages.items()
    )
    return _csv(PAGE_COLUMNS, rows)


DAILY_COLUMNS = ("day_utc", "active_seconds")


def daily_csv(
    session: Session, *, room: Room, days: int = 30, today: date | None = None
) -> Iterator[str]:
    """The daily-activity chart's numbers (UTC days, zeros included)."""
    daily = daily_activity(session, room=room, days=days, today=today)
    rows = ([day.isoformat(), seconds] for day, seconds in daily)
    return _csv(DAILY_COLUMNS, rows)


ITEM_COLUMNS = ("item_id", "item", "kind", "active_seconds", "viewers", "completion")


def items_csv(session: Session, *, room: Room) -> Iterator[str]:
    """The per-item chart's numbers: total active time, people who opened it, mean completion."""
    engagement = room_engagement(session, room=room)
    rows = (
        [
            item.item_id,
            item.title,
            item.kind,
            item.active_seconds,
            item.viewers,
            "" if item.completion is None else round(item.completion, 3),
        ]
        for item in engagement.items
    )
    return _csv(ITEM_COLUMNS, rows)


def viewer_export(session: Session, *, room: Room, invite: Invite) -> dict[str, Any]:
    """Everything tracking holds about one person, for an access request (GDPR/APPI)."""
    from .tracking import viewer_events, viewer_visits

    items = _room_items(session, room)
    engagement = viewer_engagement(session, room=room, invite=invite)

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "person": {
            "invite_id": invite.public_id,
            "name": invite.name,
            "email": invite.email,
            "role": invite.role,
            "tracking_notice_shown_at": when(invite.tracking_notice_at),
            "tracking_paused_at": when(invite.tracking_paused_at),
        },
        "room": {"id": room.public_id, "name": room.name},
        "summary": {
            "active_seconds": engagement.active_seconds,
            "visits": engagement.visits,
            "first_seen": when(engagement.first_seen),
            "last_seen": when(engagement.last_seen),
            "items": [
                {
                    "content_id": i.item_id,
                    "title": i.title,
                    "active_seconds": i.active_seconds,
                    "completion": i.completion,
                    "pages": {str(p): s for p, s in i.pages.items()},
                    "video_watched": [list(r) for r in i.watched],
                    "downloads": i.downloads,
                    "clicks": i.clicks,
                }
                for i in engagement.items
            ],
        },
        "visits": [
            {
                "id": v.public_id,
                "started_at": when(v.started_at),
                "last_seen_at": when(v.last_seen_at),
                "active_seconds": v.active_seconds,
                "device": v.device,
                "country": v.country or None,
            }
            for v in viewer_visits(session, invite=invite)
        ],
        "events": [
            {
                "at": when(e.at),
                "kind": e.kind,
                "content_id": items[e.room_item_id].public_id if e.room_item_id in items else None,
                "page": e.page,
                "seconds": e.seconds,
                "video_from": e.start,
                "video_to": e.stop,
            }
            for e in viewer_events(session, invite=invite)
        ],
    }


def api_view(engagement: RoomEngagement) -> dict[str, Any]:
    """The JSON of GET /api/v1/rooms/{room_id}/analytics."""
    return {
        "viewers": [
            {
                "invite_id": v.invite.public_id,
                "email": v.invite.email,
                "name": v.invite.name,
                "role": v.invite.role or None,
                "active_seconds": v.active_seconds,
                "visits": v.visits,
                "last_seen": v.last_seen.isoformat() if v.last_seen else None,
                "tracking_paused": v.tracking_paused,
                "items": [
                    {
                        "content_id": i.item_id,
                        "active_seconds": i.active_seconds,
                        "completion": None if i.completion is None else round(i.completion, 3),
                        "pages": {str(p): s for p, s in i.pages.items()},
                    }
                    for i in v.items
                ],
            }
            for v in engagement.viewers
        ],
        "items": [
            {
                "content_id": i.item_id,
                "title": i.title,
                "active_seconds": i.active_seconds,
                "viewers": i.viewers,
            }
            for i in engagement.items
        ],
    }
