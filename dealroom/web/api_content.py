"""API v1: a room's content. `POST /api/v1/rooms/{room_id}/content` takes a file as
multipart/form-data or a link as JSON, on one route: the request's content type decides how the
body is read (streamed with the upload limit, or parsed as JSON)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import content, rooms
from ..content import ItemView, ListedItem
from ..errors import InvalidInput
from ..i18n import _
from .auth import require_api_user
from .forms import require_upload
from .handler import Req, endpoint

LINK_FIELDS = ("kind", "url", "title", "section", "stages", "roles")


def item_json(view: ItemView | ListedItem) -> dict[str, Any]:
    doc = view.document
    return {
        "id": view.public_id,
        "document_id": doc.public_id,
        "kind": doc.kind,
        "title": doc.title,
        "file_kind": doc.file_kind or None,
        "link_kind": doc.link_kind or None,
        "url": doc.url or None,
        "pages": view.pages,
        "version": doc.current_version,
        "section": view.section.title if view.section is not None else None,
        "stages": view.item.stage_list,
        "roles": view.item.role_list,
        "allow_download": view.item.allow_download,
        "in_library": doc.in_library,
        "created_at": view.item.created_at.isoformat(),
    }


def _tags(key: str, value: object) -> str:
    """An array of strings as documented, or a comma separated string as a form sends."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise InvalidInput(fields={key: _("Must be an array of strings.")})
    return ",".join(str(item) for item in items)


def _link_body(req: Req) -> dict[str, str]:
    data = req.json
    if not isinstance(data, dict):
        raise InvalidInput(_("The request body must be a JSON object."))
    unknown = sorted(set(data) - set(LINK_FIELDS))
    if unknown:
        raise InvalidInput(fields={key: _("Unknown field.") for key in unknown[:10]})
    if data.get("kind") != "link":
        raise InvalidInput(
            fields={
                "kind": _(
                    'Send `"kind": "link"` with a URL, or upload a file as '
                    "multipart/form-data with a `file` part."
                )
            }
        )
    out: dict[str, str] = {}
    for key in ("url", "title", "section"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise InvalidInput(fields={key: _("Must be a string.")})
        out[key] = value
    for key in ("stages", "roles"):
        out[key] = _tags(key, data.get(key, []))
    return out


def _collection(req: Req) -> Response:
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    if req.request.method == "GET":
        listed = content.room_content(req.session, room=room).items
        return JSONResponse({"data": [item_json(view) for view in listed]})
    if req.form is not None:  # multipart: a file
        fields = {k: req.field(k) for k in ("title", "section", "stages", "roles")}
        upload = require_upload(req.form, req.settings.max_upload_bytes)
        section = (
            content.section_named(req.session, room=room, title=fields["section"])
            if fields["section"].strip()
            else None
        )
        item = content.add_file(
            req.session,
            storage=req.services.storage,
            room=room,
            user=user,
            upload=upload,
            title=fields["title"],
            section=section,
            stages_=fields["stages"],
            roles_=fields["roles"],
        )
    else:
        body = _link_body(req)
        section = (
            content.section_named(req.session, room=room, title=body["section"])
            if body["section"].strip()
            else None
        )
        item = content.add_link(
            req.session,
            room=room,
            user=user,
            url=body["url"],
            title=body["title"],
            section=section,
            stages_=body["stages"],
            roles_=body["roles"],
        )
    view = content.get_item(req.session, room=room, item_id=item.public_id)
    return JSONResponse(item_json(view), status_code=201)


_as_json = endpoint(json=True)(_collection)
_as_upload = endpoint(upload=True)(_collection)


async def room_content(request: Request) -> Response:
    """GET lists the room's items; POST adds a file (multipart) or a link (JSON)."""
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "multipart/"
    ):
        return await _as_upload(request)
    return await _as_json(request)
