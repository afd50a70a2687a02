"""Room content for sellers (upload, links, sections, order, tags, versions, downloads), the
buyer's viewer, and file delivery for both sides.

Files are never public: a locally stored file streams through an authorised route; an S3 file
is a redirect to a presigned URL that lives `download_url_seconds`.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import audit, content, embeds, tracking
from ..content import TAG_STAGES, Document, ItemView, RoomContent, StoredFile
from ..db import pk
from ..errors import Conflict, DealroomError, InvalidInput, NotFound, PermissionDenied
from ..i18n import _
from ..invites import BUYER_ROLES, Invite
from ..rooms import Room
from ..storage.base import content_disposition
from .auth import require_room, require_viewer
from .forms import require_upload
from .handler import Req, Rollback, endpoint
from .htmx import is_htmx
from .render import redirect, render
from .tracking import page_marks, page_tracking

# pdf.js is loaded as ES modules; Python < 3.12 does not know the .mjs type everywhere, and
# browsers refuse a module script served as text/plain.
mimetypes.add_type("text/javascript", ".mjs")

PDFJS_VERSION = "6.5.438"  # static/vendor/pdfjs-<version>/ (scripts/vendor.sh)
ACCEPT = ".pdf,.png,.jpg,.jpeg,.gif,.webp,.mp4,.m4v,.mov,.webm,.docx,.xlsx,.pptx,.doc,.xls,.ppt,.txt,.csv,.md"


# ---------------------------------------------------------------- the panels


@dataclass
class Panel:
    """What templates/rooms/_content.html (seller) and content/_list.html (buyer) show."""

    room: Room
    content: RoomContent
    can_edit: bool
    library: list[Document] = field(default_factory=list)
    form: str = ""  # which form the errors belong to: "upload", "link", "library", "section", ...
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    max_upload_mb: int = 0
    stages: tuple[str, ...] = TAG_STAGES
    roles: tuple[str, ...] = BUYER_ROLES
    accept: str = ACCEPT

    def errors_for(self, form: str) -> dict[str, str]:
        return self.errors if self.form == form else {}

    def values_for(self, form: str) -> dict[str, Any]:
        return self.values if self.form == form else {}


def seller_panel(req: Req, room: Room, **problem: Any) -> Panel:
    library = [
        entry.document for entry in content.list_library(req.session, org_id=room.org_id, limit=200)
    ]
    return Panel(
        room=room,
        content=content.room_content(req.session, room=room),
        can_edit=True,
        library=library,
        max_upload_mb=req.settings.max_upload_mb,
        **problem,
    )


def buyer_panel(req: Req, room: Room, invite: Invite | None) -> Panel:
    return Panel(
        room=room,
        content=content.room_content(req.session, room=room, invite=invite),
        can_edit=False,
    )


def _room_page(req: Req, room: Room, panel: Panel | None = None, status: int = 200) -> Response:
    from .rooms import _detail_context

    ctx = _detail_context(req, room)
    if panel is not None:
        ctx["content_panel"] = panel
    return render(req, "rooms/detail.html", ctx, fragment="rooms/_content.html", status=status)


def _answer(req: Req, room: Room) -> Response:
    """After a change: the fresh panel for htmx, a redirect back to it for a plain form."""
    if is_htmx(req.request):
        return _room_page(req, room)
    return redirect(
        req, str(req.request.url_for("rooms:detail", room_id=room.public_id)) + "#content"
    )


def _fail(req: Req, room: Room, form: str, exc: DealroomError, values: dict[str, Any]) -> Rollback:
    """The room page again with the form's errors; nothing of the failed attempt is kept."""
    req.session.rollback()  # also deletes a file stored before the failure
    errors = exc.fields if isinstance(exc, InvalidInput) and exc.fields else {"form": exc.message}
    panel = seller_panel(req, room, form=form, errors=errors, values=values)
    return Rollback(_room_page(req, room, panel, status=422))


