"""A seller's notification settings: per event type immediately / in the digest / off, quiet
hours and an optional Slack webhook (the sending lives in dealroom.notifications)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from .. import notifications
from ..errors import InvalidInput
from ..i18n import _
from .auth import require_seller
from .handler import Req, Rollback, endpoint
from .render import redirect, render

FIELDS = (
    *(f"mode_{kind}" for kind in notifications.KINDS),
    "quiet_start",
    "quiet_end",
    "slack_url",
)


def _context(req: Req, values: dict[str, str], errors: dict[str, str]) -> dict[str, object]:
    return {
        "values": values,
        "errors": errors,
        "kinds": [(kind, _(notifications.KIND_LABELS[kind])) for kind in notifications.KINDS],
        "modes": [(mode, _(notifications.MODE_LABELS[mode])) for mode in notifications.MODES],
        "saved": req.request.query_params.get("saved") == "1",
    }


@endpoint(form=True)
def settings_page(req: Req) -> Response:
    user = require_seller(req)
    if req.request.method == "GET":
        prefs = notifications.preferences(req.session, user=user)
        values = {f"mode_{kind}": prefs.mode(kind) for kind in notifications.KINDS}
        values |= {
            "quiet_start": notifications.clock(prefs.quiet_start),
            "quiet_end": notifications.clock(prefs.quiet_end),
            "slack_url": prefs.slack_url,
        }
        return render(req, "notifications/settings.html", _context(req, values, {}))
    values = req.fields(*FIELDS)
    try:
        notifications.update_preferences(req.session, user=user, data=values)
    except InvalidInput as exc:
        raise Rollback(
            render(
                req, "notifications/settings.html", _context(req, values, exc.fields), status=422
            )
        ) from None
    return redirect(req, "/settings/notifications?saved=1")


routes = [
    Route(
        "/settings/notifications",
        settings_page,
        methods=["GET", "POST"],
        name="notifications:settings",
    ),
]
