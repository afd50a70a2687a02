"""Seller notifications: timely alerts about buyer activity, merged per visit, plus digests.

What a room owner hears about (KINDS): a person's first open of the room, a new person from the
buyer's company (verified through a forwarded link), a return after `track_return_days` of
silence, the economic buyer opening a pricing item (tracking's PRICING_WORDS on the item's title
or section), a buyer's chat message, and a buyer's task update (added, edited, status, comment).

Where the events come from: nothing in the hot tracking path changes. `collect` reads, since its
cursor (with an overlap), what the domain already writes: tracking's `Signal` rows (new_person,
returned, pricing), first `Visit`s and buyer task actions in the audit log. Each becomes one
`NotificationEvent` per recipient, inserted with ON CONFLICT DO NOTHING on (user, source), so
several processes may collect at once.

    collect ──> NotificationEvent(delivery="now")    ──send_due──> one merged mail (+ Slack)
            └─> NotificationEvent(delivery="digest") ──send_daily_digests──> 8:00 local digest

Merging: the pending "now" events of one (recipient, room) go out together once the oldest is
`merge_delay` old (default 3 minutes), so a visit's first open, return and pricing view make one
mail listing what each person read in their visit, never one per page. The group is claimed with
a conditional UPDATE (pending -> sent) in the transaction that queues the mail: of two processes,
one sends. A group waits while its recipient is in quiet hours (it is not dropped).

Chat: a buyer's message to the owner is already mailed by `chat.send_digests` (grouped, at most
one per 5 minutes). That mail *is* the "message" notification: the owner's "message" preference
decides whether chat queues it ("now"), whether it goes to the daily digest instead ("digest":
chat skips it and records an event here, one insert), or nothing ("off"). Quiet hours hold
chat mails too.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Index, UniqueConstraint, func, insert, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from . import i18n, validate
from .accounts import User
from .audit import AuditEvent
from .chat import Message
from .content import Document, RoomItem
from .db import Database, pk, utcnow
from .errors import InvalidInput
from .i18n import N_, _
from .invites import Invite
from .links import Links
from .notify import MailRenderer, queue_mail
from .rooms import Room
from .tasks import Task
from .tracking import Signal, TrackEvent, Visit

log = logging.getLogger("dealroom.notifications")

KINDS = ("first_open", "new_person", "returned", "pricing", "message", "task")
MODES = ("now", "digest", "off")
# A good account executive wants to hear about people at once; plan edits can wait for the
# morning digest.
DEFAULT_MODES = {kind: "now" for kind in KINDS} | {"task": "digest"}
KIND_LABELS = {
    "first_open": N_("First open by a person"),
    "new_person": N_("A new person from the buyer's company"),
    "returned": N_("A return after days of silence"),
    "pricing": N_("The economic buyer opens pricing"),
    "message": N_("A buyer's chat message"),
    "task": N_("A buyer's task update"),
}
MODE_LABELS = {"now": N_("Immediately"), "digest": N_("In the daily digest"), "off": N_("Off")}
TASK_ACTIONS = {
    "task.created": "created",
    "task.updated": "updated",
    "task.status_changed": "status_changed",
    "task.commented": "commented",
}
MERGE_DELAY = timedelta(minutes=3)
OVERLAP = timedelta(minutes=2)  # rows committed late (a slow transaction) are still read
FIRST_LOOKBACK = timedelta(minutes=15)  # the very first collection does not replay history
MAX_CATCHUP = timedelta(days=1)  # after a long outage, older events are no longer timely
DIGEST_HOUR = 8
WEEKLY_WEEKDAY = 0  # Monday
SLACK_PREFIX = "https://hooks.slack.com/"
SLACK_TIMEOUT = 5.0
SLACK_ATTEMPTS = 4


# ---------------------------------------------------------------- tables


class NotificationPref(SQLModel, table=True):
    """A seller's choices: per event kind immediately / in the digest / off, quiet hours, Slack."""

    __tablename__ = "notification_pref"
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    modes: str = Field(default="{}", max_length=400)  # JSON {kind: "now" | "digest" | "off"}
    quiet_start: int | None = None  # minutes after local midnight; both or neither
    quiet_end: int | None = None
    slack_url: str = Field(default="", max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)


