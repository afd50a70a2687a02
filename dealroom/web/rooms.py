"""Seller pages for rooms: list and search, create, the room page, settings, people and requests."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from .. import analytics, audit, content, invites, rooms, roomtemplates
from ..accounts import User
from ..errors import Conflict, InvalidInput
from ..rooms import STAGES
from .auth import require_room, require_seller
from .champion import setting_context as champion_setting
from .chat import chat_panel
from .content import deliver, seller_panel
from .exports import panel as export_panel
from .forms import upload_from
from .handler import Req, Rollback, endpoint
from .htmx import is_htmx
from .notes import panel as notes_panel
from .render import redirect, render
from .roomtemplates import new_room_choices, new_room_defaults, room_url, skipped_note
from .suggestions import seller_panel as actions_panel
from .tasks import seller_plan

ROOM_FIELDS = rooms.EDITABLE_FIELDS


@endpoint
def room_list(req: Req) -> Response:
    user = require_seller(req)
    query = req.request.query_params
    search = query.get("q", "")[:100]
    archived = query.get("archived") == "1"
    found = rooms.list_rooms(req.session, org_id=user.org_id, search=search, archived=archived)
    counts = invites.count_invites(req.session, room_ids=[r.id for r in found if r.id is not None])
    ctx = {
        "rooms": found,
        "counts": counts,
        "q": search,
        "archived": archived,
        "total": rooms.count_rooms(req.session, org_id=user.org_id),
    }
    return render(req, "rooms/list.html", ctx, fragment="rooms/_table.html")


def _logo(req: Req, room: rooms.Room) -> None:
    """Apply the form's optional logo upload (and its "remove" box) to the room."""
    if req.field("remove_logo") == "1":
        content.remove_logo(req.session, room=room)
    upload = upload_from(req.form, "buyer_logo")
    if upload is not None:
        content.set_logo(req.session, storage=req.services.storage, room=room, upload=upload)


@endpoint(upload=True)
def room_new(req: Req) -> Response:
    user = require_seller(req)
    if req.request.method == "GET":
        values, errors = new_room_defaults(req, user)
        ctx = {"values": values, "errors": errors, "stages": STAGES}
        return render(req, "rooms/new.html", {**ctx, **new_room_choices(req, user, values)})
    values = req.fields(*ROOM_FIELDS, "template_id")
    try:
        # A blank room, or one made from the chosen template (room templates).
        created = roomtemplates.create_room(
            req.session,
            user=user,
            data={key: values[key] for key in ROOM_FIELDS},
            template_id=values["template_id"],
            default_expiry_days=req.settings.invite_expiry_days,
            default_retention_days=req.settings.track_retention_days,
        )
        _logo(req, created.room)
    except InvalidInput as exc:
        ctx = {"values": values, "errors": exc.fields, "stages": STAGES}
        ctx.update(new_room_choices(req, user, values))
        raise Rollback(render(req, "rooms/new.html", ctx, status=422)) from None
    _audit_room(req, user, created.room, "room.created")
    return redirect(req, room_url(req, created))


def _audit_room(req: Req, user: User, room: rooms.Room, action: str, **detail: object) -> None:
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action=action,
        target=room.public_id,
        **detail,
    )


def _detail_context(req: Req, room: rooms.Room) -> dict[str, object]:
    content_panel = seller_panel(req, room)
    return {
        "room": room,
        "stages": STAGES,
        "content_panel": content_panel,
        "people": invites.list_invites(req.session, room=room),
        "requests": invites.pending_requests(req.session, room=room),
        "buyer_roles": invites.BUYER_ROLES,
        "invite_values": {},
        "invite_errors": {},
        "values": {},
        "errors": {},
        "buyer_link": req.services.links.buyer_room(room),
        "notes_panel": notes_panel(req, room, can_edit=True),
        "plan_panel": seller_plan(req, room),
        "chat_panel": chat_panel(req, room, seller=True, can_post=True),
        "template_skipped": skipped_note(req),
        "export_panel": export_panel(req, room),
        "engagement": analytics.room_engagement(req.session, room=room),
        "actions_panel": actions_panel(req, room),
        **champion_setting(req, room, listing=content_panel.content),
    }


@endpoint
def room_detail(req: Req) -> Response:
    _user, room = require_room(req)
    return render(req, "rooms/detail.html", _detail_context(req, room))


@endpoint(upload=True)
def room_edit(req: Req) -> Response:
    user, room = require_room(req)
    values = {k: req.field(k) for k in ROOM_FIELDS if req.form is not None and k in req.form}
    try:
        rooms.update_room(req.session, room=room, data=dict(values))
        _logo(req, room)
    except InvalidInput as exc:
        ctx = _detail_context(req, room)
        ctx.update(values=values, errors=exc.fields)
        raise Rollback(
            render(req, "rooms/detail.html", ctx, fragment="rooms/_settings.html", status=422)
        ) from None
    logo = req.field("remove_logo") == "1" or upload_from(req.form, "buyer_logo") is not None
    _audit_room(req, user, room, "room.updated", fields=sorted(values) + (["logo"] if logo else []))
    return redirect(req, f"/rooms/{room.public_id}")


