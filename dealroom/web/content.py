"""Room content for sellers (upload, remove, download switch) and file delivery for both sides.

Files are never public: a locally stored file streams through an authorised route; an S3 file
is a redirect to a presigned URL that lives `download_url_seconds`.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import accounts, audit, content
from ..content import ContentItem, StoredFile
from ..errors import InvalidInput, NotFound, PermissionDenied
from ..storage.base import content_disposition
from .auth import require_room, require_viewer
from .forms import require_upload
from .handler import Req, Rollback, endpoint
from .render import redirect, render


@endpoint(upload=True)
def upload(req: Req) -> Response:
    user, room = require_room(req)
    org = accounts.get_org(req.session, user.org_id)
    try:
        file = require_upload(req.form, req.settings.max_upload_bytes)
        item = content.add_file(
            req.session,
            storage=req.services.storage,
            room=room,
            user=user,
            org_public_id=org.public_id,
            upload=file,
            title=req.field("title"),
        )
    except InvalidInput as exc:
        from .rooms import _detail_context

        ctx = _detail_context(req, room)
        ctx["upload_errors"] = exc.fields or {"file": exc.message}
        raise Rollback(
            render(req, "rooms/detail.html", ctx, fragment="rooms/_content.html", status=422)
        ) from None
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="content.uploaded",
        target=item.public_id,
        room=room.public_id,
    )
    return redirect(req, f"/rooms/{room.public_id}#content")


@endpoint(form=True)
def remove(req: Req) -> Response:
    user, room = require_room(req)
    item, _stored = content.get_item(req.session, room=room, item_id=req.param("item_id"))
    content.remove_item(req.session, item=item)
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="content.removed",
        target=item.public_id,
    )
    return redirect(req, f"/rooms/{room.public_id}#content")


@endpoint(form=True)
def toggle_download(req: Req) -> Response:
    _user, room = require_room(req)
    item, _stored = content.get_item(req.session, room=room, item_id=req.param("item_id"))
    content.set_download(req.session, item=item, allowed=req.field("allow_download") == "1")
    return redirect(req, f"/rooms/{room.public_id}#content")


def deliver(
    req: Req, item: ContentItem, stored: StoredFile | None, *, as_download: bool
) -> Response:
    if stored is None:
        raise NotFound("This item has no file.")
    storage = req.services.storage
    if stored.backend != storage.name:
        raise NotFound("This file is stored in a backend this server is not configured for.")
    url = storage.url(
        stored.key,
        expires_in=req.settings.download_url_seconds,
        filename=stored.filename,
        content_type=stored.content_type,
        inline=not as_download,
    )
    if url:
        return RedirectResponse(
            url, status_code=303, headers={"Cache-Control": "private, no-store"}
        )
    headers = {
        "Content-Disposition": content_disposition(stored.filename, inline=not as_download),
        "Content-Length": str(stored.size),
        "Cache-Control": "private, no-store",
        # A stored file is data, never a page of ours: no script, even if a browser sniffs HTML.
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'",
    }
    return StreamingResponse(
        storage.open(stored.key), media_type=stored.content_type, headers=headers
    )


@endpoint
def seller_file(req: Req) -> Response:
    _user, room = require_room(req)
    item, stored = content.get_item(req.session, room=room, item_id=req.param("item_id"))
    return deliver(req, item, stored, as_download=req.request.query_params.get("download") == "1")


@endpoint
def buyer_file(req: Req) -> Response:
    room, invite = require_viewer(req)
    item, stored = content.get_item(req.session, room=room, item_id=req.param("item_id"))
    as_download = req.request.query_params.get("download") == "1"
    if as_download and not item.allow_download:
        raise PermissionDenied(
            "The seller has turned off downloads for this item. You can still view it here."
        )
    if as_download and invite is not None:
        audit.record(
            req.session,
            org_id=room.org_id,
            actor=invite.public_id,
            action="content.downloaded",
            target=item.public_id,
        )
    return deliver(req, item, stored, as_download=as_download)


routes = [
    Route("/rooms/{room_id}/content", upload, methods=["POST"], name="content:upload"),
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
    Route("/r/{room_id}/content/{item_id}/file", buyer_file, name="content:buyer_file"),
]