class NotificationEvent(SQLModel, table=True):
    """Something to tell one seller about; sent merged with the rest of its room's pending
    events (delivery "now") or listed in the daily digest (delivery "digest")."""

    __tablename__ = "notification_event"
    __table_args__ = (
        # The same source row (a signal, a visit, an audit entry...) is told once per person,
        # however many processes collect it.
        UniqueConstraint("user_id", "source", name="uq_notification_event_source"),
        Index("ix_notification_event_pending", "status", "delivery", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int | None = Field(default=None, foreign_key="invite.id")
    kind: str = Field(max_length=20)
    source: str = Field(max_length=60)
    room_item_id: int | None = None  # no foreign key: history outlives a removed item
    detail: str = Field(default="{}", max_length=1000)  # small JSON object
    at: datetime = Field(default_factory=utcnow)
    delivery: str = Field(default="now", max_length=10)  # now | digest
    status: str = Field(default="pending", max_length=10)  # pending | sent
    sent_at: datetime | None = None


class SlackPost(SQLModel, table=True):
    """A message for a seller's Slack incoming webhook (retried with backoff, like mail)."""

    __tablename__ = "slack_post"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    text: str
    status: str = Field(default="queued", max_length=10, index=True)  # queued | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class DigestSent(SQLModel, table=True):
    """One row per person, kind and local day: the claim that makes a digest go out once."""

    __tablename__ = "notification_digest"
    __table_args__ = (UniqueConstraint("user_id", "kind", "day", name="uq_notification_digest"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    kind: str = Field(max_length=10)  # daily | weekly
    day: date
    sent_at: datetime = Field(default_factory=utcnow)


class ScanCursor(SQLModel, table=True):
    """How far the collector has read each source (with an overlap; duplicates are ignored)."""

    __tablename__ = "notification_cursor"
    name: str = Field(primary_key=True, max_length=20)
    until: datetime


# ---------------------------------------------------------------- preferences


@dataclass(frozen=True)
class Prefs:
    modes: dict[str, str]
    quiet_start: int | None = None
    quiet_end: int | None = None
    slack_url: str = ""

    def mode(self, kind: str) -> str:
        return self.modes.get(kind, DEFAULT_MODES[kind])

    def quiet(self, zone: tzinfo, now: datetime) -> bool:
        """Whether `now` falls in the quiet hours (local time; they may wrap past midnight)."""
        if self.quiet_start is None or self.quiet_end is None:
            return False
        local = now.astimezone(zone)
        minute = local.hour * 60 + local.minute
        start, end = self.quiet_start, self.quiet_end
        return start <= minute < end if start < end else minute >= start or minute < end


DEFAULT_PREFS = Prefs(modes=dict(DEFAULT_MODES))


def _prefs_of(row: NotificationPref | None) -> Prefs:
    if row is None:
        return DEFAULT_PREFS
    try:
        stored = json.loads(row.modes)
    except ValueError:
        stored = {}
    modes = dict(DEFAULT_MODES)
    if isinstance(stored, dict):
        modes.update({k: v for k, v in stored.items() if k in KINDS and v in MODES})
    return Prefs(modes, row.quiet_start, row.quiet_end, row.slack_url)


def preferences(session: Session, *, user: User) -> Prefs:
    return _prefs_of(session.get(NotificationPref, pk(user)))


def zone_of(user: User) -> tzinfo:
    name = i18n.timezone_name(user.timezone) or "UTC"
    return ZoneInfo(name)


def clock(value: int | None) -> str:
    """Minutes after midnight as HH:MM (form values)."""
    return "" if value is None else f"{value // 60:02d}:{value % 60:02d}"


def _minutes(value: object, name: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidInput(fields={name: _("Enter a time as HH:MM, e.g. 22:00.")})
    return int(match[1]) * 60 + int(match[2])


def _slack(value: object) -> str:
    url = validate.text(
        value, "slack_url", label=_("Slack webhook URL"), required=False, max_length=500
    )
    if url and (
        not url.startswith(SLACK_PREFIX) or len(url) > 500 or any(c in url for c in ' <>"')
    ):
        raise InvalidInput(
            fields={
                "slack_url": _(
                    "Paste a Slack incoming webhook URL (it starts with https://hooks.slack.com/)."
                )
            }
        )
    return url


def update_preferences(
    session: Session, *, user: User, data: Mapping[str, object]
) -> NotificationPref:
    """Save a seller's choices from a form: `mode_<kind>` for each kind, `quiet_start` and
    `quiet_end` (HH:MM, both or neither), `slack_url`. Every problem is reported at once."""
    checks: dict[str, Callable[[], object]] = {
        f"mode_{kind}": (
            lambda kind=kind: validate.choice(  # type: ignore[misc]
                data.get(f"mode_{kind}"),
                f"mode_{kind}",
                label=_(KIND_LABELS[kind]),
                options=MODES,
                default=DEFAULT_MODES[kind],
            )
        )
        for kind in KINDS
    }
    checks["quiet_start"] = lambda: _minutes(data.get("quiet_start"), "quiet_start")
    checks["quiet_end"] = lambda: _minutes(data.get("quiet_end"), "quiet_end")
    checks["slack_url"] = lambda: _slack(data.get("slack_url"))
    values = validate.gather(checks)
    start, end = values["quiet_start"], values["quiet_end"]
    if (start is None) != (end is None):
        missing = "quiet_end" if end is None else "quiet_start"
        raise InvalidInput(fields={missing: _("Give both the start and the end of quiet hours.")})
    if start is not None and start == end:
        raise InvalidInput(fields={"quiet_end": _("Quiet hours must end at another time.")})
    row = session.get(NotificationPref, pk(user))
    if row is None:
        row = NotificationPref(user_id=pk(user), org_id=user.org_id)
        session.add(row)
    row.modes = json.dumps({kind: values[f"mode_{kind}"] for kind in KINDS}, sort_keys=True)
    row.quiet_start = start if isinstance(start, int) else None
    row.quiet_end = end if isinstance(end, int) else None
    row.slack_url = str(values["slack_url"])
    row.updated_at = utcnow()
    session.flush()
    return row


def route_chat_message(session: Session, *, owner: User, message: Message) -> bool:
    """A buyer's chat message, for the room's owner: True when the chat mail should tell them
    now; "in the digest" records it for the daily digest instead; "off" drops it."""
    mode = preferences(session, user=owner).mode("message")
    if mode == "digest":
        text = " ".join(message.body.split())
        record(
            session,
            room_id=message.room_id,
            kind="message",
            source=f"msg:{pk(message)}",
            at=message.created_at,
            invite_id=message.author_invite_id,
            excerpt=text if len(text) <= 200 else text[:199] + "…",
        )
    return mode == "now"


def quiet_now(session: Session, *, email: str, now: datetime) -> bool:
    """Whether the seller with this address is in quiet hours (chat mails wait, too)."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    return user is not None and preferences(session, user=user).quiet(zone_of(user), now)


# ---------------------------------------------------------------- collecting events


def _insert_ignore(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping those a unique constraint already holds; returns how many went in."""
    if not rows:
        return 0
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - other databases
        statement = insert(table)
    key = list(table.primary_key.columns)[0]
    added = 0
    for row in rows:  # one by one: a returned key tells which ones were new
        added += len(session.execute(statement.values(**row).returning(key)).all())
    return added


@dataclass
class _Collector:
    session: Session
    now: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)
    owners: dict[int, tuple[Room, User] | None] = field(default_factory=dict)
    prefs: dict[int, Prefs] = field(default_factory=dict)

    def owner(self, room_id: int) -> tuple[Room, User] | None:
        if room_id not in self.owners:
            room = self.session.get(Room, room_id)
            user = self.session.get(User, room.owner_id) if room is not None else None
            found = None
            if room is not None and not room.archived and user is not None:
                found = (room, user) if user.disabled_at is None else None
            self.owners[room_id] = found
        return self.owners[room_id]

    def add(
        self,
        *,
        room_id: int,
        kind: str,
        source: str,
        at: datetime,
        invite_id: int | None = None,
        item_id: int | None = None,
        **detail: object,
    ) -> None:
        found = self.owner(room_id)
        if found is None:
            return
        room, user = found
        uid = pk(user)
        if uid not in self.prefs:
            self.prefs[uid] = preferences(self.session, user=user)
        mode = self.prefs[uid].mode(kind)
        if mode == "off":
            return
        self.rows.append(
            {
                "org_id": room.org_id,
                "user_id": uid,
                "room_id": room_id,
                "invite_id": invite_id,
                "kind": kind,
                "source": source,
                "room_item_id": item_id,
                "detail": json.dumps(detail, default=str)[:1000],
                "at": at,
                "delivery": mode,
                "status": "pending",
                "sent_at": None,
            }
        )


def record(
    session: Session,
    *,
    room_id: int,
    kind: str,
    source: str,
    at: datetime,
    invite_id: int | None = None,
    item_id: int | None = None,
    **detail: object,
) -> int:
    """Record one event for the room's owner (one insert): `source` names what caused it, so
    recording it again is a no-op; nothing is stored when the owner turned `kind` off."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    c = _Collector(session, at)
    c.add(
        room_id=room_id,
        kind=kind,
        source=source,
        at=at,
        invite_id=invite_id,
        item_id=item_id,
        **detail,
    )
    return _insert_ignore(session, NotificationEvent, c.rows)


def _cursor(session: Session, now: datetime) -> datetime:
    row = session.get(ScanCursor, "collect")
    if row is None:
        _insert_ignore(session, ScanCursor, [{"name": "collect", "until": now}])
        return now - FIRST_LOOKBACK
    since = max(row.until - OVERLAP, now - MAX_CATCHUP)
    session.execute(
        update(ScanCursor)
        .where(col(ScanCursor.name) == "collect", col(ScanCursor.until) < now)
        .values(until=now)
    )
    return min(since, now - OVERLAP)


def collect(session: Session, *, now: datetime | None = None) -> int:
    """Turn what happened since the last run into notification events; returns how many are
    new. Safe to run in several processes at once (duplicates are ignored)."""
    now = now or utcnow()
    since = _cursor(session, now)
    c = _Collector(session, now)
    signals = session.exec(
        select(Signal)
        .where(col(Signal.at) > since, col(Signal.at) <= now)
        .where(col(Signal.kind).in_(("new_person", "returned", "pricing")))
        .order_by(col(Signal.id))
    )
    for sig in signals:
        c.add(
            room_id=sig.room_id,
            kind=sig.kind,
            source=f"sig:{sig.id}",
            at=sig.at,
            invite_id=sig.invite_id,
            item_id=sig.room_item_id,
            days=sig.days,
        )
    _first_visits(session, c, since, now)
    _task_updates(session, c, since, now)
    return _insert_ignore(session, NotificationEvent, c.rows)


def _first_visits(session: Session, c: _Collector, since: datetime, now: datetime) -> None:
    # last_seen_at is indexed and never before started_at: it narrows the scan to recent visits.
    visits = list(
        session.exec(
            select(Visit)
            .where(col(Visit.last_seen_at) > since, col(Visit.started_at) > since)
            .where(col(Visit.started_at) <= now)
        )
    )
    if not visits:
        return
    first = dict(
        session.exec(
            select(Visit.invite_id, func.min(Visit.id))
            .where(col(Visit.invite_id).in_({v.invite_id for v in visits}))
            .group_by(col(Visit.invite_id))
        ).all()
    )
    invites = {i.id: i for i in session.exec(select(Invite).where(col(Invite.id).in_(set(first))))}
    for visit in sorted(visits, key=lambda v: pk(v)):
        invite = invites.get(visit.invite_id)
        # People who joined through a forwarded link are told as "new person" (a signal).
        if first.get(visit.invite_id) != visit.id or invite is None or invite.source != "seller":
            continue
        c.add(
            room_id=visit.room_id,
            kind="first_open",
            source=f"visit:{visit.id}",
            at=visit.started_at,
            invite_id=visit.invite_id,
        )


def _task_updates(session: Session, c: _Collector, since: datetime, now: datetime) -> None:
    rows = list(
        session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.created_at) > since, col(AuditEvent.created_at) <= now)
            .where(
                col(AuditEvent.action).in_(TASK_ACTIONS),
                col(AuditEvent.actor).like("inv\\_%", escape="\\"),
            )
            .order_by(col(AuditEvent.id))
        )
    )
    if not rows:
        return
    tasks = {
        t.public_id: t
        for t in session.exec(select(Task).where(col(Task.public_id).in_({r.target for r in rows})))
    }
    invites = {
        i.public_id: i
        for i in session.exec(
            select(Invite).where(col(Invite.public_id).in_({r.actor for r in rows}))
        )
    }
    for row in rows:
        task, invite = tasks.get(row.target), invites.get(row.actor)
        if task is None or invite is None or invite.room_id != task.room_id:
            continue  # deleted since, or not a buyer of that room
        try:
            detail = json.loads(row.detail)
        except ValueError:
            detail = {}
        c.add(
            room_id=task.room_id,
            kind="task",
            source=f"audit:{row.id}",
            at=row.created_at,
            invite_id=pk(invite),
            action=TASK_ACTIONS[row.action],
            task=task.title[:200],
            status=str(detail.get("new", "")) if isinstance(detail, dict) else "",
        )


# ---------------------------------------------------------------- describing events


def _items(session: Session, item_ids: Iterable[int]) -> dict[int, str]:
    ids = {i for i in item_ids if i is not None}
    if not ids:
        return {}
    rows = session.exec(
        select(RoomItem.id, Document.title)
        .join(Document, col(Document.id) == col(RoomItem.document_id))
        .where(col(RoomItem.id).in_(ids))
    )
    return {item_id: title for item_id, title in rows if item_id is not None}


def _visit_activity(
    session: Session, *, invite_ids: set[int], since: datetime, now: datetime
) -> dict[int, dict[str, Any]]:
    """What each person did in their visits touching [since, now]: active time and the items
    read (seconds each), for the merged mail."""
    if not invite_ids:
        return {}
    visits = list(
        session.exec(
            select(Visit).where(
                col(Visit.invite_id).in_(invite_ids),
                col(Visit.last_seen_at) >= since,
                col(Visit.started_at) <= now,
            )
        )
    )
    out: dict[int, dict[str, Any]] = {
        i: {"seconds": 0, "items": [], "started_at": None} for i in invite_ids
    }
    for visit in visits:
        entry = out[visit.invite_id]
        entry["seconds"] += visit.active_seconds
        if entry["started_at"] is None or visit.started_at < entry["started_at"]:
            entry["started_at"] = visit.started_at
    if not visits:
        return out
    rows = session.exec(
        select(TrackEvent.invite_id, TrackEvent.room_item_id, func.sum(TrackEvent.seconds))
        # visit_id has no index (the event table is the biggest there is): these people's
        # events since the earliest of their visits, by the invite index, then those visits.
        .where(col(TrackEvent.invite_id).in_({v.invite_id for v in visits}))
        .where(col(TrackEvent.at) >= min(v.started_at for v in visits))
        .where(col(TrackEvent.visit_id).in_({pk(v) for v in visits}))
        .where(col(TrackEvent.room_item_id).is_not(None))
        .group_by(col(TrackEvent.invite_id), col(TrackEvent.room_item_id))
    ).all()
    titles = _items(session, (r[1] for r in rows if r[1] is not None))
    for invite_id, item_id, seconds in rows:
        if item_id in titles:
            out[invite_id]["items"].append({"title": titles[item_id], "seconds": int(seconds or 0)})
    for entry in out.values():
        entry["items"].sort(key=lambda x: (-x["seconds"], x["title"].lower()))
    return out


def _people(
    session: Session, events: Sequence[NotificationEvent], activity: Mapping[int, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Events grouped by person, in order of each person's first event."""
    invites = {
        i.id: i
        for i in session.exec(
            select(Invite).where(col(Invite.id).in_({e.invite_id for e in events if e.invite_id}))
        )
    }
    titles = _items(session, (e.room_item_id for e in events if e.room_item_id is not None))
    people: dict[int | None, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: (e.at, pk(e))):
        invite = invites.get(event.invite_id) if event.invite_id is not None else None
        person = people.setdefault(
            event.invite_id,
            {
                "name": invite.display_name if invite else "",
                "email": invite.email if invite else "",
                "role": invite.role if invite else "",
                "events": [],
                "activity": activity.get(event.invite_id or 0),
            },
        )
        try:
            detail = json.loads(event.detail)
        except ValueError:
            detail = {}
        person["events"].append(
            {
                "kind": event.kind,
                "at": event.at,
                "item": titles.get(event.room_item_id or 0, ""),
                "days": int(detail.get("days", 0) or 0),
                "action": str(detail.get("action", "")),
                "task": str(detail.get("task", "")),
                "status": str(detail.get("status", "")),
                "excerpt": str(detail.get("excerpt", "")),
            }
        )
    return list(people.values())


def analytics_url(links: Links, room: Room) -> str:
    return links.seller_room(room) + "/analytics"


# ---------------------------------------------------------------- sending merged notifications


class _Taken(Exception):
    """Another process claimed these events first (this transaction is rolled back)."""


def _claim(session: Session, ids: list[int], now: datetime) -> None:
    taken = session.exec(
        update(NotificationEvent)
        .where(col(NotificationEvent.id).in_(ids), col(NotificationEvent.status) == "pending")
        .values(status="sent", sent_at=now)
    ).rowcount
    if taken != len(ids):
        raise _Taken


def _post_slack(session: Session, *, user: User, prefs: Prefs, text: str) -> None:
    if prefs.slack_url:
        session.add(SlackPost(org_id=user.org_id, user_id=pk(user), text=text[:3900]))


def _send_group(
    session: Session,
    *,
    user_id: int,
    room_id: int,
    renderer: MailRenderer,
    links: Links,
    now: datetime,
) -> bool:
    events = list(
        session.exec(
            select(NotificationEvent)
            .where(
                NotificationEvent.user_id == user_id,
                NotificationEvent.room_id == room_id,
                NotificationEvent.status == "pending",
                NotificationEvent.delivery == "now",
                col(NotificationEvent.at) <= now,
            )
            .order_by(col(NotificationEvent.at), col(NotificationEvent.id))
        )
    )
    if not events:
        return False
    user, room = session.get(User, user_id), session.get(Room, room_id)
    if user is None or room is None or user.disabled_at is not None or room.archived:
        _claim(session, [pk(e) for e in events], now)  # nobody to tell: settled, not sent
        return False
    prefs = preferences(session, user=user)
    if prefs.quiet(zone_of(user), now):
        return False  # waits for the end of quiet hours
    _claim(session, [pk(e) for e in events], now)
    invite_ids = {e.invite_id for e in events if e.invite_id is not None}
    activity = _visit_activity(
        session, invite_ids=invite_ids, since=events[0].at - timedelta(minutes=30), now=now
    )
    people = _people(session, events, activity)
    mail = queue_mail(
        session,
        renderer=renderer,
        to=user.email,
        template="notification",
        org_id=room.org_id,
        locale=user.locale,
        timezone=user.timezone,
        context={
            "name": user.display_name,
            "room": room,
            "people": people,
            "url": analytics_url(links, room),
        },
    )
    _post_slack(session, user=user, prefs=prefs, text=mail.text_body)
    return True


def send_due(
    db: Database,
    *,
    renderer: MailRenderer,
    links: Links,
    now: datetime | None = None,
    delay: timedelta = MERGE_DELAY,
    limit: int = 200,
) -> int:
    """Queue one merged mail per (recipient, room) whose oldest pending event is `delay` old;
    returns how many mails were queued. Safe in several processes at once."""
    now = now or utcnow()
    with db.session(write=False) as session:
        groups = session.exec(
            select(NotificationEvent.user_id, NotificationEvent.room_id)
            .where(NotificationEvent.status == "pending", NotificationEvent.delivery == "now")
            .group_by(col(NotificationEvent.user_id), col(NotificationEvent.room_id))
            .having(func.min(NotificationEvent.at) <= now - delay)
            .order_by(func.min(NotificationEvent.at))
            .limit(limit)
        ).all()
    sent = 0
    for user_id, room_id in groups:
        try:
            with db.session() as session:
                if _send_group(
                    session,
                    user_id=user_id,
                    room_id=room_id,
                    renderer=renderer,
                    links=links,
                    now=now,
                ):
                    sent += 1
        except _Taken:
            continue
    return sent


def run(
    db: Database,
    *,
    renderer: MailRenderer,
    links: Links,
    now: datetime | None = None,
    delay: timedelta = MERGE_DELAY,
) -> int:
    """One tick of the notification job: collect, then send what is due."""
    now = now or utcnow()
    with db.session() as session:
        collect(session, now=now)
    return send_due(db, renderer=renderer, links=links, now=now, delay=delay)


# ---------------------------------------------------------------- daily digest and weekly summary


def _claim_day(session: Session, *, user: User, kind: str, day: date, now: datetime) -> bool:
    return (
        _insert_ignore(
            session,
            DigestSent,
            [
                {
                    "org_id": user.org_id,
                    "user_id": pk(user),
                    "kind": kind,
                    "day": day,
                    "sent_at": now,
                }
            ],
        )
        == 1
    )


def _last_digest(session: Session, *, user: User, kind: str, before: date) -> datetime | None:
    return session.exec(
        select(func.max(DigestSent.sent_at)).where(
            DigestSent.user_id == user.id, DigestSent.kind == kind, col(DigestSent.day) < before
        )
    ).one()


def room_summary(
    session: Session, *, user: User, since: datetime, now: datetime, links: Links
) -> list[dict[str, Any]]:
    """Activity in the user's live rooms since `since`: people active, visits, active time."""
    rows = session.exec(
        select(
            Visit.room_id,
            func.count(func.distinct(Visit.invite_id)),
            func.count(col(Visit.id)),
            func.sum(Visit.active_seconds),
        )
        .join(Room, col(Room.id) == col(Visit.room_id))
        .where(col(Room.owner_id) == user.id, col(Room.archived_at).is_(None))
        .where(col(Room.org_id) == user.org_id)
        .where(col(Visit.last_seen_at) > since, col(Visit.started_at) <= now)
        .group_by(col(Visit.room_id))
    ).all()
    if not rows:
        return []
    rooms = {
        r.id: r for r in session.exec(select(Room).where(col(Room.id).in_({r[0] for r in rows})))
    }
    summary = [
        {
            "room": rooms[room_id],
            "url": analytics_url(links, rooms[room_id]),
            "people": int(people),
            "visits": int(visits),
            "seconds": int(seconds or 0),
        }
        for room_id, people, visits, seconds in rows
    ]
    return sorted(summary, key=lambda s: (-s["seconds"], s["room"].name.lower()))


def _digest_for(
    session: Session, *, user: User, renderer: MailRenderer, links: Links, now: datetime
) -> bool:
    zone = zone_of(user)
    local = now.astimezone(zone)
    if local.hour < DIGEST_HOUR or preferences(session, user=user).quiet(zone, now):
        return False
    day = local.date()
    if session.exec(
        select(DigestSent.id).where(
            DigestSent.user_id == user.id, DigestSent.kind == "daily", DigestSent.day == day
        )
    ).first():
        return False
    since = _last_digest(session, user=user, kind="daily", before=day) or now - timedelta(days=1)
    if not _claim_day(session, user=user, kind="daily", day=day, now=now):
        return False  # another process has it
    events = list(
        session.exec(
            select(NotificationEvent)
            .where(
                NotificationEvent.user_id == user.id,
                NotificationEvent.status == "pending",
                NotificationEvent.delivery == "digest",
                col(NotificationEvent.at) <= now,
            )
            .order_by(col(NotificationEvent.room_id), col(NotificationEvent.at))
        )
    )
    summary = room_summary(session, user=user, since=since, now=now, links=links)
    if not events and not summary:
        return False  # nothing to say: the claimed day stays quiet
    if events:
        _claim(session, [pk(e) for e in events], now)
    rooms: dict[int, list[NotificationEvent]] = {}
    for event in events:
        rooms.setdefault(event.room_id, []).append(event)
    groups = []
    for room_id, room_events in rooms.items():
        room = session.get(Room, room_id)
        if room is None or room.archived:
            continue
        groups.append(
            {
                "room": room,
                "url": analytics_url(links, room),
                "people": _people(session, room_events, {}),
            }
        )
    if not groups and not summary:
        return False
    mail = queue_mail(
        session,
        renderer=renderer,
        to=user.email,
        template="notification_digest",
        org_id=user.org_id,
        locale=user.locale,
        timezone=user.timezone,
        context={"name": user.display_name, "day": day, "rooms": groups, "summary": summary},
    )
    _post_slack(session, user=user, prefs=preferences(session, user=user), text=mail.text_body)
    return True


def _active_users(db: Database, *, managers: bool = False) -> list[int]:
    with db.session(write=False) as session:
        query = select(User.id).where(col(User.disabled_at).is_(None))
        if managers:
            query = query.where(col(User.role).in_(("admin", "manager")))
        return [i for i in session.exec(query.order_by(col(User.id))) if i is not None]


def send_daily_digests(
    db: Database, *, renderer: MailRenderer, links: Links, now: datetime | None = None
) -> int:
    """At 8:00 in each seller's time zone (or at the end of their quiet hours), one digest of the
    events they chose "in the digest" and of their rooms' activity since the last one, only
    when there is something to say. At most one per person and local day, in any number of
    processes (a unique row per user and day is the claim)."""
    now = now or utcnow()
    sent = 0
    for user_id in _active_users(db):
        with db.session() as session:
            user = session.get(User, user_id)
            if user is not None and _digest_for(
                session, user=user, renderer=renderer, links=links, now=now
            ):
                sent += 1
    return sent


def team_summary(session: Session, *, org_id: int, links: Links, now: datetime) -> dict[str, Any]:
    """The weekly manager summary: rooms by health, cold deals, the most engaged rooms (read
    with scores and dashboard)."""
    from . import dashboard, scores

    rooms = scores.org_rooms(session, org_id=org_id)
    scored = scores.score_rooms(session, org_id=org_id, rooms=rooms, now=now)
    counts = {h: sum(1 for s in scored if s.health == h) for h in scores.HEALTHS}

    def row(s: Any) -> dict[str, Any]:
        return {
            "room": s.room,
            "owner": s.owner.display_name if s.owner else "",
            "score": s.score,
            "silent_days": s.silent_days,
            "reasons": s.reasons[:2],
            "url": links.seller_room(s.room),
        }

    cold = [row(s) for s in dashboard.cold_deals(scored)[:10]]
    engaged = sorted(
        (s for s in scored if s.last_buyer_activity is not None),
        key=lambda s: (-s.score, s.room.name.lower()),
    )
    return {
        "total": len(scored),
        "health": [{"health": h, "count": counts[h]} for h in scores.HEALTHS],
        "cold": cold,
        "top": [row(s) for s in engaged[:5]],
        "url": links.base_url + "/dashboard/team",
    }


def _weekly_for(
    session: Session, *, user: User, renderer: MailRenderer, links: Links, now: datetime
) -> bool:
    zone = zone_of(user)
    local = now.astimezone(zone)
    if local.weekday() != WEEKLY_WEEKDAY or local.hour < DIGEST_HOUR:
        return False
    if preferences(session, user=user).quiet(zone, now):
        return False
    if not _claim_day(session, user=user, kind="weekly", day=local.date(), now=now):
        return False
    with i18n.using(user.locale, user.timezone):  # the reasons are sentences, in their language
        summary = team_summary(session, org_id=user.org_id, links=links, now=now)
    if not summary["total"]:
        return False  # a team without rooms has nothing to review
    queue_mail(
        session,
        renderer=renderer,
        to=user.email,
        template="team_summary",
        org_id=user.org_id,
        locale=user.locale,
        timezone=user.timezone,
        context={"name": user.display_name, "day": local.date(), **summary},
    )
    return True


def send_weekly_summaries(
    db: Database, *, renderer: MailRenderer, links: Links, now: datetime | None = None
) -> int:
    """Monday 8:00 local: the team summary to each manager and admin, once per week."""
    now = now or utcnow()
    sent = 0
    for user_id in _active_users(db, managers=True):
        with db.session() as session:
            user = session.get(User, user_id)
            if user is not None and _weekly_for(
                session, user=user, renderer=renderer, links=links, now=now
            ):
                sent += 1
    return sent


# ---------------------------------------------------------------- retention and erasure

KEEP_SENT = timedelta(days=30)


def erase_viewer(session: Session, *, invite: Invite) -> int:
    """Forget the notification events about one person (with tracking's erasure)."""
    return int(
        session.exec(
            sa_delete(NotificationEvent).where(col(NotificationEvent.invite_id) == pk(invite))
        ).rowcount
        or 0
    )


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Delete what no longer matters: sent events, finished Slack posts and digest claims
    older than KEEP_SENT (pending events stay until they are sent)."""
    cutoff = (now or utcnow()) - KEEP_SENT
    deleted = 0
    for statement in (
        sa_delete(NotificationEvent).where(
            col(NotificationEvent.status) == "sent", col(NotificationEvent.at) < cutoff
        ),
        sa_delete(SlackPost).where(
            col(SlackPost.status).in_(("sent", "failed")), col(SlackPost.created_at) < cutoff
        ),
        sa_delete(DigestSent).where(col(DigestSent.sent_at) < cutoff - KEEP_SENT),
    ):
        deleted += int(session.exec(statement).rowcount or 0)
    return deleted


# ---------------------------------------------------------------- Slack


def post_json(url: str, payload: Mapping[str, Any], *, timeout: float = SLACK_TIMEOUT) -> None:
    """POST JSON; raises OSError (urllib's errors are OSErrors) on failure or a non-2xx answer."""
    body = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by the caller
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


def deliver_slack(
    db: Database,
    *,
    now: datetime | None = None,
    prefix: str = SLACK_PREFIX,
    post: Callable[[str, Mapping[str, Any]], None] = post_json,
    limit: int = 50,
) -> int:
    """Send queued Slack posts to each seller's webhook (read at sending time, so fixing the
    URL fixes the queue); failures are logged and retried with backoff, then given up."""
    now = now or utcnow()
    with db.session(write=False) as session:
        due = session.exec(
            select(SlackPost.id)
            .where(SlackPost.status == "queued", col(SlackPost.next_attempt_at) <= now)
            .order_by(col(SlackPost.id))
            .limit(limit)
        ).all()
    sent = 0
    for post_id in due:
        with db.session() as session:
            claimed = session.exec(
                update(SlackPost)
                .where(col(SlackPost.id) == post_id, col(SlackPost.status) == "queued")
                .values(status="sending", attempts=col(SlackPost.attempts) + 1)
            ).rowcount
            row = session.get(SlackPost, post_id) if claimed == 1 else None
            pref = session.get(NotificationPref, row.user_id) if row is not None else None
        if row is None:
            continue
        url = pref.slack_url if pref is not None else ""
        error = ""
        if not url.startswith(prefix):
            error = "no Slack webhook URL set"
        else:
            try:
                post(url, {"text": row.text})
            except (OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        with db.session() as session:
            fresh = session.get(SlackPost, post_id)
            assert fresh is not None
            if not error:
                fresh.status, fresh.sent_at, fresh.last_error = "sent", utcnow(), ""
                sent += 1
            elif fresh.attempts >= SLACK_ATTEMPTS or not url:
                fresh.status, fresh.last_error = "failed", error
                log.error("slack post %s failed for good: %s", post_id, error)
            else:
                fresh.status, fresh.last_error = "queued", error
                fresh.next_attempt_at = now + timedelta(seconds=30 * 2 ** (fresh.attempts - 1))
                log.warning("slack post %s will be retried: %s", post_id, error)
    return sent