def _tags(req: Req) -> dict[str, list[str]]:
    form = req.form
    return {
        "stages": [v for v in form.getlist("stages") if isinstance(v, str)] if form else [],
        "roles": [v for v in form.getlist("roles") if isinstance(v, str)] if form else [],
    }


def _audit(req: Req, room: Room, actor: str, action: str, target: str, **detail: object) -> None:
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=actor,
        action=action,
        target=target,
        room=room.public_id,
        **detail,
    )


# ---------------------------------------------------------------- seller: adding content


@endpoint(upload=True)
def upload(req: Req) -> Response:
    user, room = require_room(req)
    values: dict[str, Any] = {**req.fields("title", "section"), **_tags(req)}
    try:
        file = require_upload(req.form, req.settings.max_upload_bytes)
        section = (
            content.get_section(req.session, room=room, section_id=values["section"])
            if values["section"]
            else None
        )
        item = content.add_file(
            req.session,
            storage=req.services.storage,
            room=room,
            user=user,
            upload=file,
            title=values["title"],
            section=section,
            stages_=values["stages"],
            roles_=values["roles"],
        )
    except (InvalidInput, Conflict, NotFound) as exc:
        raise _fail(req, room, "upload", exc, values) from None
    _audit(req, room, user.public_id, "content.uploaded", item.public_id)
    return _answer(req, room)


@endpoint(form=True)
def add_link(req: Req) -> Response:
    user, room = require_room(req)
    values: dict[str, Any] = {**req.fields("url", "title", "section"), **_tags(req)}
    try:
        section = (
            content.get_section(req.session, room=room, section_id=values["section"])
            if values["section"]
            else None
        )
        item = content.add_link(
            req.session,
            room=room,
            user=user,
            url=values["url"],
            title=values["title"],
            section=section,
            stages_=values["stages"],
            roles_=values["roles"],
        )
    except (InvalidInput, Conflict, NotFound) as exc:
        raise _fail(req, room, "link", exc, values) from None
    _audit(req, room, user.public_id, "content.link_added", item.public_id)
    return _answer(req, room)


@endpoint(form=True)
def add_from_library(req: Req) -> Response:
    user, room = require_room(req)
    values = req.fields("document", "section")
    try:
        item = content.add_from_library(
            req.session,
            room=room,
            user=user,
            document_id=values["document"],
            section_id=values["section"],
        )
    except (InvalidInput, Conflict) as exc:
        raise _fail(req, room, "library", exc, values) from None
    _audit(req, room, user.public_id, "content.placed", item.public_id)
    return _answer(req, room)


# ---------------------------------------------------------------- seller: one item


def _item(req: Req) -> tuple[Any, Room, ItemView]:
    user, room = require_room(req)
    return user, room, content.get_item(req.session, room=room, item_id=req.param("item_id"))


@endpoint(form=True)
def edit_item(req: Req) -> Response:
    _user, room, view = _item(req)
    present = set(req.form.keys()) if req.form is not None else set()
    data: dict[str, object] = {k: req.field(k) for k in ("section", "title") if k in present}
    # Checkbox groups send nothing when all are cleared: the form says it carries them.
    if req.field("tags") == "1":
        data.update(_tags(req))
    try:
        content.update_item(req.session, room=room, view=view, data=data)
    except InvalidInput as exc:
        raise _fail(req, room, f"item:{view.public_id}", exc, {**data}) from None
    return _answer(req, room)


@endpoint(upload=True)
def new_version(req: Req) -> Response:
    user, room, view = _item(req)
    try:
        file = require_upload(req.form, req.settings.max_upload_bytes)
        version = content.add_version(
            req.session,
            storage=req.services.storage,
            document=view.document,
            user=user,
            upload=file,
        )
    except (InvalidInput, Conflict) as exc:
        raise _fail(req, room, f"version:{view.public_id}", exc, {}) from None
    _audit(
        req,
        room,
        user.public_id,
        "content.version_added",
        view.document.public_id,
        version=version.version,
    )
    return _answer(req, room)


@endpoint(form=True)
def remove(req: Req) -> Response:
    user, room, view = _item(req)
    content.remove_item(req.session, room=room, view=view)
    _audit(req, room, user.public_id, "content.removed", view.public_id)
    return _answer(req, room)


