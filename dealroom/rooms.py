"""Deal rooms: one invite-only microsite per deal, always scoped to the seller's organisation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypedDict, cast

from sqlalchemy import func, or_
from sqlmodel import Field, Session, SQLModel, col, select

from . import validate
from .accounts import User
from .db import get_by_public_id, pk, utcnow
from .i18n import _
from .ids import has_prefix, new_id

# The fields a seller sets on a room (forms and API alike); _fields validates exactly these.
EDITABLE_FIELDS = (
    "name",
    "buyer_company",
    "stage",
    "welcome_message",
    "allowed_domains",
    "invite_expiry_days",
    "retention_days",
)
STAGES = ("discovery", "evaluation", "decision", "closed-won", "closed-lost")


class Room(SQLModel, table=True):
    __tablename__ = "room"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("room"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    owner_id: int = Field(foreign_key="user_account.id", index=True)
    name: str = Field(max_length=200)
    buyer_company: str = Field(max_length=200)
    buyer_logo_file_id: int | None = Field(default=None, foreign_key="stored_file.id")
    welcome_message: str = Field(default="", max_length=5000)
    stage: str = Field(default="discovery", max_length=20)
    # Comma separated; a forwarded link lets people on these domains verify themselves in.
    allowed_domains: str = Field(default="", max_length=2000)
    invite_expiry_days: int = Field(default=30)
    # Raw viewing events older than this are deleted (tracking.purge_expired_in_chunks);
    # rollups stay.
    retention_days: int = Field(default=365)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    archived_at: datetime | None = None

    @property
    def domains(self) -> list[str]:
        return [d for d in self.allowed_domains.split(",") if d]

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class _RoomFields(TypedDict, total=False):
    name: str
    buyer_company: str
    stage: str
    welcome_message: str
    allowed_domains: str
    invite_expiry_days: int
    retention_days: int


# How long raw viewing events may be kept: at least a month (trends need it), at most ten years.
RETENTION_DAYS = (30, 3650)


def _fields(data: dict[str, object], *, partial: bool) -> _RoomFields:
    """Validate the editable fields present in `data` (all required ones unless partial)."""
    checks: dict[str, Callable[[], object]] = {
        "name": lambda: validate.text(data.get("name"), "name", label=_("Deal name")),
        "buyer_company": lambda: validate.text(
            data.get("buyer_company"), "buyer_company", label=_("Buyer company")
        ),
        "stage": lambda: validate.choice(
            data.get("stage"), "stage", label=_("Stage"), options=STAGES, default="discovery"
        ),
        "welcome_message": lambda: validate.long_text(
            data.get("welcome_message"), "welcome_message", label=_("Welcome message")
        ),
        "allowed_domains": lambda: ",".join(validate.domains(data.get("allowed_domains"))),
        "invite_expiry_days": lambda: validate.integer(
            data.get("invite_expiry_days"),
            "invite_expiry_days",
            label=_("Link lifetime (days)"),
            minimum=1,
            maximum=365,
        ),
        "retention_days": lambda: validate.integer(
            data.get("retention_days"),
            "retention_days",
            label=_("Keep viewing events for (days)"),
            minimum=RETENTION_DAYS[0],
            maximum=RETENTION_DAYS[1],
        ),
    }
    if partial:
        checks = {key: check for key, check in checks.items() if key in data}
    for key in ("invite_expiry_days", "retention_days"):
        if data.get(key) in (None, ""):
            # Empty means "keep the default" (or the current value when editing).
            checks.pop(key, None)
    # Each check above returns the type its key has in _RoomFields.
    return cast(_RoomFields, validate.gather(checks))


def create_room(
    session: Session,
    *,
    user: User,
    data: dict[str, object],
    default_expiry_days: int = 30,
    default_retention_days: int = 365,
) -> Room:
    values = _fields(data, partial=False)
    values.setdefault("invite_expiry_days", default_expiry_days)
    values.setdefault("retention_days", default_retention_days)
    room = Room(org_id=user.org_id, owner_id=pk(user), **values)
    session.add(room)
    session.flush()
    return room


def update_room(session: Session, *, room: Room, data: dict[str, object]) -> Room:
    for key, value in _fields(data, partial=True).items():
        setattr(room, key, value)
    room.updated_at = utcnow()
    return room


def archive_room(session: Session, *, room: Room) -> Room:
    if room.archived_at is None:
        room.archived_at = utcnow()
        room.updated_at = room.archived_at
    return room


def restore_room(session: Session, *, room: Room) -> Room:
    room.archived_at = None
    room.updated_at = utcnow()
    return room


def get_room(session: Session, *, org_id: int, room_id: str) -> Room:
    """The room, if it belongs to this organisation; otherwise NotFound (never another tenant's)."""
    return get_by_public_id(
        session, Room, room_id, prefix="room", missing=_("Room not found."), org_id=org_id
    )


def get_room_by_public_id(session: Session, room_id: str) -> Room | None:
    """Unscoped lookup for the buyer side, where access is proven by a signed invite instead."""
    if not has_prefix(room_id, "room"):
        return None
    return session.exec(select(Room).where(Room.public_id == room_id)).first()


def list_rooms(
    session: Session,
    *,
    org_id: int,
    search: str = "",
    archived: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> list[Room]:
    query = select(Room).where(Room.org_id == org_id)
    archived_at = col(Room.archived_at)
    query = query.where(archived_at.is_not(None) if archived else archived_at.is_(None))
    search = " ".join(str(search or "").split())[:100]
    if search:
        # Escape LIKE's wildcards: a search for "50%" means the characters, not "50 and anything".
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                func.lower(Room.name).like(pattern, escape="\\"),
                func.lower(Room.buyer_company).like(pattern, escape="\\"),
            )
        )
    query = query.order_by(col(Room.updated_at).desc(), col(Room.id).desc())
    query = query.limit(limit).offset(offset)
    return list(session.exec(query))


def count_rooms(session: Session, *, org_id: int) -> int:
    return session.exec(select(func.count()).select_from(Room).where(Room.org_id == org_id)).one()
