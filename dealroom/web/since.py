"""Closing the buyer room page's "since your last visit" banner (the room page itself shows
it: web/buyer.py, through since.banner)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from .. import since
from .auth import require_viewer
from .handler import Req, endpoint
from .htmx import is_htmx
from .render import redirect, render


@endpoint(form=True)
def dismiss(req: Req) -> Response:
    room, invite = require_viewer(req)
    if invite is not None:
        since.dismiss(req.session, invite=invite)
    if is_htmx(req.request):
        return render(req, "since/_banner.html", {"room": room, "since_changes": None})
    return redirect(req, str(req.request.url_for("buyer:room", room_id=room.public_id)))


routes = [
    Route("/r/{room_id}/since/dismiss", dismiss, methods=["POST"], name="since:dismiss"),
]
