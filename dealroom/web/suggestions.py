"""Suggestions: the buyer's "Suggested for you" panel (it refreshes itself, so a page just read
moves it within seconds), its switches, the seller's next best actions and pins, and the API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import accounts, audit, rooms, suggestions
from ..content import RoomContent
from ..errors import InvalidInput, NotFound
from ..i18n import _
from ..ids import has_prefix
from ..invites import BUYER_ROLES, Invite, list_invites
from ..rooms import Room
from .auth import require_api_user, require_room, require_viewer
from .handler import Req, after_commit, endpoint
from .htmx import is_htmx
from .render import redirect, render


def _seller_name(req: Req, room: Room) -> str:
    owner = accounts.get_user(req.session, room.owner_id)
    return owner.display_name if owner is not None else ""


def _suggest(req: Req, room: Room, invite: Invite, **options: Any) -> suggestions.Suggestions:
    return suggestions.panel(
        req.session,
        room=room,
        invite=invite,
        half_life_days=req.settings.suggest_half_life_days,
        holdout_percent=req.settings.suggest_holdout_percent,
        seller_name=_seller_name(req, room),
        defer=_after_request(req),
        **options,
    )


def _after_request(req: Req) -> Callable[[Callable[[Session], None]], None]:
    """Impressions are written in a short transaction of their own once the request's has
    committed: a room page is a GET, read in a read transaction, and on SQLite one that starts
    writing fails when another connection (the tracking writer) wrote in between. If that
    write fails, the page is still answered (the failure is logged)."""

    def defer(write: Callable[[Session], None]) -> None:
        def run() -> None:
            with req.services.db.session() as session:
                write(session)

        after_commit(req.session, run)

    return defer


# ---------------------------------------------------------------- the buyer's panel


@dataclass
class BuyerPanel:
    room: Room
    found: suggestions.Suggestions | None  # None: a seller's preview
    preview: bool = False


def buyer_panel(
    req: Req,
    room: Room,
    invite: Invite | None,
    *,
    refresh: bool = False,
    listing: RoomContent | None = None,
    people: Sequence[Invite] | None = None,
) -> BuyerPanel:
    """For the buyer room page. A viewer's render counts as an impression; a preview does not.
    The room page passes what it has already read (its item listing, with this viewer's badges,
    and the room's people), so the panel does not read them again."""
    if invite is None:
        return BuyerPanel(room, None, preview=True)
    found = _suggest(req, room, invite, refresh=refresh, listing=listing, people=people)
    return BuyerPanel(room, found)


@endpoint
def panel(req: Req) -> Response:
    """The panel alone (it polls this every 15 s and when the page is shown again)."""
    room, invite = require_viewer(req)
    refresh = req.request.query_params.get("refresh") == "1"
    return _panel(req, room, invite, refresh=refresh)


def _panel(req: Req, room: Room, invite: Invite | None, *, refresh: bool) -> Response:
    ctx = {"room": room, "suggest": buyer_panel(req, room, invite, refresh=refresh)}
    return render(req, "suggestions/page.html", ctx, fragment="suggestions/_panel.html")


def _back(req: Req, room: Room, invite: Invite | None) -> Response:
    if is_htmx(req.request):
        return _panel(req, room, invite, refresh=False)
    return redirect(
        req, str(req.request.url_for("buyer:room", room_id=room.public_id)) + "#suggested"
    )


@endpoint(form=True)
def dismiss(req: Req) -> Response:
    """ "Not relevant": gone for good (P1)."""
    room, invite = require_viewer(req)
    if invite is not None:
        suggestions.dismiss(req.session, room=room, invite=invite, item_id=req.param("item_id"))
    return _back(req, room, invite)


@endpoint(form=True)
def switch(req: Req) -> Response:
    """Turn suggestions off (the seller's order) or on again."""
    room, invite = require_viewer(req)
    choice = req.field("suggestions")
    if choice not in ("on", "off"):
        raise InvalidInput(fields={"suggestions": _("Choose on or off.")})
    if invite is not None:
        suggestions.set_off(req.session, room=room, invite=invite, off=choice == "off")
        audit.record(
            req.session,
            org_id=room.org_id,
            actor=invite.public_id,
            action=f"suggestions.{'disabled' if choice == 'off' else 'enabled'}",
            target=invite.public_id,
        )
    return _back(req, room, invite)


# ---------------------------------------------------------------- the seller's side


@dataclass
class SellerPanel:
    room: Room
    actions: list[suggestions.NextAction]
    pins: list[suggestions.PinView]
    lift: suggestions.Lift
    items: list[tuple[str, str]]  # (item id, title) for the pin form
    targets: list[tuple[str, str]] = field(default_factory=list)  # (invite id or role, label)
    errors: dict[str, str] = field(default_factory=dict)


def seller_panel(req: Req, room: Room, errors: dict[str, str] | None = None) -> SellerPanel:
    from ..content import room_content
    from ..i18n import label

    people = list_invites(req.session, room=room)
    targets = [(p.public_id, p.display_name) for p in people if not p.revoked]
    targets += [(role, label(role, "buyer_role")) for role in BUYER_ROLES]
    return SellerPanel(
        room=room,
        actions=suggestions.next_actions(req.session, room=room),
        pins=suggestions.list_pins(req.session, room=room),
        lift=suggestions.lift(req.session, org_id=room.org_id, room=room),
        items=[(v.public_id, v.title) for v in room_content(req.session, room=room).items],
        targets=targets,
        errors=errors or {},
    )


def _seller_back(req: Req, room: Room, errors: dict[str, str] | None = None) -> Response:
    if is_htmx(req.request) or errors:
        ctx = {"room": room, "actions_panel": seller_panel(req, room, errors)}
        return render(
            req,
            "suggestions/actions.html",
            ctx,
            fragment="suggestions/_actions.html",
            status=422 if errors else 200,
        )
    return redirect(
        req, str(req.request.url_for("rooms:detail", room_id=room.public_id)) + "#next-actions"
    )


@endpoint
def actions_page(req: Req) -> Response:
    user, room = require_room(req)
    ctx = {"room": room, "actions_panel": seller_panel(req, room)}
    return render(req, "suggestions/actions.html", ctx, fragment="suggestions/_actions.html")


@endpoint(form=True)
def dismiss_action(req: Req) -> Response:
    user, room = require_room(req)
    suggestions.dismiss_action(req.session, room=room, user=user, key=req.param("action_id"))
    return _seller_back(req, room)


@endpoint(form=True)
def add_pin(req: Req) -> Response:
    user, room = require_room(req)
    try:
        row = suggestions.pin(
            req.session,
            room=room,
            user=user,
            item_id=req.field("item_id"),
            target=req.field("target"),
        )
    except InvalidInput as exc:
        return _seller_back(req, room, dict(exc.fields))
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="suggestions.pinned",
        target=row.public_id,
    )
    return _seller_back(req, room)


