"""Champion view: the buyer marked "champion" sees which colleagues have opened each item.

Only where the seller enabled it for the room, and only about colleagues who were told: the
tracking notice names the champion view while it is on, and a colleague appears to the champion
only once that notice was shown to them after it was (last) enabled. Someone who acknowledged the
notice before it was enabled sees it again, naming the view, on their next room page. The view
says opened / not yet per key item (the items the seller marked as key, by section; all of the
room's items until the seller marks some) and nothing else: no times, no pages. A colleague who paused tracking shows as "tracking paused", never as "not yet".

ChampionSetting   per room: whether the seller enabled it, and since when
ChampionNotice    per invite: when the tracking notice mentioning the champion view was
                  first shown to them after it was (last) enabled, and when they answered it
ChampionItem      the room's key items, chosen by the seller: the view lists only those (no
                  choice: every item of the room)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from . import audit
from .accounts import User
from .content import RoomContent, RoomItem, SectionView, room_content
from .db import pk, utcnow
from .errors import InvalidInput, NotFound
from .i18n import _
from .invites import Invite, list_invites
from .rooms import Room
from .tracking import ViewerItemStat

CHAMPION_ROLE = "champion"
STATUSES = ("opened", "not_yet", "paused")


class ChampionSetting(SQLModel, table=True):
    __tablename__ = "champion_setting"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", unique=True)
    enabled_at: datetime | None = None  # None: off
    updated_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow)


class ChampionNotice(SQLModel, table=True):
    __tablename__ = "champion_notice"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    invite_id: int = Field(foreign_key="invite.id", unique=True)
    shown_at: datetime | None = None  # the notice naming the champion view was shown
    answered_at: datetime | None = None  # ... and answered (OK or pause)


class ChampionItem(SQLModel, table=True):
    """One of a room's key items for the champion view (gone with the item)."""

    __tablename__ = "champion_item"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    room_item_id: int = Field(foreign_key="room_item.id", unique=True, ondelete="CASCADE")


def _aware(value: datetime | None) -> datetime | None:
    # Aware from the column type; a bare select of one column skips it on SQLite.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


# ---------------------------------------------------------------- the seller's switch


def enabled_at(session: Session, *, room: Room) -> datetime | None:
    """When the champion view was (last) enabled in this room; None while it is off."""
    value = session.exec(
        select(ChampionSetting.enabled_at).where(ChampionSetting.room_id == pk(room))
    ).first()
    return _aware(value)


def set_enabled(session: Session, *, room: Room, user: User, enabled: bool) -> ChampionSetting:
    setting = session.exec(
        select(ChampionSetting).where(ChampionSetting.room_id == pk(room))
    ).first()
    if (setting is not None and setting.enabled_at is not None) == enabled:
        return setting or ChampionSetting(org_id=room.org_id, room_id=pk(room))  # no change
    if setting is None:
        setting = ChampionSetting(org_id=room.org_id, room_id=pk(room))
        session.add(setting)
    now = utcnow()
    setting.enabled_at = now if enabled else None
    setting.updated_by_id = pk(user)
    setting.updated_at = now
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=user.public_id,
        action="room.champion_enabled" if enabled else "room.champion_disabled",
        target=room.public_id,
    )
    return setting


def key_items(session: Session, *, room: Room) -> set[int]:
    """The room items the seller marked as key (empty: none marked, every item is shown)."""
    return set(
        session.exec(
            select(ChampionItem.room_item_id).where(
                ChampionItem.org_id == room.org_id, ChampionItem.room_id == pk(room)
            )
        )
    )


def set_key_items(session: Session, *, room: Room, user: User, item_ids: list[str]) -> set[int]:
    """Mark exactly these room items (public ids) as the room's key items; none: every item.
    An id that is not an item of this room is a field error, and nothing changes."""
    wanted = set(item_ids)
    found = {
        public_id: item_id
        for public_id, item_id in session.exec(
            select(RoomItem.public_id, RoomItem.id).where(
                RoomItem.org_id == room.org_id,
                RoomItem.room_id == pk(room),
                col(RoomItem.public_id).in_(wanted),
            )
        )
        if item_id is not None
    }
    if wanted - set(found):
        raise InvalidInput(fields={"items": _("Choose documents of this room.")})
    chosen = set(found.values())
    current = {
        row.room_item_id: row
        for row in session.exec(select(ChampionItem).where(ChampionItem.room_id == pk(room)))
    }
    if chosen == set(current):
        return chosen
    for item_id, row in current.items():
        if item_id not in chosen:
            session.delete(row)
    session.add_all(
        ChampionItem(org_id=room.org_id, room_id=pk(room), room_item_id=item_id)
        for item_id in chosen - set(current)
    )
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=user.public_id,
        action="room.champion_items",
        target=room.public_id,
        items=sorted(found),
    )
    return chosen


# ---------------------------------------------------------------- the notice


