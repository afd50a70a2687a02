"""A seller's language and time zone, and the language switcher buyers (and visitors) use."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from .. import accounts, i18n, validate
from ..errors import InvalidInput
from ..i18n import _
from .auth import current_user, require_seller
from .handler import Req, Rollback, endpoint
from .locale import LANG_COOKIE, LANG_MAX_AGE
from .render import redirect, render


def _remember_language(req: Req, response: Response, locale: str) -> Response:
    # Kept in a cookie as well, so pages answered before a seller is known (the login page after
    # logging out, a 404) use the same language.
    response.set_cookie(
        LANG_COOKIE,
        locale,
        max_age=LANG_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=req.settings.https,
        path="/",
    )
    return response


def _context(req: Req, values: dict[str, str], errors: dict[str, str]) -> dict[str, object]:
    zones = list(i18n.common_timezones())
    if values.get("timezone") and values["timezone"] not in zones:
        zones.insert(0, values["timezone"])  # a zone set elsewhere stays visible and selected
    return {
        "values": values,
        "errors": errors,
        "timezones": zones,
        "saved": req.request.query_params.get("saved") == "1",
    }


@endpoint(form=True)
def preferences(req: Req) -> Response:
    user = require_seller(req)
    if req.request.method == "GET":
        values = {"locale": user.locale, "timezone": user.timezone}
        return render(req, "preferences/page.html", _context(req, values, {}))
    values = req.fields("locale", "timezone")
    try:
        accounts.update_preferences(req.session, user=user, **values)
    except InvalidInput as exc:
        raise Rollback(
            render(req, "preferences/page.html", _context(req, values, exc.fields), status=422)
        ) from None
    return _remember_language(req, redirect(req, "/settings/preferences?saved=1"), user.locale)


def _local_path(value: str) -> str:
    """Back to the page the switcher was on; only same-site paths (no open redirect)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@endpoint(form=True)
def switch_language(req: Req) -> Response:
    """The language switcher: a plain form POST that sets the `dr_lang` cookie (and a logged-in
    seller's own setting), then returns to the page it came from."""
    locale = validate.choice(req.field("lang"), "lang", label=_("Language"), options=i18n.LOCALES)
    user = current_user(req)
    if user is not None:
        accounts.update_preferences(req.session, user=user, locale=locale, timezone=user.timezone)
    return _remember_language(req, redirect(req, _local_path(req.field("next"))), locale)


routes = [
    Route(
        "/settings/preferences",
        preferences,
        methods=["GET", "POST"],
        name="preferences:page",
    ),
    Route("/language", switch_language, methods=["POST"], name="preferences:language"),
]
