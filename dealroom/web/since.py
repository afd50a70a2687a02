"""The buyer room page's "since your last visit" banner, and closing it."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response
from starlette.routing import Route

from .. import since
from ..accounts import User
from ..invites import Invite
from ..rooms import Room
from .auth import require_viewer
from .handler import Req, endpoint
from .htmx import is_htmx
from .render import redirect, render


def since_banner(
    req: Req,
    room: Room,
    invite: Invite | None,
    *,
    users: Sequence[User] | None = None,
    invites: Sequence[Invite] | None = None,
) -> since.Changes | None:
    """For the buyer room page (opening it is what moves the buyer's marker); a seller's
    preview records nothing and shows no banner."""
    if invite is None:
        return None
    return since.banner(req.session, room=room, invite=invite, users=users, invites=invites)


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