@endpoint(form=True)
def remove_pin(req: Req) -> Response:
    user, room = require_room(req)
    pin_id = req.param("pin_id")
    suggestions.unpin(req.session, room=room, pin_id=pin_id)
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="suggestions.unpinned",
        target=pin_id,
    )
    return _seller_back(req, room)


# ---------------------------------------------------------------- API


@endpoint(json=True)
def api_suggestions(req: Req) -> Response:
    """What that viewer would see now; not an impression."""
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    invite_id = req.request.query_params.get("invite_id", "")
    if not invite_id:
        raise InvalidInput(fields={"invite_id": _("Give the invite_id of a person in this room.")})
    invite = None
    if has_prefix(invite_id, "inv"):
        invite = next(
            (
                p
                for p in list_invites(req.session, room=room, include_revoked=True)
                if p.public_id == invite_id
            ),
            None,
        )
    if invite is None:
        raise NotFound(_("No such person in this room."))
    found = _suggest(req, room, invite, record=False)
    return JSONResponse(found.api())


@endpoint(json=True)
def api_next_actions(req: Req) -> Response:
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    return JSONResponse([a.api() for a in suggestions.next_actions(req.session, room=room)])


PIN_FIELDS = ("content_id", "invite_id", "role")


def _pin_body(req: Req) -> tuple[str, str, str]:
    """The JSON types the spec documents: `content_id`, and `invite_id` or `role` (not both)."""
    body = req.json
    if not isinstance(body, dict):
        raise InvalidInput(_("The request body must be a JSON object."))
    unknown = sorted(set(body) - set(PIN_FIELDS))
    if unknown:
        raise InvalidInput(fields={key: _("Unknown field.") for key in unknown[:10]})
    values = {}
    for key in PIN_FIELDS:
        value = body.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInput(fields={key: _("Must be a string.")})
        values[key] = value
    errors = {}
    if not values["content_id"]:
        errors["content_id"] = _("Give the content_id of an item of this room.")
    if bool(values["invite_id"]) == bool(values["role"]):
        message = _("Give either invite_id (one person) or role (everyone with it), not both.")
        errors["invite_id" if values["invite_id"] or not values["role"] else "role"] = message
    elif values["invite_id"] and not has_prefix(values["invite_id"], "inv"):
        errors["invite_id"] = _("Choose a person of this room.")
    elif values["role"] and values["role"] not in BUYER_ROLES:
        errors["role"] = _("Must be one of: %(options)s.", options=", ".join(BUYER_ROLES))
    if errors:
        raise InvalidInput(fields=errors)
    return values["content_id"], values["invite_id"], values["role"]


