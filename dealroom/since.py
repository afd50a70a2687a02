"""'Since your last visit': what changed in a room for one buyer since their previous visit.

    RoomMark    per invite: when the buyer last opened the room page, when this visit started,
                the previous visit's end (the baseline of the banner) and whether they
                dismissed the banner in this visit

A *visit*, here, is a run of room-page opens with no gap longer than `VISIT_GAP` (the same
30 minutes tracking uses). The marker is our own, not tracking's `Visit` rows: a buyer who paused
tracking has no visits stored, yet still deserves the banner. Tracking's visits are read (only
when the marker alone says a new visit starts) to refine it: a buyer tracking saw in the room
all along (reading a document for an hour, say) is still in the same visit; a previous visit that
went on past the last room-page open ends when tracking last saw it; and a buyer with no marker
yet (the first visit since this feature existed) gets their last tracked visit as the baseline.

The baseline (`since_at`) is fixed when a visit starts, so reloads within one visit show the
same banner until the buyer dismisses it; `last_seen_at` is written at most once per `TOUCH`,
so a reload costs no write. Changes made by the buyer themselves are never listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from .accounts import User
from .chat import Message
from .content import CURRENT_VERSION, Document, DocumentVersion, ItemSeen, RoomItem
from .db import pk, utcnow
from .invites import Invite
from .notes import Note, NoteRevision
from .rooms import Room
from .tasks import AT_RISK_WITHIN_DAYS, Task
from .tracking import Visit

VISIT_GAP = timedelta(minutes=30)  # a longer silence starts a new visit
TOUCH = timedelta(minutes=5)  # last_seen_at is written at most this often
MAX_LISTED = 8  # documents / tasks / notes named in the banner, each (the rest are counted)
MAX_MESSAGES = 99  # new messages counted exactly; more show as "99+"
MAX_AUTHORS = 3  # chat authors named (most messages first); more show as "and others"


class RoomMark(SQLModel, table=True):
    __tablename__ = "room_mark"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int = Field(foreign_key="invite.id", unique=True)
    last_seen_at: datetime  # the last room-page open (to within TOUCH)
    visit_started_at: datetime
    since_at: datetime | None = None  # the previous visit's end; None on a first visit
    dismissed_at: datetime | None = None  # the banner was closed during this visit


# ---------------------------------------------------------------- the marker


def _recent_visits(session: Session, *, invite: Invite) -> list[tuple[datetime, datetime]]:
    """The buyer's two latest tracked visits, (started, last seen), newest first: read-only use
    of tracking, whose visits also count time on document pages, not only the room page."""
    rows = session.exec(
        select(Visit.started_at, Visit.last_seen_at)
        .where(Visit.invite_id == pk(invite))
        .order_by(col(Visit.last_seen_at).desc())
        .limit(2)
    ).all()
    return [(_utc(started), _utc(seen)) for started, seen in rows]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    # The column type hands back aware datetimes; aggregates (max) bypass it on SQLite.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def open_room(
    session: Session, *, room: Room, invite: Invite, now: datetime | None = None
) -> RoomMark:
    """Record that the buyer opened the room page; returns their marker. A new visit (more than
    VISIT_GAP since they last saw the room) moves the baseline to the end of the previous one
    and brings a dismissed banner back."""
    now = now or utcnow()
    mark = session.exec(select(RoomMark).where(RoomMark.invite_id == pk(invite))).first()
    if mark is None:
        ended = [
            seen for _s, seen in _recent_visits(session, invite=invite) if seen < now - VISIT_GAP
        ]
        mark = RoomMark(
            org_id=room.org_id,
            room_id=pk(room),
            invite_id=pk(invite),
            last_seen_at=now,
            visit_started_at=now,
            since_at=ended[0] if ended else None,
        )
        # Two first requests at once: the second one reads the row the first one wrote.
        try:
            with session.begin_nested():
                session.add(mark)
        except IntegrityError:
            mark = session.exec(select(RoomMark).where(RoomMark.invite_id == pk(invite))).one()
        return mark
    last = _utc(mark.last_seen_at)
    if now - last > VISIT_GAP:
        visits = _recent_visits(session, invite=invite)
        if visits and visits[0][1] >= now - VISIT_GAP and visits[0][0] <= last + VISIT_GAP:
            # Tracking saw them in the room all along (reading documents, say): same visit.
            mark.last_seen_at = now
            return mark
        mark.since_at = max([last, *(seen for _s, seen in visits if seen < now - VISIT_GAP)])
        mark.visit_started_at = mark.last_seen_at = now
        mark.dismissed_at = None
    elif now - last >= TOUCH:
        mark.last_seen_at = now
    return mark


def dismiss(session: Session, *, invite: Invite, now: datetime | None = None) -> None:
    """Close the banner for the rest of this visit."""
    mark = session.exec(select(RoomMark).where(RoomMark.invite_id == pk(invite))).first()
    if mark is not None and mark.dismissed_at is None:
        mark.dismissed_at = now or utcnow()


# ---------------------------------------------------------------- what changed


@dataclass(frozen=True)
class DocumentChange:
    public_id: str  # the room item's
    title: str
    kind: str  # new | updated


@dataclass(frozen=True)
class TaskChange:
    public_id: str
    title: str
    due_date: date | None
    assigned: bool  # assigned to them (or changed) since the last visit
    due_soon: bool  # open and due within AT_RISK_WITHIN_DAYS days


@dataclass(frozen=True)
class NoteChange:
    public_id: str
    title: str
    new: bool  # False: updated (it was shared with them before)


@dataclass
class Changes:
    since: datetime
    documents: list[DocumentChange] = field(default_factory=list)
    tasks: list[TaskChange] = field(default_factory=list)
    notes: list[NoteChange] = field(default_factory=list)
    messages: int = 0  # at most MAX_MESSAGES + 1: more than MAX_MESSAGES
    message_authors: list[str] = field(default_factory=list)  # at most MAX_AUTHORS + 1
    more_documents: int = 0  # beyond MAX_LISTED

    @property
    def max_messages(self) -> int:
        return MAX_MESSAGES

    @property
    def authors_named(self) -> list[str]:
        return self.message_authors[:MAX_AUTHORS]

    @property
    def more_authors(self) -> bool:
        return len(self.message_authors) > MAX_AUTHORS

    def __bool__(self) -> bool:
        return bool(self.documents or self.tasks or self.notes or self.messages)


def _documents(session: Session, room: Room, invite: Invite, since: datetime) -> list[Any]:
    seen = (col(ItemSeen.room_item_id) == col(RoomItem.id)) & (
        col(ItemSeen.invite_id) == pk(invite)
    )
    query = (
        sa_select(
            col(RoomItem.public_id),
            col(Document.title),
            col(RoomItem.created_at),
        )
        .select_from(RoomItem)
        .join(Document, col(Document.id) == col(RoomItem.document_id))
        .join(DocumentVersion, CURRENT_VERSION, isouter=True)
        .join(ItemSeen, seen, isouter=True)
        .where(
            col(RoomItem.room_id) == pk(room),
            col(Document.org_id) == room.org_id,
            # Added, or a version they have not opened arrived, since the last visit (a link
            # has no version rows: its current_version moves when its address changes).
            or_(
                col(RoomItem.created_at) > since,
                col(DocumentVersion.created_at) > since,
                and_(
                    col(Document.kind) == "link",
                    col(Document.current_version) > 1,
                    col(Document.updated_at) > since,
                ),
            ),
            or_(
                col(ItemSeen.version_seen).is_(None),
                col(ItemSeen.version_seen) < col(Document.current_version),
            ),
        )
        .order_by(col(RoomItem.position), col(RoomItem.id))
    )
    return list(session.connection().execute(query))


def _tasks(
    session: Session, room: Room, invite: Invite, since: datetime, today: date
) -> list[TaskChange]:
    horizon = today + timedelta(days=AT_RISK_WITHIN_DAYS)
    changed = and_(
        col(Task.updated_at) > since,
        or_(col(Task.created_by_invite_id).is_(None), col(Task.created_by_invite_id) != pk(invite)),
    )
    due = and_(col(Task.due_date) >= today, col(Task.due_date) <= horizon)
    rows = session.connection().execute(
        sa_select(
            col(Task.public_id), col(Task.title), col(Task.due_date), changed.label("changed")
        )
        .where(
            col(Task.room_id) == pk(room),
            col(Task.owner_invite_id) == pk(invite),
            col(Task.status) != "done",
            or_(changed, due),
        )
        .order_by(col(Task.due_date).is_(None), col(Task.due_date), col(Task.id))
        .limit(MAX_LISTED)
    )
    return [
        TaskChange(
            public_id=public_id,
            title=title,
            due_date=due_date,
            assigned=bool(was_changed),
            due_soon=due_date is not None and today <= due_date <= horizon,
        )
        for public_id, title, due_date, was_changed in rows
    ]


def _notes(session: Session, room: Room, since: datetime) -> list[NoteChange]:
    # Was the note shared with the buyer at `since`? Its last revision saved by then says.
    shared_then = (
        sa_select(col(NoteRevision.visibility))
        .where(
            col(NoteRevision.note_id) == col(Note.id),
            col(NoteRevision.created_at) <= since,
        )
        .order_by(col(NoteRevision.number).desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = session.connection().execute(
        sa_select(col(Note.public_id), col(Note.title), shared_then)
        .where(
            col(Note.room_id) == pk(room),
            col(Note.org_id) == room.org_id,
            col(Note.deleted_at).is_(None),
            col(Note.visibility) == "shared",
            col(Note.updated_at) > since,
        )
        .order_by(col(Note.updated_at).desc(), col(Note.id).desc())
        .limit(MAX_LISTED)
    )
    return [NoteChange(public_id, title, before != "shared") for public_id, title, before in rows]


def _messages(
    session: Session,
    room: Room,
    invite: Invite,
    since: datetime,
    users: Sequence[User] | None,
    invites: Sequence[Invite] | None,
) -> tuple[int, list[str]]:
    """New buyer-visible messages by anyone else: how many (counted up to MAX_MESSAGES + 1, so a
    month away from a busy room costs no more than a day), and who wrote them."""
    newest = (
        sa_select(col(Message.author_user_id), col(Message.author_invite_id))
        .where(
            col(Message.room_id) == pk(room),
            col(Message.created_at) > since,
            col(Message.internal).is_(False),
            or_(
                col(Message.author_invite_id).is_(None),
                col(Message.author_invite_id) != pk(invite),
            ),
        )
        .order_by(col(Message.created_at).desc())
        .limit(MAX_MESSAGES + 1)
        .subquery()
    )
    rows = list(
        session.connection().execute(
            sa_select(newest.c.author_user_id, newest.c.author_invite_id, func.count()).group_by(
                newest.c.author_user_id, newest.c.author_invite_id
            )
        )
    )
    if not rows:
        return 0, []
    user_ids = {u for u, _i, _n in rows if u is not None}
    invite_ids = {i for _u, i, _n in rows if i is not None}
    if users is None:
        users = list(session.exec(select(User).where(col(User.id).in_(user_ids))))
    if invites is None:
        invites = list(session.exec(select(Invite).where(col(Invite.id).in_(invite_ids))))
    names: dict[tuple[str, int | None], str] = {
        ("u", u.id): u.display_name for u in users if u.id in user_ids
    }
    names.update({("i", i.id): i.display_name for i in invites if i.id in invite_ids})
    authors: list[str] = []
    for user_id, invite_id, _n in sorted(rows, key=lambda r: -r[2]):
        name = names.get(("u", user_id) if user_id is not None else ("i", invite_id))
        if name and name not in authors:
            authors.append(name)
    return sum(n for _u, _i, n in rows), authors


def changes_since(
    session: Session,
    *,
    room: Room,
    invite: Invite,
    since: datetime,
    today: date | None = None,
    users: Sequence[User] | None = None,
    invites: Sequence[Invite] | None = None,
) -> Changes:
    """What changed in the room for this buyer after `since`: one query per kind. A page that
    loaded the organisation's `users` and the room's `invites` already passes them, so chat
    authors are named without another query."""
    today = today or utcnow().date()
    documents = [
        DocumentChange(public_id, title, "new" if _utc(added) > since else "updated")
        for public_id, title, added in _documents(session, room, invite, since)
    ]
    messages, authors = _messages(session, room, invite, since, users, invites)
    return Changes(
        since=since,
        documents=documents[:MAX_LISTED],
        more_documents=max(0, len(documents) - MAX_LISTED),
        tasks=_tasks(session, room, invite, since, today),
        notes=_notes(session, room, since),
        messages=messages,
        message_authors=authors[: MAX_AUTHORS + 1],
    )


def banner(
    session: Session,
    *,
    room: Room,
    invite: Invite,
    now: datetime | None = None,
    users: Sequence[User] | None = None,
    invites: Sequence[Invite] | None = None,
) -> Changes | None:
    """The room page's 'since your last visit' banner: None on a first visit, once dismissed
    in this visit, or when nothing changed."""
    now = now or utcnow()
    mark = open_room(session, room=room, invite=invite, now=now)
    since = _aware(mark.since_at)
    if since is None or mark.dismissed_at is not None:
        return None
    changes = changes_since(
        session,
        room=room,
        invite=invite,
        since=since,
        today=now.date(),
        users=users,
        invites=invites,
    )
    return changes or None
