"""Buyer access: personal invite links, forwarded-link verification, access requests.

An invite is a person in a room. Its link is a signed token; the first browser that opens it is
bound to the invite. Any other browser (a forwarded link) must say who it is: the invitee
themselves, or a colleague on one of the room's allowed domains, proves it with a 6-digit code
sent by email; anyone else leaves an access request the seller approves or denies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import func, or_, update
from sqlmodel import Field, Session, SQLModel, col, select

from . import audit, i18n, ratelimit, validate
from .accounts import User
from .db import get_by_public_id, pk, utcnow
from .errors import AccessRevoked, Conflict, LinkProblem, NotFound, PermissionDenied
from .i18n import _, ngettext
from .ids import has_prefix, new_id
from .links import Links
from .notify import MailRenderer, queue_mail
from .rooms import Room
from .security import Signer, TokenInvalid, keyed_hash, six_digit_code

BUYER_ROLES = (
    "champion",
    "economic_buyer",
    "technical_evaluator",
    "legal_procurement",
    "end_user",
    "other",
)


class Invite(SQLModel, table=True):
    __tablename__ = "invite"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("inv"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    email: str = Field(max_length=254)
    name: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=30)
    source: str = Field(default="seller", max_length=20)  # seller | verified | request
    invited_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    last_sent_at: datetime | None = None
    first_opened_at: datetime | None = None
    last_seen_at: datetime | None = None
    revoked_at: datetime | None = None
    # The language this person last used in the room (None until they visit): their mails use it.
    locale: str | None = Field(default=None, max_length=10)
    # Tracking consent: nothing is recorded before the notice was shown, nor while paused.
    tracking_notice_at: datetime | None = None  # first shown (tracking may start)
    tracking_ack_at: datetime | None = None  # dismissed with "OK" (the banner goes away)
    tracking_paused_at: datetime | None = None
    # When the room owner was told this person's unopened link is about to expire (at most once
    # per link sent: a resend, a fresh link, may be reminded about again).
    expiry_reminded_at: datetime | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class InviteDevice(SQLModel, table=True):
    """A browser allowed to use an invite (the first opener, plus any verified by code)."""

    __tablename__ = "invite_device"
    id: int | None = Field(default=None, primary_key=True)
    invite_id: int = Field(foreign_key="invite.id", index=True)
    device_hash: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class AccessRequest(SQLModel, table=True):
    __tablename__ = "access_request"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("areq"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    email: str = Field(max_length=254)
    name: str = Field(default="", max_length=200)
    message: str = Field(default="", max_length=1000)
    via_invite_id: int | None = Field(default=None, foreign_key="invite.id")
    status: str = Field(default="pending", max_length=20)  # pending | approved | denied
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    invite_id: int | None = Field(default=None, foreign_key="invite.id")


class EmailCode(SQLModel, table=True):
    __tablename__ = "email_code"
    id: int | None = Field(default=None, primary_key=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    email: str = Field(max_length=254)
    device_hash: str = Field(max_length=64)
    code_hash: str = Field(max_length=64)
    attempts: int = 0
    expires_at: datetime
    used_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class AccessPolicy:
    """The knobs of buyer access, taken from settings."""

    secret_key: str
    code_expiry: timedelta = timedelta(minutes=10)
    code_attempts: int = 5


class LinkState(Enum):
    GRANTED = "granted"  # this browser may enter as the invitee
    UNCLAIMED = "unclaimed"  # nobody opened the link yet: the first browser to confirm claims it
    FORWARDED = "forwarded"  # another browser holds this link: the newcomer must say who they are


@dataclass
class LinkOpening:
    state: LinkState
    invite: Invite
    room: Room


# ---------------------------------------------------------------- seller side


def _invite_context(
    links: Links, room: Room, invite: Invite, seller: User | None
) -> dict[str, object]:
    return {"room": room, "invite": invite, "seller": seller, "link": links.invite(invite)}


def create_invite(
    session: Session,
    *,
    room: Room,
    seller: User,
    email: str,
    name: str = "",
    role: str = "",
    links: Links,
    renderer: MailRenderer,
    send: bool = True,
) -> Invite:
    if room.archived:
        raise Conflict(_("This room is archived. Restore it before inviting people."))
    values = validate.gather(
        {
            "email": lambda: validate.email(email),
            "name": lambda: validate.text(name, "name", label=_("Name"), required=False),
            "role": lambda: validate.choice(
                role, "role", label=_("Role"), options=("", *BUYER_ROLES), default=""
            ),
        }
    )
    email, name, role = (str(values[k]) for k in ("email", "name", "role"))
    existing = session.exec(
        select(Invite).where(Invite.room_id == room.id, Invite.email == email)
    ).first()
    if existing is not None and not existing.revoked:
        raise Conflict(
            _(
                "%(email)s is already invited to this room. Use “Resend” to send the link again.",
                email=email,
            )
        )
    if existing is not None:
        # Re-inviting someone who was revoked restores them rather than creating a twin.
        invite = existing
        invite.revoked_at = None
        invite.name = name or invite.name
        invite.role = role or invite.role
    else:
        invite = Invite(
            org_id=room.org_id,
            room_id=pk(room),
            email=email,
            name=name,
            role=role,
            invited_by_id=seller.id,
        )
        session.add(invite)
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=seller.public_id,
        action="invite.created",
        target=invite.public_id,
        room=room.public_id,
        email=email,
    )
    if send:
        _send_invite(
            session, links=links, renderer=renderer, room=room, invite=invite, seller=seller
        )
    return invite


def mail_locale(session: Session, *, invite: Invite | None, room: Room) -> str:
    """The language of mails to a buyer: the one they last used in the room, else the room
    owner's (a seller invites people who usually share their language)."""
    if invite is not None and invite.locale:
        return invite.locale
    owner = session.get(User, room.owner_id)
    return owner.locale if owner is not None else i18n.DEFAULT_LOCALE