@endpoint(json=True)
def api_pins(req: Req) -> Response:
    """The seller's pins in a room; POST pins an item for one person or a role."""
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    if req.request.method == "GET":
        return JSONResponse(
            {"data": [p.api() for p in suggestions.list_pins(req.session, room=room)]}
        )
    content_id, invite_id, role = _pin_body(req)
    try:
        row = suggestions.pin(
            req.session, room=room, user=user, item_id=content_id, target=invite_id or role
        )
    except InvalidInput as exc:  # the domain names the form's fields
        names = {"item_id": "content_id", "target": "invite_id" if invite_id else "role"}
        raise InvalidInput(fields={names.get(k, k): v for k, v in exc.fields.items()}) from None
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="suggestions.pinned",
        target=row.public_id,
        via="api",
    )
    view = suggestions.get_pin(req.session, room=room, pin_id=row.public_id)
    location = str(req.request.url_for("api:pin", room_id=room.public_id, pin_id=row.public_id))
    return JSONResponse(view.api(), status_code=201, headers={"Location": location})


@endpoint(json=True)
def api_pin(req: Req) -> Response:
    """One pin; DELETE unpins it (answers what was removed)."""
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    pin_id = req.param("pin_id")
    view = suggestions.get_pin(req.session, room=room, pin_id=pin_id)
    if req.request.method == "DELETE":
        suggestions.unpin(req.session, room=room, pin_id=pin_id)
        audit.record(
            req.session,
            org_id=room.org_id,
            actor=user.public_id,
            action="suggestions.unpinned",
            target=pin_id,
            via="api",
        )
    return JSONResponse(view.api())


@endpoint(json=True)
def api_lift(req: Req) -> Response:
    """The measured effect of suggestions (suggested vs holdout, with the counts): a manager's
    or admin's token sees the organisation (or one rep's rooms with `rep`); a rep's token sees
    the rep's own rooms, whatever `rep` says."""
    user = require_api_user(req)
    rep = req.request.query_params.get("rep", "")
    owner = None
    if not user.is_manager:
        owner = user
    elif rep:
        owner = next(
            (m for m in accounts.team(req.session, org_id=user.org_id) if m.public_id == rep),
            None,
        )
        if owner is None:
            raise InvalidInput(fields={"rep": _("No such seller in your organisation.")})
    found = suggestions.lift(
        req.session, org_id=user.org_id, owner_id=owner.id if owner is not None else None
    )
    return JSONResponse({"rep_id": owner.public_id if owner is not None else None, **found.api()})


routes = [
    Route("/r/{room_id}/suggestions", panel, name="suggestions:panel"),
    Route(
        "/r/{room_id}/suggestions/{item_id}/dismiss",
        dismiss,
        methods=["POST"],
        name="suggestions:dismiss",
    ),
    Route("/r/{room_id}/suggestions/switch", switch, methods=["POST"], name="suggestions:switch"),
    Route("/rooms/{room_id}/next-actions", actions_page, name="suggestions:actions"),
    Route(
        "/rooms/{room_id}/next-actions/{action_id}/dismiss",
        dismiss_action,
        methods=["POST"],
        name="suggestions:dismiss_action",
    ),
    Route("/rooms/{room_id}/pins", add_pin, methods=["POST"], name="suggestions:pin"),
    Route(
        "/rooms/{room_id}/pins/{pin_id}/delete",
        remove_pin,
        methods=["POST"],
        name="suggestions:unpin",
    ),
    Route("/api/v1/rooms/{room_id}/suggestions", api_suggestions, name="api:suggestions"),
    Route("/api/v1/rooms/{room_id}/next-actions", api_next_actions, name="api:next_actions"),
    Route("/api/v1/rooms/{room_id}/pins", api_pins, methods=["GET", "POST"], name="api:pins"),
    Route(
        "/api/v1/rooms/{room_id}/pins/{pin_id}",
        api_pin,
        methods=["GET", "DELETE"],
        name="api:pin",
    ),
    Route("/api/v1/analytics/suggestions", api_lift, name="api:suggestion_lift"),
]