@endpoint(form=True)
def toggle_download(req: Req) -> Response:
    _user, room, view = _item(req)
    content.set_download(req.session, item=view.item, allowed=req.field("allow_download") == "1")
    return _answer(req, room)


@endpoint(form=True)
def move(req: Req) -> Response:
    _user, room, view = _item(req)
    content.move_item(req.session, room=room, item=view.item, direction=req.field("direction"))
    return _answer(req, room)


@endpoint(form=True)
def arrange(req: Req) -> Response:
    """The order after a drag and drop: `sections` and `items` as comma lists (see domain)."""
    _user, room = require_room(req)
    present = set(req.form.keys()) if req.form is not None else set()

    def listed(name: str) -> list[str] | None:
        if name not in present:
            return None
        return [part for part in req.field(name).split(",") if part]

    content.arrange(req.session, room=room, sections=listed("sections"), items=listed("items"))
    return _answer(req, room)


# ---------------------------------------------------------------- seller: sections


@endpoint(form=True)
def section_add(req: Req) -> Response:
    _user, room = require_room(req)
    values = req.fields("section_title")
    try:
        content.add_section(req.session, room=room, title=values["section_title"])
    except (InvalidInput, Conflict) as exc:
        raise _fail(req, room, "section", exc, values) from None
    return _answer(req, room)


def _section(req: Req) -> tuple[Room, content.Section]:
    _user, room = require_room(req)
    return room, content.get_section(req.session, room=room, section_id=req.param("section_id"))


@endpoint(form=True)
def section_rename(req: Req) -> Response:
    room, section = _section(req)
    values = req.fields("section_title")
    try:
        content.rename_section(req.session, section=section, title=values["section_title"])
    except InvalidInput as exc:
        raise _fail(req, room, f"section:{section.public_id}", exc, values) from None
    return _answer(req, room)


@endpoint(form=True)
def section_remove(req: Req) -> Response:
    room, section = _section(req)
    content.remove_section(req.session, room=room, section=section)
    return _answer(req, room)


@endpoint(form=True)
def section_move(req: Req) -> Response:
    room, section = _section(req)
    content.move_section(req.session, room=room, section=section, direction=req.field("direction"))
    return _answer(req, room)


# ---------------------------------------------------------------- delivery


# Types a browser shows as passive content; text is shown as plain text. Anything else (an
# Office file, and above all HTML, SVG or XML in a row written by some other path) is always an
# attachment, so it is saved, never rendered as a page of our origin.
INLINE_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp")
TEXT_TYPES = ("text/plain", "text/csv", "text/markdown")
FILE_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
)


