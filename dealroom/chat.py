"""Room chat: one conversation per room between the seller team and the buyer committee, plus
seller-only internal notes.

A message is written by a seller (`User`) or a buyer (`Invite`). Internal notes are only ever
written by sellers and are never shown to buyers by any function here: every read takes a
`seller` flag and filters them out otherwise. `@mentions` are resolved against the room's members
(the organisation's sellers and the room's active invites) and stored as `MessageMention` rows.

Mails are grouped: posting a message only queues a `ChatNotice` per person to tell; the
`send_digests` job sends at most one mail per person (per email address) per `DIGEST_WINDOW`,
summarising everything new, and claims its work with conditional UPDATEs so several app
processes can run it at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import Index, and_, func, insert, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from . import markdown, ratelimit, validate
from .accounts import Org, User
from .db import Database, pk, utcnow
from .errors import Conflict, InvalidInput, NotFound, PermissionDenied
from .i18n import _
from .ids import has_prefix, new_id
from .invites import Invite
from .links import Links
from .notify import MailRenderer, queue_mail
from .rooms import Room

MAX_BODY = 4000
START = "start"  # the stream cursor of a page that shows no message yet
PAGE_SIZE = 50
RATE_LIMIT = 20  # messages per author per room ...
RATE_WINDOW = timedelta(minutes=1)  # ... in this window
DIGEST_WINDOW = timedelta(minutes=5)  # at most one chat mail per person in this window
EXCERPT = 280  # characters of a message quoted in a mail

Author = User | Invite


class Message(SQLModel, table=True):
    __tablename__ = "chat_message"
    # Paging walks a room's history by (created_at, id).
    __table_args__ = (Index("ix_chat_message_room_created", "room_id", "created_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("msg"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id")
    author_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    author_invite_id: int | None = Field(default=None, foreign_key="invite.id")
    body: str = Field(max_length=MAX_BODY)
    internal: bool = False  # a seller-only note: never visible to buyers
    created_at: datetime = Field(default_factory=utcnow)


class MessageMention(SQLModel, table=True):
    __tablename__ = "chat_mention"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="chat_message.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    invite_id: int | None = Field(default=None, foreign_key="invite.id")


class ChatNotice(SQLModel, table=True):
    """Someone to tell about a message by mail; sent (grouped) by `send_digests`."""

    __tablename__ = "chat_notice"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    message_id: int = Field(foreign_key="chat_message.id", index=True)
    # Mails are grouped per address: one person, one mailbox.
    recipient_email: str = Field(max_length=254, index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    invite_id: int | None = Field(default=None, foreign_key="invite.id")
    reason: str = Field(max_length=20)  # mention | buyer_message
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None, index=True)  # also set when skipped


class ChatDigest(SQLModel, table=True):
    """When each address last got a chat mail; the row is the lock that spaces mails out."""

    __tablename__ = "chat_digest"
    recipient_email: str = Field(primary_key=True, max_length=254)
    last_sent_at: datetime | None = None


# ---------------------------------------------------------------- people


@dataclass(frozen=True)
class Member:
    """Someone in a room: a seller of the organisation or an active invite of the room."""

    kind: str  # seller | buyer
    id: int
    public_id: str
    name: str
    email: str

    @property
    def seller(self) -> bool:
        return self.kind == "seller"


def members(session: Session, *, room: Room) -> list[Member]:
    sellers = session.exec(
        select(User)
        .where(User.org_id == room.org_id, col(User.disabled_at).is_(None))
        .order_by(col(User.id))
    ).all()
    buyers = session.exec(
        select(Invite)
        .where(Invite.room_id == room.id, col(Invite.revoked_at).is_(None))
        .order_by(col(Invite.id))
    ).all()
    return [
        *(Member("seller", pk(u), u.public_id, u.display_name, u.email) for u in sellers),
        *(Member("buyer", pk(i), i.public_id, i.display_name, i.email) for i in buyers),
    ]


def _handles(member: Member) -> list[set[str]]:
    """What `@…` may say to reach this person, strongest first: the email address, the full
    name (spaces removed or replaced by . _ -), the email's local part, the first name."""
    words = member.name.lower().split() if member.name != member.email else []
    full = {sep.join(words) for sep in ("", ".", "_", "-")} if len(words) > 1 else set(words)
    first = {words[0]} if len(words) > 1 else set()
    return [{member.email.lower()}, full, {member.email.lower().split("@")[0]}, first]


