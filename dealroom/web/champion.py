"""Champion view: the seller's switch, the buyer's answer to the notice naming it, and the
champion's page (which colleagues opened which item: opened / not yet, nothing more)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from .. import champion
from ..content import RoomContent, room_content
from ..errors import InvalidInput, NotFound
from ..i18n import _
from ..rooms import Room
from .auth import require_room, require_viewer
from .handler import Req, Rollback, endpoint
from .htmx import is_htmx
from .render import redirect, render
from .tracking import back_to_room, record_choice


@endpoint
def page(req: Req) -> Response:
    room, invite = require_viewer(req)
    if invite is not None and not champion.is_champion(invite):
        raise NotFound(_("This page is not available."))
    view = champion.champion_view(req.session, room=room, viewer=invite)
    ctx = {"room": room, "viewer": invite, "preview": invite is None, "view": view}
    return render(req, "champion/page.html", ctx)


@endpoint(form=True)
def answer(req: Req) -> Response:
    """OK or pause on the tracking notice while it names the champion view: records the
    answer to both (the tracking part as tracking:set does)."""
    room, invite = require_viewer(req)
    if invite is not None:
        champion.answer_notice(req.session, room=room, invite=invite)
        # This notice offers OK and Pause only.
        choice = "pause" if req.field("tracking") == "pause" else "ok"
        record_choice(req, room, invite, choice)
    return back_to_room(req, room)


def setting_context(req: Req, room: Room, listing: RoomContent | None = None) -> dict[str, Any]:
    """What champion/_setting.html needs (the seller's room page includes it, and passes the
    room's `listing` it has already read)."""
    on = champion.enabled_at(req.session, room=room) is not None
    if on and listing is None:
        listing = room_content(req.session, room=room)
    return {
        "room": room,
        "champion_on": on,
        # The key items are chosen while the view is on.
        "champion_items": listing.items if on and listing is not None else [],
        "champion_keys": champion.key_items(req.session, room=room) if on else set(),
        "champion_errors": {},
        "champion_saved": False,
    }


def _answer(req: Req, room: Room, **changes: Any) -> Response:
    status = 422 if changes.get("champion_errors") else 200
    if is_htmx(req.request):
        ctx = setting_context(req, room) | changes
        return render(req, "champion/_setting.html", ctx, status=status)
    if status == 422:
        from .rooms import _detail_context  # the room page includes this setting

        ctx = _detail_context(req, room) | changes
        return render(req, "rooms/detail.html", ctx, status=status)
    return redirect(req, f"/rooms/{room.public_id}#champion-setting")


@endpoint(form=True)
def setting(req: Req) -> Response:
    user, room = require_room(req)
    enabled = req.field("champion") == "on"
    champion.set_enabled(req.session, room=room, user=user, enabled=enabled)
    return _answer(req, room)


@endpoint(form=True)
def key_items(req: Req) -> Response:
    """The seller marks the room's key items (none ticked: every item is shown)."""
    user, room = require_room(req)
    form = req.form
    chosen = [v for v in form.getlist("items") if isinstance(v, str)] if form else []
    try:
        champion.set_key_items(req.session, room=room, user=user, item_ids=chosen)
    except InvalidInput as exc:
        raise Rollback(_answer(req, room, champion_errors=exc.fields)) from None
    return _answer(req, room, champion_saved=True)


routes = [
    Route("/r/{room_id}/champion", page, name="champion:view"),
    Route("/r/{room_id}/champion/notice", answer, methods=["POST"], name="champion:notice"),
    Route("/rooms/{room_id}/champion", setting, methods=["POST"], name="champion:setting"),
    Route("/rooms/{room_id}/champion/items", key_items, methods=["POST"], name="champion:items"),
]