def remember_locale(invite: Invite, locale: str) -> None:
    """Record the language a buyer is using, for the mails they get later."""
    if invite.locale != locale and i18n.normalize_locale(locale) == locale:
        invite.locale = locale


def _send_invite(
    session: Session,
    *,
    links: Links,
    renderer: MailRenderer,
    room: Room,
    invite: Invite,
    seller: User | None,
    locale: str | None = None,
) -> None:
    queue_mail(
        session,
        renderer=renderer,
        to=invite.email,
        template="invite",
        org_id=room.org_id,
        context=_invite_context(links, room, invite, seller),
        locale=locale or mail_locale(session, invite=invite, room=room),
    )
    invite.last_sent_at = utcnow()


def resend_invite(
    session: Session,
    *,
    room: Room,
    seller: User,
    invite: Invite,
    links: Links,
    renderer: MailRenderer,
) -> Invite:
    if invite.revoked:
        raise Conflict(_("This person's access was revoked. Invite them again to restore it."))
    if room.archived:
        raise Conflict(_("This room is archived. Restore it before resending invites."))
    ratelimit.consume(
        session,
        f"resend:{invite.public_id}",
        limit=5,
        window=timedelta(hours=1),
        message=_(
            "This invite was resent several times in the last hour. Please wait before sending it again."
        ),
    )
    _send_invite(session, links=links, renderer=renderer, room=room, invite=invite, seller=seller)
    audit.record(
        session,
        org_id=room.org_id,
        actor=seller.public_id,
        action="invite.resent",
        target=invite.public_id,
    )
    return invite


def revoke_invite(session: Session, *, room: Room, seller: User, invite: Invite) -> Invite:
    if not invite.revoked:
        invite.revoked_at = utcnow()
        audit.record(
            session,
            org_id=room.org_id,
            actor=seller.public_id,
            action="invite.revoked",
            target=invite.public_id,
        )
    return invite