@dataclass(frozen=True)
class Notice:
    mention: bool  # the tracking notice names the champion view (it is on)
    pending: bool  # ... and this buyer has not answered that notice yet: show it again
    champion: bool = False  # ... and this buyer is the champion: link to the view


def _notice_row(session: Session, invite: Invite) -> ChampionNotice | None:
    return session.exec(
        select(ChampionNotice).where(ChampionNotice.invite_id == pk(invite))
    ).first()


def _ensure_row(session: Session, room: Room, invite: Invite) -> ChampionNotice:
    row = _notice_row(session, invite)
    if row is None:
        row = ChampionNotice(org_id=room.org_id, room_id=pk(room), invite_id=pk(invite))
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # a concurrent first request wrote it
            row = _notice_row(session, invite)
            assert row is not None
    return row


def notice(
    session: Session, *, room: Room, invite: Invite | None, now: datetime | None = None
) -> Notice:
    """What the room page's tracking notice says about the champion view, for this buyer. The
    page shows the notice whenever `pending`, so calling this records that it was shown."""
    since = enabled_at(session, room=room)
    if since is None or invite is None:
        return Notice(mention=since is not None, pending=False)
    row = _notice_row(session, invite)
    answered = _aware(row.answered_at) if row is not None else None
    pending = answered is None or answered < since
    if pending:
        shown = _aware(row.shown_at) if row is not None else None
        if shown is None or shown < since:
            row = row or _ensure_row(session, room, invite)
            row.shown_at = now or utcnow()
    return Notice(mention=True, pending=pending, champion=is_champion(invite))


def answer_notice(
    session: Session, *, room: Room, invite: Invite, now: datetime | None = None
) -> None:
    """The buyer answered the notice naming the champion view (OK, or pause)."""
    row = _ensure_row(session, room, invite)
    row.answered_at = now or utcnow()
    row.shown_at = row.shown_at or row.answered_at


# ---------------------------------------------------------------- the view


@dataclass
class Colleague:
    public_id: str
    name: str
    role: str
    paused: bool
    opened: int = 0  # items opened


@dataclass
class ChampionView:
    content: RoomContent  # the key items (every item when the seller marked none)
    colleagues: list[Colleague]
    hidden: int  # colleagues not shown: not told about the view yet
    opened: set[tuple[int, str]] = field(default_factory=set)  # (room item id, invite public id)
    key_only: bool = False  # the seller marked key items: `content` is those

    def status(self, item_id: int, colleague: Colleague) -> str:
        """opened | not_yet | paused"""
        if colleague.paused:
            return "paused"
        return "opened" if (item_id, colleague.public_id) in self.opened else "not_yet"


def is_champion(invite: Invite | None) -> bool:
    return invite is not None and invite.role == CHAMPION_ROLE and not invite.revoked


def champion_view(session: Session, *, room: Room, viewer: Invite | None) -> ChampionView:
    """The champion's view of the room: items by section, and per colleague opened / not yet /
    tracking paused. `viewer` None is a seller previewing it (everyone told is listed).
    NotFound unless the view is on and the viewer is the room's champion."""
    since = enabled_at(session, room=room)
    if since is None or (viewer is not None and not is_champion(viewer)):
        raise NotFound(_("This page is not available."))
    told_rows = session.exec(
        select(ChampionNotice.invite_id, ChampionNotice.shown_at).where(
            ChampionNotice.room_id == pk(room)
        )
    ).all()
    told = {
        invite_id
        for invite_id, shown in told_rows
        if shown is not None and shown.replace(tzinfo=shown.tzinfo or UTC) >= since
    }
    others = [
        i
        for i in list_invites(session, room=room)
        if not i.revoked and (viewer is None or i.id != viewer.id)
    ]
    colleagues = [
        Colleague(i.public_id, i.display_name, i.role, i.tracking_paused_at is not None)
        for i in others
        if i.id in told
    ]
    by_id = {i.id: i.public_id for i in others if i.id in told}
    opened: set[tuple[int, str]] = set()
    if by_id:
        rows = session.exec(
            select(ViewerItemStat.room_item_id, ViewerItemStat.invite_id).where(
                ViewerItemStat.room_id == pk(room), col(ViewerItemStat.invite_id).in_(by_id)
            )
        )
        opened = {(item_id, by_id[invite_id]) for item_id, invite_id in rows}
    listing = room_content(session, room=room)
    keys = key_items(session, room=room)
    if keys:
        listing = RoomContent(
            [
                SectionView(group.section, [v for v in group.items if v.item.id in keys])
                for group in listing.sections
            ]
        )
    item_ids = {view.item.id for view in listing.items}
    opened = {pair for pair in opened if pair[0] in item_ids}
    for colleague in colleagues:
        if not colleague.paused:
            colleague.opened = sum(1 for _i, who in opened if who == colleague.public_id)
    return ChampionView(
        listing,
        colleagues,
        hidden=len(others) - len(colleagues),
        opened=opened,
        key_only=bool(keys),
    )