@endpoint
def room_logo(req: Req) -> Response:
    _user, room = require_room(req)
    return deliver(req, content.room_logo(req.session, room=room), as_download=False, stream=True)


@endpoint(form=True)
def room_archive(req: Req) -> Response:
    user, room = require_room(req)
    rooms.archive_room(req.session, room=room)
    _audit_room(req, user, room, "room.archived")
    return redirect(req, f"/rooms/{room.public_id}")


@endpoint(form=True)
def room_restore(req: Req) -> Response:
    user, room = require_room(req)
    rooms.restore_room(req.session, room=room)
    _audit_room(req, user, room, "room.restored")
    return redirect(req, f"/rooms/{room.public_id}")


@endpoint(form=True)
def invite_create(req: Req) -> Response:
    user, room = require_room(req)
    values = req.fields("email", "name", "role")
    try:
        invites.create_invite(
            req.session,
            room=room,
            seller=user,
            links=req.services.links,
            renderer=req.services.mail,
            email=values["email"],
            name=values["name"],
            role=values["role"],
        )
    except (InvalidInput, Conflict) as exc:
        ctx = _detail_context(req, room)
        ctx.update(
            invite_values=values,
            invite_errors=exc.fields if isinstance(exc, InvalidInput) else {"email": exc.message},
        )
        raise Rollback(
            render(req, "rooms/detail.html", ctx, fragment="rooms/_people.html", status=422)
        ) from None
    return _people_answer(req, room)


def _people_answer(req: Req, room: rooms.Room) -> Response:
    if is_htmx(req.request):
        return render(
            req, "rooms/detail.html", _detail_context(req, room), fragment="rooms/_people.html"
        )
    return redirect(req, f"/rooms/{room.public_id}#people")


@endpoint(form=True)
def invite_resend(req: Req) -> Response:
    user, room = require_room(req)
    invite = invites.get_invite(req.session, room=room, invite_id=req.param("invite_id"))
    invites.resend_invite(
        req.session,
        room=room,
        seller=user,
        invite=invite,
        links=req.services.links,
        renderer=req.services.mail,
    )
    return _people_answer(req, room)


@endpoint(form=True)
def invite_revoke(req: Req) -> Response:
    user, room = require_room(req)
    invite = invites.get_invite(req.session, room=room, invite_id=req.param("invite_id"))
    invites.revoke_invite(req.session, room=room, seller=user, invite=invite)
    return _people_answer(req, room)


def _decide(req: Req, approve: bool) -> Response:
    user, room = require_room(req)
    access_request = invites.get_request(req.session, room=room, request_id=req.param("request_id"))
    invites.decide_request(
        req.session,
        room=room,
        seller=user,
        request=access_request,
        approve=approve,
        links=req.services.links,
        renderer=req.services.mail,
    )
    return _people_answer(req, room)


@endpoint(form=True)
def request_approve(req: Req) -> Response:
    return _decide(req, approve=True)


@endpoint(form=True)
def request_deny(req: Req) -> Response:
    return _decide(req, approve=False)


routes = [
    Route("/rooms", room_list, name="rooms:list"),
    Route("/rooms/new", room_new, methods=["GET", "POST"], name="rooms:new"),
    Route("/rooms/{room_id}", room_detail, name="rooms:detail"),
    Route("/rooms/{room_id}/edit", room_edit, methods=["POST"], name="rooms:edit"),
    Route("/rooms/{room_id}/logo", room_logo, name="rooms:logo"),
    Route("/rooms/{room_id}/archive", room_archive, methods=["POST"], name="rooms:archive"),
    Route("/rooms/{room_id}/restore", room_restore, methods=["POST"], name="rooms:restore"),
    Route("/rooms/{room_id}/invites", invite_create, methods=["POST"], name="rooms:invite"),
    Route(
        "/rooms/{room_id}/invites/{invite_id}/resend",
        invite_resend,
        methods=["POST"],
        name="rooms:invite_resend",
    ),
    Route(
        "/rooms/{room_id}/invites/{invite_id}/revoke",
        invite_revoke,
        methods=["POST"],
        name="rooms:invite_revoke",
    ),
    Route(
        "/rooms/{room_id}/requests/{request_id}/approve",
        request_approve,
        methods=["POST"],
        name="rooms:request_approve",
    ),
    Route(
        "/rooms/{room_id}/requests/{request_id}/deny",
        request_deny,
        methods=["POST"],
        name="rooms:request_deny",
    ),
]
