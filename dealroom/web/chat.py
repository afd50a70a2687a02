"""Room chat on the web: the panel on both room pages, posting, history pages, live event
streams (server-sent events for htmx's SSE extension) and the JSON API.

Posting commits the message, then publishes a small event (ids only) on the room's live channel
(see dealroom.live). Every open stream re-checks that its viewer may still read the room, gets the
message as rendered for its side of the table from the database, and sends it as an HTML fragment
for htmx's SSE extension; a viewer who lost access gets a "closed" event and the stream ends.
The sender's own form post answers with a fresh form only: the message arrives through the
stream, like everyone else's, so it is never shown twice. Without JavaScript the form posts and
redirects, and "Load earlier messages" is a plain link to a page of older history.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import chat, i18n, metrics, rooms, tracking, validate
from ..chat import Entry
from ..errors import (
    Conflict,
    DealroomError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from ..i18n import _
from ..invites import Invite
from ..rooms import Room
from .auth import require_api_user, require_room, require_viewer
from .errors import error_response
from .handler import Req, Rollback, after_commit, endpoint
from .htmx import is_htmx
from .locale import seller_preferences
from .render import render

if TYPE_CHECKING:
    from ..accounts import User
    from ..app import Services

HEARTBEAT_SECONDS = 15.0  # a comment line this often keeps proxies from closing idle streams
RECENT = 500  # message ids a stream remembers, so a message is never sent to it twice


# ---------------------------------------------------------------- the panel


@dataclass
class ChatPanel:
    """Context of templates/chat/_panel.html (and its parts), for sellers and buyers."""

    seller: bool  # sees internal notes, may write them
    page: chat.Page | None  # None: a form-only answer
    before: str | None = None  # an older page (no live tail)
    can_post: bool = True
    reader: str = ""  # who reads (usr_… or inv_…): their own @mentions stand out
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def route(self) -> str:
        return "chat:seller" if self.seller else "chat:buyer"

    @property
    def live(self) -> bool:
        return self.before is None

    @property
    def last(self) -> str | None:
        """The newest message shown: the live stream starts after it."""
        return self.page.entries[-1].message.public_id if self.page and self.page.entries else None


def chat_panel(
    req: Req,
    room: Room,
    *,
    seller: bool,
    can_post: bool,
    before: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    history: bool = True,
    reader: str = "",
    users: Sequence[User] = (),
    invites: Sequence[Invite] = (),
) -> ChatPanel:
    """The chat panel of a room page. `history` False skips reading messages (a form only).
    `reader` is the buyer's invite id on the buyer side; otherwise the signed-in seller.
    `users` and `invites` a page has loaded already name the authors without a lookup."""
    page = (
        chat.list_messages(
            req.session, room=room, seller=seller, before=before, users=users, invites=invites
        )
        if history
        else None
    )
    return ChatPanel(
        seller=seller,
        page=page,
        before=before,
        can_post=can_post and not room.archived,
        values=values or {},
        errors=errors or {},
        reader=reader or _seller_id(req),
    )


def _seller_id(req: Req) -> str:
    user = req.user
    return user.public_id if user is not None else ""


def _page(req: Req, room: Room, *, seller: bool, can_post: bool, reader: str = "") -> Response:
    before = req.request.query_params.get("before") or None
    ctx = {
        "room": room,
        "chat": chat_panel(
            req, room, seller=seller, can_post=can_post, before=before, reader=reader
        ),
    }
    return render(req, "chat/page.html", ctx, fragment="chat/_history.html")


def _publish(req: Req, room: Room, message: chat.Message) -> None:
    after_commit(
        req.session,
        functools.partial(
            req.services.broker.publish, chat.channel(room), chat.live_event(room, message)
        ),
    )


def _post(req: Req, room: Room, *, author: User | Invite, seller: bool, internal: bool) -> Response:
    body = req.field("body")
    try:
        message = chat.post_message(
            req.session, room=room, author=author, body=body, internal=internal
        )
    except (InvalidInput, RateLimited, Conflict) as exc:
        errors = exc.fields if isinstance(exc, InvalidInput) else {"body": exc.message}
        ctx = {
            "room": room,
            "chat": chat_panel(
                req,
                room,
                seller=seller,
                can_post=True,
                values={"body": body, "internal": internal},
                errors=errors,
                history=not is_htmx(req.request),
                reader=author.public_id,
            ),
        }
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        raise Rollback(
            render(
                req,
                "chat/page.html",
                ctx,
                fragment="chat/_form.html",
                status=exc.status,
                headers=headers,
            )
        ) from None
    _publish(req, room, message)
    if isinstance(author, Invite):  # a buyer's message is part of their engagement
        tracking.record(
            req.session,
            invite=author,
            event=tracking.ChatActivity(),
            return_days=req.settings.track_return_days,
        )
    if is_htmx(req.request):
        # A fresh form; the message itself arrives through the live stream.
        ctx = {
            "room": room,
            "chat": chat_panel(req, room, seller=seller, can_post=True, history=False),
        }
        return render(req, "chat/page.html", ctx, fragment="chat/_form.html")
    page = "rooms:detail" if seller else "buyer:room"
    return RedirectResponse(
        req.request.url_for(page, room_id=room.public_id).path + "#chat", status_code=303
    )


@endpoint(form=True)
def seller_chat(req: Req) -> Response:
    user, room = require_room(req)
    if req.request.method == "GET":
        return _page(req, room, seller=True, can_post=True)
    internal = req.field("internal") in ("1", "on", "true")
    return _post(req, room, author=user, seller=True, internal=internal)


@endpoint(form=True)
def buyer_chat(req: Req) -> Response:
    room, invite = require_viewer(req)
    if req.request.method == "GET":
        reader = invite.public_id if invite is not None else ""
        return _page(req, room, seller=False, can_post=invite is not None, reader=reader)
    if invite is None:
        raise PermissionDenied(_("This is a preview. Write from the seller view of the room."))
    # Whatever the form says, a buyer's message is never an internal note.
    return _post(req, room, author=invite, seller=False, internal=False)


# ---------------------------------------------------------------- live streams
#
# Each open stream subscribes to its room's live channel. One event wakes every stream of the
# room in this process; the first one starts the event's shared work (in the thread pool: one
# bulk access check of every open stream of the room, and one read and render of the message
# per side, language and time zone), the others await the same result, then each sends its own
# fragment or, when its viewer lost access, a "closed" event. 200 streams cost two queries and
# a render or two per message, not 200 of each.


@dataclass(eq=False)
class _Viewer:
    """Who is at the other end of a stream (compared by identity)."""

    seller: bool  # the seller view: internal notes included
    room_id: str
    user_id: int | None = None  # a seller (also one previewing the buyer view) ...
    epoch: int = 0  # ... and the session epoch they signed in with
    invite_id: int | None = None  # a buyer
    reader: str = ""  # the usr_… or inv_… id of whoever reads: their @mentions stand out
    locale: str = i18n.DEFAULT_LOCALE
    zone: str = i18n.DEFAULT_TIMEZONE
    sent: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @property
    def variant(self) -> tuple[bool, str, str]:
        """What the rendered fragment depends on."""
        return self.seller, self.locale, self.zone

    def fresh(self, fragments: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for message_id, html in fragments:
            if message_id in self.sent:
                continue
            self.sent[message_id] = None
            if len(self.sent) > RECENT:
                self.sent.popitem(last=False)
            out.append((message_id, html))
        return out

    @property
    def last(self) -> str | None:
        return next(reversed(self.sent), None)


class _Denied(Exception):  # noqa: N818 - a signal: the viewer lost access mid-stream
    pass


@dataclass
class _Shared:
    allowed: dict[_Viewer, bool]
    fragments: dict[tuple[bool, str, str, str], str | None]
    mentioned: frozenset[str] = frozenset()  # readers the message mentions get their own render

    def key(self, viewer: _Viewer) -> tuple[bool, str, str, str]:
        """A fragment is shared by every reader of a variant, except those it mentions."""
        return (*viewer.variant, viewer.reader if viewer.reader in self.mentioned else "")


def _zone_name() -> str:
    return str(getattr(i18n.current_timezone(), "key", "") or i18n.DEFAULT_TIMEZONE)


def _render_entry(services: Services, entry: Entry, *, seller: bool, reader: str = "") -> str:
    template = services.env.get_template("chat/_message.html")
    return template.render({"entry": entry, "seller": seller, "reader": reader})


def _shared_work(
    services: Services, room_id: str, message_id: str, viewers: list[_Viewer]
) -> _Shared:
    """In the thread pool, once per event: who may still read, and the message for each kind of
    reader."""
    with services.db.session(write=False) as session:
        try:
            room = rooms.get_room_by_public_id(session, room_id)
            if room is None:
                return _Shared({v: False for v in viewers}, {})
            sellers, buyers = chat.current_readers(
                session,
                room=room,
                sellers={v.user_id: v.epoch for v in viewers if v.user_id is not None},
                invites={v.invite_id for v in viewers if v.invite_id is not None},
            )
            allowed = {
                v: (v.user_id in sellers) if v.user_id is not None else (v.invite_id in buyers)
                for v in viewers
            }
            readers = [v for v in viewers if allowed[v]]
            entries = {
                seller: chat.get_entry(session, room=room, message_id=message_id, seller=seller)
                for seller in {v.seller for v in readers}
            }
            mentioned = {p for e in entries.values() if e for p in e.handles.values()}
            shared = _Shared(allowed, {}, frozenset(mentioned))
            for viewer in readers:
                key = shared.key(viewer)
                if key in shared.fragments:
                    continue
                entry = entries[viewer.seller]
                with i18n.using(viewer.locale, viewer.zone):
                    shared.fragments[key] = (
                        _render_entry(services, entry, seller=viewer.seller, reader=key[3])
                        if entry
                        else None
                    )
            return shared
        finally:
            session.rollback()


class _Streams:
    """The open chat streams of one app in this process, and the work their events share."""

    BATCHES = 64  # recent events whose shared result is kept, per event loop

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.viewers: dict[str, set[_Viewer]] = {}
        self.batches: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, OrderedDict[tuple[str, str], asyncio.Task[_Shared]]
        ] = weakref.WeakKeyDictionary()

    def add(self, viewer: _Viewer) -> None:
        with self.lock:
            self.viewers.setdefault(viewer.room_id, set()).add(viewer)

    def discard(self, viewer: _Viewer) -> None:
        with self.lock:
            viewers = self.viewers.get(viewer.room_id)
            if viewers is not None:
                viewers.discard(viewer)
                if not viewers:
                    del self.viewers[viewer.room_id]

    def count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.viewers.values())

    def _batch(self, services: Services, room_id: str, message_id: str) -> asyncio.Task[_Shared]:
        loop = asyncio.get_running_loop()
        with self.lock:
            tasks = self.batches.setdefault(loop, OrderedDict())
            task = tasks.get((room_id, message_id))
            if task is None:
                viewers = list(self.viewers.get(room_id, ()))
                task = loop.create_task(
                    run_in_threadpool(_shared_work, services, room_id, message_id, viewers)
                )
                tasks[(room_id, message_id)] = task
                while len(tasks) > self.BATCHES:
                    tasks.popitem(last=False)
            return task

    async def message(
        self, request: Request, services: Services, viewer: _Viewer, message_id: str
    ) -> list[tuple[str, str]]:
        # Shielded: one stream going away must not cancel the work the others wait for.
        shared = await asyncio.shield(self._batch(services, viewer.room_id, message_id))
        if shared.allowed.get(viewer) is not True:
            # Opened after the work started, or refused: check again alone (and say why).
            return await run_in_threadpool(_read, request, services, viewer, message_id=message_id)
        html = shared.fragments.get(shared.key(viewer))
        return [(message_id, html)] if html else []


def _streams(services: Services) -> _Streams:
    streams = services.extra.get("chat_streams")
    if streams is None:
        streams = services.extra.setdefault("chat_streams", _Streams())
    return streams  # type: ignore[no-any-return]


def _read(
    request: Request,
    services: Services,
    viewer: _Viewer,
    *,
    message_id: str | None = None,
    after: str | None = None,
) -> list[tuple[str, str]]:
    """In the thread pool, for one stream: re-check its viewer's access exactly as a page request
    would (raises _Denied with the reason), then the fragments of one message or of those after
    message `after`."""
    with services.db.session(write=False) as session:
        req = Req(request, session, services)
        try:
            # Reading only: the access checks' bookkeeping (last seen, language) is never
            # flushed, so many streams re-checking at once never contend for the write lock.
            with session.no_autoflush, seller_preferences(req):
                try:
                    room = require_room(req)[1] if viewer.seller else require_viewer(req)[0]
                except DealroomError as exc:
                    raise _Denied(exc.message) from None
                if message_id is not None:
                    entry = chat.get_entry(
                        session, room=room, message_id=message_id, seller=viewer.seller
                    )
                    entries = [entry] if entry is not None else []
                elif after is not None:
                    entries = chat.messages_after(
                        session, room=room, seller=viewer.seller, after=after
                    )
                else:
                    entries = []
                with i18n.using(viewer.locale, viewer.zone):
                    return [
                        (
                            e.message.public_id,
                            _render_entry(services, e, seller=viewer.seller, reader=viewer.reader),
                        )
                        for e in entries
                    ]
        finally:
            session.rollback()


def _authorize(request: Request, services: Services, *, seller: bool) -> _Viewer | Response:
    """In the thread pool, before any byte is streamed: the viewer, or the refusal to send."""
    with services.db.session(write=False) as session:
        req = Req(request, session, services)
        try:
            with session.no_autoflush, seller_preferences(req):
                user: User | None
                try:
                    if seller:
                        user, room = require_room(req)
                        invite = None
                    else:
                        room, invite = require_viewer(req)
                        user = None if invite is not None else req.user
                except DealroomError as exc:
                    return error_response(request, exc, req=req)
                return _Viewer(
                    seller=seller,
                    room_id=room.public_id,
                    user_id=user.id if user is not None else None,
                    epoch=user.session_epoch if user is not None else 0,
                    invite_id=invite.id if invite is not None else None,
                    reader=_reader_id(invite, user),
                    locale=i18n.current_locale(),
                    zone=_zone_name(),
                )
        finally:
            session.rollback()


def _reader_id(invite: Invite | None, user: User | None) -> str:
    """A buyer reads as their invite; a seller (also previewing the buyer view) as themselves."""
    if invite is not None:
        return invite.public_id
    return user.public_id if user is not None else ""


def _event(name: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {name}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in (data.splitlines() or [""]))
    return "\n".join(lines) + "\n\n"


def _closed(reason: str) -> str:
    text = _("Live updates stopped: %(reason)s Reload the page to continue.", reason=reason)
    return _event("closed", str(escape(text)))


async def _stream(
    request: Request, services: Services, viewer: _Viewer, after: str | None
) -> AsyncIterator[str]:
    streams = _streams(services)

    async def read(
        message_id: str | None = None, after: str | None = None
    ) -> list[tuple[str, str]]:
        return await run_in_threadpool(
            _read, request, services, viewer, message_id=message_id, after=after
        )

    streams.add(viewer)
    open_streams = metrics.SSE_CONNECTIONS.labels(side="seller" if viewer.seller else "buyer")
    open_streams.inc()
    try:
        async with services.broker.subscribe(chat.channel(viewer.room_id)) as events:
            yield "retry: 3000\n: connected\n\n"
            try:
                if after:
                    for message_id, html in viewer.fresh(await read(after=after)):
                        yield _event("message", html, message_id)
                while True:
                    try:
                        async with asyncio.timeout(HEARTBEAT_SECONDS):
                            payload = await events.get()
                    except TimeoutError:
                        await read()  # access is re-checked on every heartbeat too
                        yield ": keep-alive\n\n"
                        continue
                    except StopAsyncIteration:
                        return  # the broker stopped (shutdown) or this stream fell behind
                    if payload.get("resync"):
                        # The listener reconnected: catch up on what its notifications missed.
                        cursor = viewer.last or after
                        fragments = await read(after=cursor) if cursor else await read()
                    elif payload.get("internal") and not viewer.seller:
                        continue  # never even looked up for a buyer
                    else:
                        message_id = str(payload.get("msg", ""))
                        fragments = await streams.message(request, services, viewer, message_id)
                    for message_id, html in viewer.fresh(fragments):
                        yield _event("message", html, message_id)
            except _Denied as denied:
                yield _closed(str(denied))
    finally:
        streams.discard(viewer)
        open_streams.dec()


async def _events(request: Request, *, seller: bool) -> Response:
    services: Services = request.app.state.services
    viewer = await run_in_threadpool(_authorize, request, services, seller=seller)
    if isinstance(viewer, Response):
        return viewer
    # A reconnecting EventSource says where it stopped; a fresh page says what it shows.
    after = request.headers.get("last-event-id") or request.query_params.get("after") or None
    return StreamingResponse(
        _stream(request, services, viewer, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def seller_events(request: Request) -> Response:
    return await _events(request, seller=True)


async def buyer_events(request: Request) -> Response:
    return await _events(request, seller=False)


# ---------------------------------------------------------------- JSON API


def message_json(entry: Entry) -> dict[str, Any]:
    message = entry.message
    return {
        "id": message.public_id,
        "author": {"type": entry.side, "id": entry.author_id, "name": entry.author_name},
        "body": message.body,
        "body_html": str(entry.html),
        "internal": message.internal,
        "mentions": entry.mentions,
        "created_at": message.created_at.isoformat(),
    }


def _api_room(req: Req) -> tuple[User, Room]:
    user = require_api_user(req)
    return user, rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))


@endpoint(json=True)
def api_messages(req: Req) -> Response:
    user, room = _api_room(req)
    if req.request.method == "GET":
        query = req.request.query_params
        limit = validate.integer(
            query.get("limit", str(chat.PAGE_SIZE)), "limit", label="limit", minimum=1, maximum=200
        )
        page = chat.list_messages(
            req.session, room=room, seller=True, before=query.get("before") or None, limit=limit
        )
        return JSONResponse(
            {"data": [message_json(e) for e in page.entries], "earlier": page.earlier}
        )
    data = req.json
    if not isinstance(data, dict):
        raise InvalidInput(_("The request body must be a JSON object."))
    unknown = sorted(set(data) - {"body", "internal"})
    if unknown:
        raise InvalidInput(fields={key: _("Unknown field.") for key in unknown[:10]})
    body, internal = data.get("body", ""), data.get("internal", False)
    problems = {}
    if not isinstance(body, str):
        problems["body"] = _("Must be a string.")
    if not isinstance(internal, bool):
        problems["internal"] = _("Must be true or false.")
    if problems:
        raise InvalidInput(fields=problems)
    message = chat.post_message(
        req.session, room=room, author=user, body=str(body), internal=bool(internal)
    )
    _publish(req, room, message)
    entry = chat.get_entry(req.session, room=room, message_id=message.public_id, seller=True)
    assert entry is not None  # just written
    location = str(
        req.request.url_for("api:message", room_id=room.public_id, message_id=message.public_id)
    )
    return JSONResponse(message_json(entry), status_code=201, headers={"Location": location})


@endpoint(json=True)
def api_message(req: Req) -> Response:
    _user, room = _api_room(req)
    entry = chat.get_entry(req.session, room=room, message_id=req.param("message_id"), seller=True)
    if entry is None:
        raise NotFound(_("No such message in this room."))
    return JSONResponse(message_json(entry))


routes = [
    Route("/rooms/{room_id}/chat", seller_chat, methods=["GET", "POST"], name="chat:seller"),
    Route("/rooms/{room_id}/chat/events", seller_events, name="chat:seller_events"),
    Route("/r/{room_id}/chat", buyer_chat, methods=["GET", "POST"], name="chat:buyer"),
    Route("/r/{room_id}/chat/events", buyer_events, name="chat:buyer_events"),
    Route(
        "/api/v1/rooms/{room_id}/messages",
        api_messages,
        methods=["GET", "POST"],
        name="api:messages",
    ),
    Route("/api/v1/rooms/{room_id}/messages/{message_id}", api_message, name="api:message"),
]