def _essence(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def shown_inline(content_type: str) -> bool:
    kind = _essence(content_type)
    return kind in INLINE_TYPES or kind in TEXT_TYPES or kind.startswith("video/")


def direct_url(req: Req, stored: StoredFile, *, as_download: bool) -> str | None:
    storage = req.services.storage
    if stored.backend != storage.name:
        raise NotFound(_("This file is stored in a backend this server is not configured for."))
    return storage.url(
        stored.key,
        expires_in=req.settings.download_url_seconds,
        filename=stored.filename,
        content_type=stored.content_type,
        inline=not as_download,
    )


def deliver(
    req: Req, stored: StoredFile | None, *, as_download: bool, stream: bool = False
) -> Response:
    """The file: a redirect to a short-lived direct URL when the backend has one (S3), else
    streamed. `stream` always streams: the PDF viewer fetches with script, and a redirect to
    another origin would need CORS rules on the bucket."""
    if stored is None:
        raise NotFound(_("This item has no file."))
    as_download = as_download or not shown_inline(stored.content_type)
    url = None if stream else direct_url(req, stored, as_download=as_download)
    if url:
        return RedirectResponse(
            url, status_code=303, headers={"Cache-Control": "private, no-store"}
        )
    headers = {
        "Content-Disposition": content_disposition(stored.filename, inline=not as_download),
        "Content-Length": str(stored.size),
        "Cache-Control": "private, no-store",
        # A stored file is data, never a page of ours: no script, even if a browser sniffs HTML.
        "Content-Security-Policy": FILE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Accept-Ranges": "bytes",
    }
    media_type = stored.content_type
    if not as_download and _essence(media_type) in TEXT_TYPES:
        media_type = "text/plain; charset=utf-8"  # shown, never interpreted
    wanted = byte_range(req.request.headers.get("range", ""), stored.size)
    if isinstance(wanted, str):  # "unsatisfiable"
        return Response(status_code=416, headers={"Content-Range": f"bytes */{stored.size}"})
    if wanted is not None:
        # Video players (Safari's always) fetch ranges to start and to seek.
        start, end = wanted
        headers["Content-Length"] = str(end - start + 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
        chunks = req.services.storage.open(stored.key, start=start, length=end - start + 1)
        return StreamingResponse(chunks, status_code=206, media_type=media_type, headers=headers)
    return StreamingResponse(
        req.services.storage.open(stored.key), media_type=media_type, headers=headers
    )


def byte_range(header: str, size: int) -> tuple[int, int] | str | None:
    """One `bytes=` range (RFC 9110) as (first, last) byte, "unsatisfiable", or None when the
    whole file should be sent (no header, several ranges, or a header we do not understand)."""
    unit, _sep, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec or "," in spec:
        return None
    first, _dash, last = spec.strip().partition("-")
    try:
        if first == "":  # the last N bytes
            count = int(last)
            if count <= 0:
                return "unsatisfiable"
            return max(0, size - count), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0 or start >= size or end < start:
        return "unsatisfiable"
    return start, min(end, size - 1)


@endpoint
def seller_file(req: Req) -> Response:
    user, room, view = _item(req)
    as_download = req.request.query_params.get("download") == "1"
    if as_download:
        _audit(req, room, user.public_id, "content.downloaded", view.public_id)
    return deliver(req, view.file, as_download=as_download)


def _buyer_item(req: Req) -> tuple[Room, Invite | None, ItemView]:
    room, invite = require_viewer(req)
    return room, invite, content.get_item(req.session, room=room, item_id=req.param("item_id"))


@endpoint
def buyer_file(req: Req) -> Response:
    room, invite, view = _buyer_item(req)
    as_download = req.request.query_params.get("download") == "1"
    # Office files cannot be shown in a browser: serving them "inline" is a download too.
    if (as_download or view.document.file_kind == "office") and not view.item.allow_download:
        raise PermissionDenied(
            _("The seller has turned off downloads for this item.")
            if view.document.file_kind == "office"
            else _("The seller has turned off downloads for this item. You can still view it here.")
        )
    if as_download and invite is not None:
        content.mark_seen(req.session, invite=invite, view=view)
        _audit(req, room, invite.public_id, "content.downloaded", view.public_id)
        _track(req, invite, tracking.Downloaded(pk(view.item)))
    # Only the in-browser PDF viewer asks for the stream (see `deliver`).
    stream = view.document.file_kind == "pdf" and req.request.query_params.get("stream") == "1"
    return deliver(req, view.file, as_download=as_download, stream=stream and not as_download)


@endpoint
def open_link(req: Req) -> Response:
    """A shared web page, through a redirect that records the click (seller previews are not)."""
    room, invite, view = _buyer_item(req)
    if not view.is_link:
        raise NotFound(_("This item is not a link."))
    if invite is not None:
        content.mark_seen(req.session, invite=invite, view=view)
        _audit(req, room, invite.public_id, "content.link_opened", view.public_id)
        _track(req, invite, tracking.LinkClicked(pk(view.item)))
    # The link was checked when it was saved (http/https only); check again, never trust rows.
    link = embeds.parse(view.document.url)
    return RedirectResponse(link.url, status_code=303, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------- the viewer


def viewer_csp(origin: str, frame: str) -> str:
    """The viewer's own policy (the middleware keeps a response's CSP): pdf.js needs a worker,
    an embed needs exactly its player's host, an image or a video in S3 the bucket's origin."""
    extra = f" {origin}" if origin else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{extra}",
            f"media-src 'self'{extra}",
            "connect-src 'self'",
            "worker-src 'self'",
            f"frame-src {frame or chr(39) + 'none' + chr(39)}",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'self'",
            "object-src 'none'",
        )
    )


def _track(
    req: Req, invite: Invite, event: tracking.ServerEvent, *, session: Session | None = None
) -> None:
    """Record a server event in the request's transaction (or in `session`, page_marks')."""
    tracking.record(
        session or req.session,
        invite=invite,
        event=event,
        return_days=req.settings.track_return_days,
    )


@endpoint
def view(req: Req) -> Response:
    room, invite, item = _buyer_item(req)
    track = page_tracking(req, room, invite, item=item.public_id)
    if invite is not None:
        with page_marks(req, invite) as (session, mine):
            content.mark_seen(session, invite=mine, view=item)
            _track(req, mine, tracking.ItemOpened(pk(item.item)), session=session)
    origin = ""
    if item.file is not None:
        url = direct_url(req, item.file, as_download=False)
        if url:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
    embed = item.embed
    ordered = content.room_content(req.session, room=room).items
    ids = [v.public_id for v in ordered]
    at = ids.index(item.public_id) if item.public_id in ids else -1
    ctx = {
        "room": room,
        "viewer": invite,
        "preview": invite is None,
        "item": item,
        "embed": embed,
        "previous": ordered[at - 1] if at > 0 else None,
        "next": ordered[at + 1] if 0 <= at < len(ordered) - 1 else None,
        "pdfjs": f"vendor/pdfjs-{PDFJS_VERSION}",
        "can_download": item.item.allow_download and item.file is not None,
        "track": track,
    }
    csp = viewer_csp(origin, embed.embed_origin if embed else "")
    return render(req, "content/viewer.html", ctx, headers={"Content-Security-Policy": csp})


routes = [
    Route("/rooms/{room_id}/content", upload, methods=["POST"], name="content:upload"),
    Route("/rooms/{room_id}/content/link", add_link, methods=["POST"], name="content:add_link"),
    Route(
        "/rooms/{room_id}/content/library",
        add_from_library,
        methods=["POST"],
        name="content:add_from_library",
    ),
    Route("/rooms/{room_id}/content/order", arrange, methods=["POST"], name="content:arrange"),
    Route(
        "/rooms/{room_id}/content/{item_id}/edit", edit_item, methods=["POST"], name="content:edit"
    ),
    Route(
        "/rooms/{room_id}/content/{item_id}/version",
        new_version,
        methods=["POST"],
        name="content:version",
    ),
    Route("/rooms/{room_id}/content/{item_id}/move", move, methods=["POST"], name="content:move"),
    Route(
        "/rooms/{room_id}/content/{item_id}/remove", remove, methods=["POST"], name="content:remove"
    ),
    Route(
        "/rooms/{room_id}/content/{item_id}/download",
        toggle_download,
        methods=["POST"],
        name="content:toggle_download",
    ),
    Route("/rooms/{room_id}/content/{item_id}/file", seller_file, name="content:seller_file"),
    Route("/rooms/{room_id}/sections", section_add, methods=["POST"], name="content:section_add"),
    Route(
        "/rooms/{room_id}/sections/{section_id}/edit",
        section_rename,
        methods=["POST"],
        name="content:section_rename",
    ),
    Route(
        "/rooms/{room_id}/sections/{section_id}/remove",
        section_remove,
        methods=["POST"],
        name="content:section_remove",
    ),
    Route(
        "/rooms/{room_id}/sections/{section_id}/move",
        section_move,
        methods=["POST"],
        name="content:section_move",
    ),
    Route("/r/{room_id}/content/{item_id}", view, name="content:view"),
    Route("/r/{room_id}/content/{item_id}/file", buyer_file, name="content:buyer_file"),
    Route("/r/{room_id}/content/{item_id}/open", open_link, name="content:open"),
]