def name_mentions(tokens: Iterable[str], people: Sequence[Member]) -> dict[str, Member]:
    """Each `@token` that names a member, with that member. A token naming several people at its
    strongest level (two colleagues called Ken) names nobody rather than the wrong person."""
    handles = {member: _handles(member) for member in people}
    named: dict[str, Member] = {}
    for token in tokens:
        for level in range(4):
            matches = [m for m in people if token in handles[m][level]]
            if matches:
                if len(matches) == 1:
                    named.setdefault(token, matches[0])
                break
    return named


def resolve_mentions(tokens: Iterable[str], people: Sequence[Member]) -> list[Member]:
    """The members that `@tokens` name (each once, in order; see `name_mentions`)."""
    return list(dict.fromkeys(name_mentions(tokens, people).values()))


# ---------------------------------------------------------------- writing


def _author_ids(author: Author) -> tuple[int | None, int | None]:
    return (pk(author), None) if isinstance(author, User) else (None, pk(author))


def post_message(
    session: Session, *, room: Room, author: Author, body: str, internal: bool = False
) -> Message:
    """Write a message as `author` (a seller of the room's organisation or a buyer invited to the
    room), resolve its mentions and queue the notifications it causes."""
    if isinstance(author, User):
        if author.org_id != room.org_id:
            raise NotFound(_("Room not found."))
    elif author.room_id != room.id or author.revoked:
        raise PermissionDenied(_("You cannot write in this room."))
    elif internal:
        raise PermissionDenied(_("Only the seller team can write internal notes."))
    if room.archived:
        raise Conflict(_("This room is archived. Restore it to continue the conversation."))
    text = validate.long_text(body, "body", label=_("Message"), max_length=MAX_BODY)
    if not text:
        raise InvalidInput(fields={"body": _("Write a message first.")})
    ratelimit.consume(
        session,
        f"chat:{room.public_id}:{author.public_id}",
        limit=RATE_LIMIT,
        window=RATE_WINDOW,
        message=_(
            "You are sending messages too quickly (at most %(limit)s a minute). "
            "Please wait a moment and send it again.",
            limit=RATE_LIMIT,
        ),
    )
    user_id, invite_id = _author_ids(author)
    message = Message(
        org_id=room.org_id,
        room_id=pk(room),
        author_user_id=user_id,
        author_invite_id=invite_id,
        body=text,
        internal=internal,
    )
    session.add(message)
    session.flush()
    tokens = markdown.mentions(text)
    people = members(session, room=room) if tokens else []
    mentioned = [
        m
        for m in resolve_mentions(tokens, people)
        if m.seller or not internal  # buyers are never told about, nor tied to, internal notes
    ]
    for m in mentioned:
        session.add(
            MessageMention(
                message_id=pk(message),
                user_id=m.id if m.seller else None,
                invite_id=None if m.seller else m.id,
            )
        )
    _queue_notices(session, room=room, message=message, author=author, mentioned=mentioned)
    session.flush()
    return message


def _owner_wants_mail(session: Session, user: User, message: Message) -> bool:
    # The owner's "buyer message" notification is this chat mail; their preference may move it
    # to the daily digest or turn it off (see dealroom.notifications).
    from . import notifications

    return notifications.route_chat_message(session, owner=user, message=message)