def list_invites(session: Session, *, room: Room, include_revoked: bool = True) -> list[Invite]:
    query = select(Invite).where(Invite.room_id == room.id)
    if not include_revoked:
        query = query.where(col(Invite.revoked_at).is_(None))
    return list(session.exec(query.order_by(col(Invite.created_at), col(Invite.id))))


def get_invite(session: Session, *, room: Room, invite_id: str) -> Invite:
    return get_by_public_id(
        session,
        Invite,
        invite_id,
        prefix="inv",
        missing=_("No such person in this room."),
        room_id=room.id,
    )


def count_invites(session: Session, *, room_ids: list[int]) -> dict[int, int]:
    if not room_ids:
        return {}
    rows = session.exec(
        select(Invite.room_id, func.count())
        .where(col(Invite.room_id).in_(room_ids), col(Invite.revoked_at).is_(None))
        .group_by(col(Invite.room_id))
    ).all()
    return dict(rows)


def pending_requests(session: Session, *, room: Room) -> list[AccessRequest]:
    query = select(AccessRequest).where(
        AccessRequest.room_id == room.id, AccessRequest.status == "pending"
    )
    return list(session.exec(query.order_by(col(AccessRequest.created_at))))


def get_request(session: Session, *, room: Room, request_id: str) -> AccessRequest:
    return get_by_public_id(
        session,
        AccessRequest,
        request_id,
        prefix="areq",
        missing=_("No such access request."),
        room_id=room.id,
    )


def decide_request(
    session: Session,
    *,
    room: Room,
    seller: User,
    request: AccessRequest,
    approve: bool,
    links: Links,
    renderer: MailRenderer,
) -> AccessRequest:
    if request.status != "pending":
        if request.status == "approved":
            raise Conflict(_("This request was already approved."))
        raise Conflict(_("This request was already denied."))
    request.status = "approved" if approve else "denied"
    request.decided_at, request.decided_by_id = utcnow(), seller.id
    if approve:
        existing = session.exec(
            select(Invite).where(Invite.room_id == room.id, Invite.email == request.email)
        ).first()
        if existing is not None and not existing.revoked:
            invite = existing
            _send_invite(
                session, links=links, renderer=renderer, room=room, invite=invite, seller=seller
            )
        else:
            invite = create_invite(
                session,
                room=room,
                seller=seller,
                email=request.email,
                name=request.name,
                links=links,
                renderer=renderer,
            )
            invite.source = "request"
        request.invite_id = invite.id
    else:
        queue_mail(
            session,
            renderer=renderer,
            to=request.email,
            template="access_denied",
            org_id=room.org_id,
            context={"room": room, "request": request, "seller": seller},
            # Not a member of the room: the language of the room's owner.
            locale=mail_locale(session, invite=None, room=room),
        )
    audit.record(
        session,
        org_id=room.org_id,
        actor=seller.public_id,
        action=f"access_request.{request.status}",
        target=request.public_id,
        email=request.email,
    )
    return request


# ---------------------------------------------------------------- buyer side


def _bound_devices(session: Session, invite: Invite) -> list[str]:
    return list(
        session.exec(select(InviteDevice.device_hash).where(InviteDevice.invite_id == invite.id))
    )


def bind_device(session: Session, *, invite: Invite, device_hash: str) -> None:
    if device_hash not in _bound_devices(session, invite):
        session.add(InviteDevice(invite_id=pk(invite), device_hash=device_hash))
    now = utcnow()
    invite.first_opened_at = invite.first_opened_at or now
    invite.last_seen_at = now


def ensure_room_open(room: Room) -> None:
    if room.archived:
        raise PermissionDenied(_("This deal room has been closed by its owner."))


def inspect_link(session: Session, *, signer: Signer, token: str, device_hash: str) -> LinkOpening:
    """What opening this link means for this browser, without claiming anything. Mail security
    scanners fetch links before people click them, so a plain GET must never claim an invite."""
    invite, room = invite_for_token(session, signer=signer, token=token, check_expiry=True)
    devices = _bound_devices(session, invite)
    if not devices:
        return LinkOpening(LinkState.UNCLAIMED, invite, room)
    if device_hash in devices:
        return LinkOpening(LinkState.GRANTED, invite, room)
    return LinkOpening(LinkState.FORWARDED, invite, room)


