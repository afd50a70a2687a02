"""Champion view: the seller's switch, the buyer's answer to the notice naming it, and the
champion's page (which colleagues opened which item: opened / not yet, nothing more)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from .. import champion
from ..errors import NotFound
from ..i18n import _
from ..invites import Invite
from ..rooms import Room
from .auth import require_room, require_viewer
from .handler import Req, endpoint
from .htmx import is_htmx
from .render import redirect, render
from .tracking import back_to_room, record_choice


def notice(req: Req, room: Room, invite: Invite | None) -> champion.Notice:
    """For buyer pages that show the tracking notice (showing it is recorded)."""
    return champion.notice(req.session, room=room, invite=invite)


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


@endpoint(form=True)
def setting(req: Req) -> Response:
    user, room = require_room(req)
    enabled = req.field("champion") == "on"
    champion.set_enabled(req.session, room=room, user=user, enabled=enabled)
    if is_htmx(req.request):
        return render(req, "champion/_setting.html", {"room": room, "champion_on": enabled})
    return redirect(req, f"/rooms/{room.public_id}#champion-setting")


routes = [
    Route("/r/{room_id}/champion", page, name="champion:view"),
    Route("/r/{room_id}/champion/notice", answer, methods=["POST"], name="champion:notice"),
    Route("/rooms/{room_id}/champion", setting, methods=["POST"], name="champion:setting"),
]