def _queue_notices(
    session: Session,
    *,
    room: Room,
    message: Message,
    author: Author,
    mentioned: list[Member],
) -> None:
    recipients: dict[tuple[str, int], tuple[Member, str]] = {}
    if isinstance(author, Invite):
        user = session.get(User, room.owner_id)
        if (
            user is not None
            and user.disabled_at is None
            and _owner_wants_mail(session, user, message)
        ):
            owner = Member("seller", pk(user), user.public_id, user.display_name, user.email)
            recipients[(owner.kind, owner.id)] = (owner, "buyer_message")
    for m in mentioned:
        recipients[(m.kind, m.id)] = (m, "mention")
    me = ("seller" if isinstance(author, User) else "buyer", pk(author))
    recipients.pop(me, None)
    for member, reason in recipients.values():
        if message.internal and not member.seller:
            continue  # never, whatever the reason
        session.add(
            ChatNotice(
                org_id=room.org_id,
                room_id=pk(room),
                message_id=pk(message),
                recipient_email=member.email.lower(),
                user_id=member.id if member.seller else None,
                invite_id=None if member.seller else member.id,
                reason=reason,
            )
        )


def channel(room: Room | str) -> str:
    """The live channel of a room's chat."""
    return "chat:" + (room if isinstance(room, str) else room.public_id)


def live_event(room: Room, message: Message) -> dict[str, Any]:
    """What goes over the live channel: ids only (receivers read the message from the database),
    plus the internal flag so buyers' streams skip internal notes without a query."""
    return {"room": room.public_id, "msg": message.public_id, "internal": message.internal}


# ---------------------------------------------------------------- reading


@dataclass
class Entry:
    """A message ready to show: who wrote it and on which side."""

    message: Message
    author_name: str
    author_id: str  # usr_… or inv_…
    side: str  # seller | buyer
    team: str  # the seller organisation's name, or the buyer company
    mentions: list[str] = field(default_factory=list)  # public ids
    # The message's @handles shown highlighted: each names one of `mentions` (see _handles_of).
    handles: dict[str, str] = field(default_factory=dict)  # handle -> public id

    @property
    def html(self) -> Markup:
        """The body for any reader (the API): mentions highlighted, none marked as the reader's."""
        return markdown.render(self.message.body, mentioned=self.handles)

    def html_for(self, reader: str) -> Markup:
        """The body as `reader` (a usr_… or inv_… id) sees it: their own mentions stand out."""
        mine = [handle for handle, person in self.handles.items() if person == reader]
        return markdown.render(self.message.body, mentioned=self.handles, me=mine)


@dataclass
class Page:
    entries: list[Entry]
    earlier: str | None  # the `before` of the previous page, when there is one


def _visible(query: Any, *, room: Room, seller: bool) -> Any:
    query = query.where(Message.room_id == room.id)
    return query if seller else query.where(col(Message.internal).is_(False))


def _entries(
    session: Session,
    *,
    room: Room,
    messages: Sequence[Message],
    known_users: Sequence[User] = (),
    known_invites: Sequence[Invite] = (),
) -> list[Entry]:
    """`known_users` and `known_invites`, already loaded by the page, are not looked up again."""
    if not messages:
        return []
    users: dict[int | None, User] = {u.id: u for u in known_users}
    invites: dict[int | None, Invite] = {i.id: i for i in known_invites}
    user_ids = {m.author_user_id for m in messages if m.author_user_id is not None} - set(users)
    invite_ids = {m.author_invite_id for m in messages if m.author_invite_id is not None} - set(
        invites
    )
    if user_ids:
        users.update(
            (u.id, u) for u in session.exec(select(User).where(col(User.id).in_(user_ids)))
        )
    if invite_ids:
        invites.update(
            (i.id, i) for i in session.exec(select(Invite).where(col(Invite.id).in_(invite_ids)))
        )
    org = session.get(Org, room.org_id)
    mention_rows = session.exec(
        select(MessageMention).where(col(MessageMention.message_id).in_([pk(m) for m in messages]))
    ).all()
    mentioned_users = {r.user_id for r in mention_rows if r.user_id is not None} - set(users)
    mentioned_invites = {r.invite_id for r in mention_rows if r.invite_id is not None} - set(
        invites
    )
    if mentioned_users:
        users.update(
            (u.id, u) for u in session.exec(select(User).where(col(User.id).in_(mentioned_users)))
        )
    if mentioned_invites:
        invites.update(
            (i.id, i)
            for i in session.exec(select(Invite).where(col(Invite.id).in_(mentioned_invites)))
        )
    mention_map: dict[int, list[str]] = {}
    for row in mention_rows:
        person = users.get(row.user_id) if row.user_id else invites.get(row.invite_id)
        if person is not None:
            mention_map.setdefault(row.message_id, []).append(person.public_id)
    people = members(session, room=room) if mention_map else []
    out = []
    for m in messages:
        if m.author_user_id is not None:
            user = users.get(m.author_user_id)
            name, author_id = (user.display_name, user.public_id) if user else ("?", "")
            side, team = "seller", org.name if org else ""
        else:
            invite = invites.get(m.author_invite_id)
            name, author_id = (invite.display_name, invite.public_id) if invite else ("?", "")
            side, team = "buyer", room.buyer_company
        mentioned = mention_map.get(pk(m), [])
        handles = _handles_of(m, mentioned, people) if mentioned else {}
        out.append(Entry(m, name, author_id, side, team, mentioned, handles))
    return out