def open_link(session: Session, *, signer: Signer, token: str, device_hash: str) -> LinkOpening:
    """A browser enters through a personal link: the first one claims it, the same one returns,
    any other is a forwarded link."""
    opening = inspect_link(session, signer=signer, token=token, device_hash=device_hash)
    if opening.state is LinkState.FORWARDED:
        return opening
    bind_device(session, invite=opening.invite, device_hash=device_hash)
    return LinkOpening(LinkState.GRANTED, opening.invite, opening.room)


def invite_for_token(
    session: Session, *, signer: Signer, token: str, check_expiry: bool
) -> tuple[Invite, Room]:
    try:
        payload, signed_at = signer.unsign_timed("invite", token)
    except TokenInvalid:
        raise LinkProblem(
            "tampered", _("This link is not valid. It may have been cut off or changed.")
        ) from None
    invite_id = payload.get("i") if isinstance(payload, dict) else None
    invite = None
    if isinstance(invite_id, str) and has_prefix(invite_id, "inv"):
        invite = session.exec(select(Invite).where(Invite.public_id == invite_id)).first()
    room = session.get(Room, invite.room_id) if invite is not None else None
    if invite is None or room is None:
        raise LinkProblem("unknown", _("We could not find the room this link belongs to."))
    ensure_room_open(room)
    if invite.revoked:
        raise AccessRevoked(_("Your access to this room was revoked."))
    if check_expiry and utcnow() - signed_at > timedelta(days=room.invite_expiry_days):
        raise LinkProblem("expired", _("This link has expired."))
    return invite, room


def request_fresh_link(
    session: Session, *, invite: Invite, room: Room, links: Links, renderer: MailRenderer
) -> None:
    """From an expired link: mail a new one, but only to the invite's own address."""
    ratelimit.consume(
        session,
        f"fresh-link:{invite.public_id}",
        limit=3,
        window=timedelta(hours=1),
        message=_(
            "A new link was already sent several times. Please check your inbox or wait an hour."
        ),
    )
    # Asked for from the browser in use right now: mail in the language it shows.
    _send_invite(
        session,
        links=links,
        renderer=renderer,
        room=room,
        invite=invite,
        seller=None,
        locale=i18n.current_locale(),
    )


class VerifyOutcome(Enum):
    CODE_SENT = "code_sent"
    REQUESTED = "requested"


