"""JSON API v1 for sellers' integrations: `Authorization: Bearer <token>`, JSON errors.

Errors are `{"error": {"code", "message"}}` (plus `fields` for validation) with 400, 401, 403,
404, 409, 413 or 422; bad input is never a 500.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import audit, invites, rooms, roomtemplates
from ..errors import InvalidInput
from ..i18n import _
from ..invites import Invite
from ..rooms import Room
from .api_content import room_content
from .auth import require_api_user
from .handler import Req, endpoint
from .openapi import spec


def room_json(req: Req, room: Room) -> dict[str, Any]:
    return {
        "id": room.public_id,
        "name": room.name,
        "buyer_company": room.buyer_company,
        "stage": room.stage,
        "welcome_message": room.welcome_message,
        "allowed_domains": room.domains,
        "invite_expiry_days": room.invite_expiry_days,
        "retention_days": room.retention_days,
        "archived": room.archived,
        "url": req.services.links.seller_room(room),
        "buyer_url": req.services.links.buyer_room(room),
        "created_at": room.created_at.isoformat(),
        "updated_at": room.updated_at.isoformat(),
    }


def _status(invite: Invite) -> str:
    if invite.revoked:
        return "revoked"
    return "joined" if invite.first_opened_at else "invited"


def invite_json(req: Req, invite: Invite, *, with_link: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": invite.public_id,
        "email": invite.email,
        "name": invite.name,
        "role": invite.role or None,
        "status": _status(invite),
        "created_at": invite.created_at.isoformat(),
        "first_opened_at": invite.first_opened_at.isoformat() if invite.first_opened_at else None,
        "last_seen_at": invite.last_seen_at.isoformat() if invite.last_seen_at else None,
    }
    if with_link:
        body["link"] = req.services.links.invite(invite)
    return body


def _object(req: Req) -> dict[str, Any]:
    if not isinstance(req.json, dict):
        raise InvalidInput(_("The request body must be a JSON object."))
    return req.json


def _text(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(fields={key: _("Must be a string.")})
    return value


def _fields(data: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, object]:
    """Check the JSON types the spec documents and map them to what the domain validates (the same
    strings a form sends). Values are then validated by the domain, with per-field messages."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(fields={key: _("Unknown field.") for key in unknown[:10]})
    out: dict[str, object] = {}
    for key in allowed:
        if key not in data:
            continue
        value = data[key]
        if key == "allowed_domains":
            # An array as documented; a comma separated string, as the form sends, is accepted too.
            items = value if isinstance(value, list) else [value]
            value = ",".join(_text(key, item) for item in items)
        elif key in ("invite_expiry_days", "retention_days"):
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise InvalidInput(fields={key: _("Must be a whole number.")})
            value = str(value)
        else:
            value = _text(key, value)
        out[key] = value
    return out


def _flag(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.pop(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(fields={key: _("Must be true or false.")})
    return value


ROOM_FIELDS = rooms.EDITABLE_FIELDS
INVITE_FIELDS = ("email", "name", "role")


@endpoint(json=True)
def room_collection(req: Req) -> Response:
    user = require_api_user(req)
    if req.request.method == "GET":
        query = req.request.query_params
        archived = query.get("archived", "false")
        if archived not in ("true", "false"):
            raise InvalidInput(
                fields={"archived": _("Must be one of: %(options)s.", options="true, false")}
            )
        found = rooms.list_rooms(
            req.session,
            org_id=user.org_id,
            search=query.get("q", ""),
            archived=archived == "true",
        )
        return JSONResponse({"data": [room_json(req, r) for r in found]})
    body = dict(_object(req))
    template_id = body.pop("template_id", None)  # a room from a template (room templates)
    if template_id is not None and not isinstance(template_id, str):
        raise InvalidInput(fields={"template_id": _("Must be a string.")})
    created = roomtemplates.create_room(
        req.session,
        user=user,
        data=_fields(body, ROOM_FIELDS),
        template_id=template_id or "",
        default_expiry_days=req.settings.invite_expiry_days,
        default_retention_days=req.settings.track_retention_days,
    )
    room = created.room
    _audit(req, user, room, "room.created")
    answer = room_json(req, room)
    if created.template is not None:
        answer.update(template_id=created.template.public_id, skipped_documents=created.skipped)
    location = str(req.request.url_for("api:room", room_id=room.public_id))
    return JSONResponse(answer, status_code=201, headers={"Location": location})


@endpoint(json=True)
def room_item(req: Req) -> Response:
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    if req.request.method == "PATCH":
        changes = _fields(_object(req), ROOM_FIELDS)
        rooms.update_room(req.session, room=room, data=changes)
        _audit(req, user, room, "room.updated", fields=sorted(changes))
    elif req.request.method == "DELETE":
        rooms.archive_room(req.session, room=room)
        _audit(req, user, room, "room.archived")
    return JSONResponse(room_json(req, room))


def _audit(req: Req, user: Any, room: Room, action: str, **detail: object) -> None:
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action=action,
        target=room.public_id,
        via="api",
        **detail,
    )


@endpoint(json=True)
def invite_collection(req: Req) -> Response:
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    if req.request.method == "GET":
        return JSONResponse(
            {"data": [invite_json(req, i) for i in invites.list_invites(req.session, room=room)]}
        )
    body = dict(_object(req))
    send = _flag(body, "send_email", default=True)
    data = _fields(body, INVITE_FIELDS)
    invite = invites.create_invite(
        req.session,
        room=room,
        seller=user,
        links=req.services.links,
        renderer=req.services.mail,
        send=send,
        email=str(data.get("email", "")),
        name=str(data.get("name", "")),
        role=str(data.get("role", "")),
    )
    location = str(
        req.request.url_for("api:invite", room_id=room.public_id, invite_id=invite.public_id)
    )
    return JSONResponse(
        invite_json(req, invite, with_link=True), status_code=201, headers={"Location": location}
    )


@endpoint(json=True)
def invite_item(req: Req) -> Response:
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    invite = invites.get_invite(req.session, room=room, invite_id=req.param("invite_id"))
    if req.request.method == "DELETE":
        invites.revoke_invite(req.session, room=room, seller=user, invite=invite)
    return JSONResponse(invite_json(req, invite))


async def openapi(request: Any) -> Response:
    return JSONResponse(spec(request.app.state.services.settings.base_url))


routes = [
    Route("/api/v1/openapi.json", openapi, name="api:openapi"),
    Route(
        "/api/v1/rooms/{room_id}/content",
        room_content,
        methods=["GET", "POST"],
        name="api:content",
    ),
    Route("/api/v1/rooms", room_collection, methods=["GET", "POST"], name="api:rooms"),
    Route(
        "/api/v1/rooms/{room_id}", room_item, methods=["GET", "PATCH", "DELETE"], name="api:room"
    ),
    Route(
        "/api/v1/rooms/{room_id}/invites",
        invite_collection,
        methods=["GET", "POST"],
        name="api:invites",
    ),
    Route(
        "/api/v1/rooms/{room_id}/invites/{invite_id}",
        invite_item,
        methods=["GET", "DELETE"],
        name="api:invite",
    ),
]