def _handles_of(message: Message, mentioned: list[str], people: Sequence[Member]) -> dict[str, str]:
    """Which @handles of the message to highlight: those that name a room member, resolved as
    when it was posted (`name_mentions`), and only when that member was recorded as mentioned
    then (so, as for notifications, never a buyer in an internal note)."""
    named = name_mentions(markdown.mentions(message.body), people)
    return {
        handle: member.public_id
        for handle, member in named.items()
        if member.public_id in mentioned
    }


def get_message(session: Session, *, room: Room, message_id: str, seller: bool) -> Message:
    """A message of this room that this side may see; NotFound otherwise (an internal note
    does not exist for a buyer)."""
    if not has_prefix(message_id, "msg"):
        raise NotFound(_("No such message in this room."))
    query = _visible(select(Message), room=room, seller=seller)
    message = session.exec(query.where(Message.public_id == message_id)).first()
    if message is None:
        raise NotFound(_("No such message in this room."))
    return message


def _before(message: Message) -> Any:
    return or_(
        col(Message.created_at) < message.created_at,
        and_(col(Message.created_at) == message.created_at, col(Message.id) < message.id),
    )


def _after(message: Message) -> Any:
    return or_(
        col(Message.created_at) > message.created_at,
        and_(col(Message.created_at) == message.created_at, col(Message.id) > message.id),
    )