def start_verification(
    session: Session,
    *,
    policy: AccessPolicy,
    room: Room,
    via: Invite,
    email: str,
    name: str,
    message: str,
    device_hash: str,
    renderer: MailRenderer,
) -> VerifyOutcome:
    """A newcomer holding a forwarded link says who they are."""
    ensure_room_open(room)
    email = validate.email(email)
    ratelimit.consume(
        session,
        f"verify-start:{device_hash}",
        limit=10,
        window=timedelta(hours=1),
        message=_("Too many verification attempts from this browser. Please try again later."),
    )
    ratelimit.consume(
        session,
        f"verify-email:{room.id}:{email}",
        limit=5,
        window=timedelta(hours=1),
        message=_(
            "Several codes were already sent to this address. Please check your inbox or try again later."
        ),
    )
    existing = session.exec(
        select(Invite).where(Invite.room_id == room.id, Invite.email == email)
    ).first()
    if existing is not None and existing.revoked:
        raise AccessRevoked(_("Your access to this room was revoked."))
    if existing is not None or validate.domain_of(email) in room.domains:
        code = six_digit_code()
        session.add(
            EmailCode(
                room_id=pk(room),
                email=email,
                device_hash=device_hash,
                code_hash=keyed_hash(policy.secret_key, f"{room.id}:{email}:{code}"),
                expires_at=utcnow() + policy.code_expiry,
            )
        )
        queue_mail(
            session,
            renderer=renderer,
            to=email,
            template="verify_code",
            org_id=room.org_id,
            locale=i18n.current_locale(),  # the code is awaited in this very browser
            context={
                "room": room,
                "code": code,
                "minutes": int(policy.code_expiry.total_seconds() // 60),
            },
        )
        return VerifyOutcome.CODE_SENT
    pending = session.exec(
        select(AccessRequest).where(
            AccessRequest.room_id == room.id,
            AccessRequest.email == email,
            AccessRequest.status == "pending",
        )
    ).first()
    if pending is None:
        name = validate.text(name, "name", label=_("Name"), required=False)
        message = validate.long_text(message, "message", label=_("Message"), max_length=1000)
        request = AccessRequest(
            org_id=room.org_id,
            room_id=pk(room),
            email=email,
            name=name,
            message=message,
            via_invite_id=via.id,
        )
        session.add(request)
        session.flush()
        owner = session.get(User, room.owner_id)
        if owner is not None:
            queue_mail(
                session,
                renderer=renderer,
                to=owner.email,
                template="access_request",
                org_id=room.org_id,
                locale=owner.locale,
                timezone=owner.timezone,
                context={"room": room, "request": request, "via": via},
            )
        audit.record(
            session,
            org_id=room.org_id,
            actor=email,
            action="access_request.created",
            target=request.public_id,
            via=via.public_id,
        )
    return VerifyOutcome.REQUESTED


@dataclass
class CodeCheck:
    """Outcome of a code entry. A wrong code is an outcome, not an exception, because the
    attempt counter it bumps must be committed."""

    invite: Invite | None = None
    error: str = ""
    locked: bool = False


def confirm_code(
    session: Session,
    *,
    policy: AccessPolicy,
    room: Room,
    email: str,
    code: str,
    device_hash: str,
    inviter: User | None,
) -> CodeCheck:
    """Check a 6-digit code; on success this browser is bound to the person's own invite."""
    ensure_room_open(room)
    email = validate.email(email)
    code = "".join(ch for ch in str(code or "") if ch.isdigit())
    now = utcnow()
    row = session.exec(
        select(EmailCode)
        .where(
            EmailCode.room_id == room.id,
            EmailCode.email == email,
            EmailCode.device_hash == device_hash,
        )
        .where(col(EmailCode.used_at).is_(None))
        .order_by(col(EmailCode.created_at).desc(), col(EmailCode.id).desc())
    ).first()
    if row is None or row.expires_at < now:
        return CodeCheck(error=_("This code has expired. Ask for a new one."), locked=True)
    if row.attempts >= policy.code_attempts:
        return CodeCheck(error=_("Too many wrong codes. Ask for a new code."), locked=True)
    if (
        len(code) != 6
        or keyed_hash(policy.secret_key, f"{room.id}:{email}:{code}") != row.code_hash
    ):
        row.attempts += 1
        left = policy.code_attempts - row.attempts
        if left <= 0:
            return CodeCheck(error=_("Too many wrong codes. Ask for a new code."), locked=True)
        return CodeCheck(
            error=ngettext(
                "That code is not right. %(num)d attempt left.",
                "That code is not right. %(num)d attempts left.",
                left,
            )
        )
    row.used_at = now
    invite = session.exec(
        select(Invite).where(Invite.room_id == room.id, Invite.email == email)
    ).first()
    if invite is not None and invite.revoked:
        raise AccessRevoked(_("Your access to this room was revoked."))
    if invite is None:
        invite = Invite(
            org_id=room.org_id,
            room_id=pk(room),
            email=email,
            source="verified",
            invited_by_id=inviter.id if inviter else None,
        )
        session.add(invite)
        session.flush()
        audit.record(
            session,
            org_id=room.org_id,
            actor=email,
            action="invite.verified",
            target=invite.public_id,
        )
    bind_device(session, invite=invite, device_hash=device_hash)
    return CodeCheck(invite=invite)


def viewer_invite(session: Session, *, room: Room, invite_id: str) -> Invite:
    """The invite a buyer cookie claims for this room, re-checked on every request."""
    ensure_room_open(room)
    if not has_prefix(invite_id, "inv"):
        raise NotFound(_("Open your personal invite link to enter this room."))
    invite = session.exec(
        select(Invite).where(Invite.public_id == invite_id, Invite.room_id == room.id)
    ).first()
    if invite is None:
        raise NotFound(_("Open your personal invite link to enter this room."))
    if invite.revoked:
        raise AccessRevoked(_("Your access to this room was revoked."))
    now = utcnow()
    if invite.last_seen_at is None or (now - invite.last_seen_at).total_seconds() > 60:
        invite.last_seen_at = now
    return invite


# ---------------------------------------------------------------- expiry reminders


@dataclass(frozen=True)
class ExpiringLink:
    invite: Invite
    room: Room
    expires_at: datetime


def expiring_links(session: Session, *, now: datetime, before: timedelta) -> list[ExpiringLink]:
    """Invites whose personal link was sent, never opened, and expires within `before` (but
    not before half its lifetime has passed: a one-day link is not "about to expire" at once),
    whose owner was not yet reminded about this link."""
    query = (
        select(Invite, Room)
        .join(Room, col(Room.id) == col(Invite.room_id))
        .where(
            col(Invite.revoked_at).is_(None),
            col(Invite.first_opened_at).is_(None),
            col(Invite.last_sent_at).is_not(None),
            # Links live at most 365 days (rooms.room_fields): older ones expired long ago.
            col(Invite.last_sent_at) > now - timedelta(days=365),
            or_(
                col(Invite.expiry_reminded_at).is_(None),
                col(Invite.expiry_reminded_at) < col(Invite.last_sent_at),
            ),
            col(Room.archived_at).is_(None),
        )
        .order_by(col(Invite.last_sent_at), col(Invite.id))
    )
    found = []
    for invite, room in session.exec(query):
        sent = invite.last_sent_at
        if sent is None:  # pragma: no cover - filtered above; for the type checker
            continue
        lifetime = timedelta(days=room.invite_expiry_days)
        expires_at = sent + lifetime
        if max(expires_at - before, sent + lifetime / 2) <= now < expires_at:
            found.append(ExpiringLink(invite, room, expires_at))
    return found


def remind_expiring_links(
    session: Session,
    *,
    renderer: MailRenderer,
    links: Links,
    before: timedelta,
    now: datetime | None = None,
) -> int:
    """Mail each room owner the people whose unopened invite link expires soon (one mail per
    owner listing them all, once per link sent), so they can nudge them or resend the link.
    Returns how many invites were reminded about. Each invite is claimed with a conditional
    UPDATE first, so two runs at once never remind twice."""
    now = now or utcnow()
    by_owner: dict[int, list[ExpiringLink]] = {}
    for item in expiring_links(session, now=now, before=before):
        claimed = session.exec(
            update(Invite)
            .where(
                col(Invite.id) == pk(item.invite),
                or_(
                    col(Invite.expiry_reminded_at).is_(None),
                    col(Invite.expiry_reminded_at) < col(Invite.last_sent_at),
                ),
            )
            .values(expiry_reminded_at=now)
        ).rowcount
        if claimed == 1:
            by_owner.setdefault(item.room.owner_id, []).append(item)
    reminded = 0
    for owner_id, items in by_owner.items():
        owner = session.get(User, owner_id)
        if owner is None or owner.disabled_at is not None:
            continue
        by_room: dict[int, list[ExpiringLink]] = {}
        for item in items:
            by_room.setdefault(pk(item.room), []).append(item)
        rooms = [
            {"room": group[0].room, "url": links.seller_room(group[0].room), "people": group}
            for group in by_room.values()
        ]
        queue_mail(
            session,
            renderer=renderer,
            to=owner.email,
            template="invite_expiry",
            org_id=owner.org_id,
            context={"name": owner.display_name, "count": len(items), "rooms": rooms},
        )
        reminded += len(items)
    return reminded