def list_messages(
    session: Session,
    *,
    room: Room,
    seller: bool,
    before: str | None = None,
    limit: int = PAGE_SIZE,
    users: Sequence[User] = (),
    invites: Sequence[Invite] = (),
) -> Page:
    """The latest `limit` messages (oldest first), or those just before message `before`.
    `users` and `invites` the caller has loaded already are used for the authors' names."""
    limit = max(1, min(limit, 200))
    query = _visible(select(Message), room=room, seller=seller)
    if before:
        query = query.where(
            _before(get_message(session, room=room, message_id=before, seller=seller))
        )
    rows = list(
        session.exec(
            query.order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit][::-1]
    entries = _entries(session, room=room, messages=rows, known_users=users, known_invites=invites)
    return Page(entries, rows[0].public_id if more else None)


def messages_after(
    session: Session, *, room: Room, seller: bool, after: str, limit: int = 100
) -> list[Entry]:
    """Messages newer than message `after` (oldest first): what a reconnecting stream missed.
    `after="start"` means from the beginning: a page that showed no message yet must still get
    one posted between its render and its stream's opening."""
    query = _visible(select(Message), room=room, seller=seller)
    if after != START:
        try:
            cursor = get_message(session, room=room, message_id=after, seller=seller)
        except NotFound:
            return []
        query = query.where(_after(cursor))
    rows = session.exec(query.order_by(col(Message.created_at), col(Message.id)).limit(limit))
    return _entries(session, room=room, messages=list(rows))


def get_entry(session: Session, *, room: Room, message_id: str, seller: bool) -> Entry | None:
    try:
        message = get_message(session, room=room, message_id=message_id, seller=seller)
    except NotFound:
        return None
    return _entries(session, room=room, messages=[message])[0]


def current_readers(
    session: Session, *, room: Room, sellers: Mapping[int, int], invites: Iterable[int]
) -> tuple[set[int], set[int]]:
    """Of these sellers (user id -> the session epoch they signed in with) and buyers (invite
    ids), those who may still read the room: one query per side, for many open streams at once.
    The same rules as a page request: an active seller of the room's organisation whose sessions
    were not ended since; an invite of this room, not revoked, while the room is open."""
    allowed_sellers: set[int] = set()
    if sellers:
        rows = session.exec(
            select(User.id, User.session_epoch).where(
                col(User.id).in_(list(sellers)),
                User.org_id == room.org_id,
                col(User.disabled_at).is_(None),
            )
        ).all()
        allowed_sellers = {uid for uid, epoch in rows if uid is not None and sellers[uid] == epoch}
    allowed_invites: set[int] = set()
    wanted = list(invites)
    if wanted and not room.archived:
        found = session.exec(
            select(Invite.id).where(
                col(Invite.id).in_(wanted),
                Invite.room_id == room.id,
                col(Invite.revoked_at).is_(None),
            )
        ).all()
        allowed_invites = {i for i in found if i is not None}
    return allowed_sellers, allowed_invites


def count_messages(session: Session, *, room: Room, seller: bool) -> int:
    query = _visible(select(func.count()).select_from(Message), room=room, seller=seller)
    return session.exec(query).one()


# ---------------------------------------------------------------- grouped notification mails


def _plain(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


def _insert_ignore(session: Session, email: str) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.exec(
            postgresql.insert(ChatDigest)
            .values(recipient_email=email, last_sent_at=None)
            .on_conflict_do_nothing()
        )
    elif dialect == "sqlite":
        session.exec(
            sqlite.insert(ChatDigest)
            .values(recipient_email=email, last_sent_at=None)
            .on_conflict_do_nothing()
        )
    elif session.get(ChatDigest, email) is None:  # pragma: no cover - other databases
        session.exec(insert(ChatDigest).values(recipient_email=email, last_sent_at=None))


def _still_addressed(session: Session, notice: ChatNotice, message: Message | None) -> bool:
    """Re-check, at sending time, that this person may still read the message."""
    room = session.get(Room, notice.room_id)
    if message is None or room is None:
        return False
    if notice.invite_id is not None:
        invite = session.get(Invite, notice.invite_id)
        return (
            invite is not None
            and not invite.revoked
            and not room.archived
            and not message.internal
            and invite.room_id == room.id
        )
    user = session.get(User, notice.user_id) if notice.user_id is not None else None
    return user is not None and user.disabled_at is None and user.org_id == room.org_id


def _digest_for(
    session: Session,
    *,
    email: str,
    renderer: MailRenderer,
    links: Links,
    now: datetime,
    window: timedelta,
) -> bool:
    pending = list(
        session.exec(
            select(ChatNotice)
            .where(ChatNotice.recipient_email == email, col(ChatNotice.sent_at).is_(None))
            .order_by(col(ChatNotice.id))
        )
    )
    if not pending:
        return False
    from . import notifications

    if notifications.quiet_now(session, email=email, now=now):
        return False  # a seller's quiet hours: the notices wait, they are not dropped
    messages = {
        m.id: m
        for m in session.exec(
            select(Message).where(col(Message.id).in_({n.message_id for n in pending}))
        )
    }
    keep = [n for n in pending if _still_addressed(session, n, messages.get(n.message_id))]
    dropped = [pk(n) for n in pending if n not in keep]
    if dropped:
        session.exec(
            update(ChatNotice)
            .where(col(ChatNotice.id).in_(dropped), col(ChatNotice.sent_at).is_(None))
            .values(sent_at=now)
        )
    if not keep:
        return False
    _insert_ignore(session, email)
    # The window is claimed with one conditional UPDATE: of several processes, one wins; the
    # others (and this one, until the window is over) leave the notices pending.
    claimed = session.exec(
        update(ChatDigest)
        .where(
            col(ChatDigest.recipient_email) == email,
            or_(
                col(ChatDigest.last_sent_at).is_(None), col(ChatDigest.last_sent_at) <= now - window
            ),
        )
        .values(last_sent_at=now)
    ).rowcount
    if claimed != 1:
        return False
    taken = session.exec(
        update(ChatNotice)
        .where(col(ChatNotice.id).in_([pk(n) for n in keep]), col(ChatNotice.sent_at).is_(None))
        .values(sent_at=now)
    ).rowcount
    if taken != len(keep):  # pragma: no cover - the digest row lock makes this unreachable
        raise RuntimeError("chat notices were claimed twice")
    _queue_digest(
        session, email=email, notices=keep, messages=messages, renderer=renderer, links=links
    )
    return True


def _queue_digest(
    session: Session,
    *,
    email: str,
    notices: list[ChatNotice],
    messages: dict[int | None, Message],
    renderer: MailRenderer,
    links: Links,
) -> None:
    rooms: dict[int, dict[str, Any]] = {}
    name = email
    for notice in notices:
        room = session.get(Room, notice.room_id)
        message = messages[notice.message_id]
        assert room is not None  # checked by _still_addressed
        buyer = notice.invite_id is not None
        person = (
            session.get(Invite, notice.invite_id) if buyer else session.get(User, notice.user_id)
        )
        if person is not None:
            name = person.display_name
        group = rooms.setdefault(
            pk(room),
            {
                "room": room,
                # Group mails carry the room's address, never a personal invite link.
                "url": links.buyer_room(room) if buyer else links.seller_room(room),
                "messages": [],
                "seen": set(),
            },
        )
        if message.id in group["seen"]:
            continue
        group["seen"].add(message.id)
        [entry] = _entries(session, room=room, messages=[message])
        group["messages"].append(
            {
                "author": entry.author_name,
                "team": entry.team,
                "created_at": message.created_at,
                "excerpt": _plain(message.body),
                "internal": message.internal,
                "mention": notice.reason == "mention",
            }
        )
    groups = list(rooms.values())
    count = sum(len(g["messages"]) for g in groups)
    queue_mail(
        session,
        renderer=renderer,
        to=email,
        template="chat_digest",
        org_id=groups[0]["room"].org_id,
        context={"name": name, "rooms": groups, "count": count},
    )


def send_digests(
    db: Database,
    *,
    renderer: MailRenderer,
    links: Links,
    now: datetime | None = None,
    window: timedelta = DIGEST_WINDOW,
    limit: int = 200,
) -> int:
    """Queue one grouped mail for each person with pending notices whose last chat mail is at
    least `window` old; returns how many were queued. Safe in several processes at once."""
    now = now or utcnow()
    with db.session(write=False) as session:
        emails = session.exec(
            select(ChatNotice.recipient_email)
            .where(col(ChatNotice.sent_at).is_(None))
            .group_by(col(ChatNotice.recipient_email))
            .order_by(func.min(ChatNotice.id))
            .limit(limit)
        ).all()
    queued = 0
    for email in emails:
        with db.session() as session:
            if _digest_for(
                session, email=email, renderer=renderer, links=links, now=now, window=window
            ):
                queued += 1
    return queued


def pending_notices(session: Session, *, email: str) -> list[ChatNotice]:
    query = select(ChatNotice).where(
        ChatNotice.recipient_email == email.lower(), col(ChatNotice.sent_at).is_(None)
    )
    return list(session.exec(query.order_by(col(ChatNotice.id))))
