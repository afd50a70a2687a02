"""Which language and time zone a request is answered in.

Language: a logged-in seller's own setting (`User.locale`); otherwise the `dr_lang` cookie the
language switcher sets; otherwise the browser's Accept-Language; else English.
Time zone: the seller's setting (`User.timezone`); otherwise the `dr_tz` cookie that
static/app.js sets from the browser (only names from the zone database count); else UTC.
The bearer-token API ignores cookies and honours Accept-Language only.

The middleware settles what the request alone tells (cookies, headers) for every response,
404 pages included; `seller_preferences` then applies the seller's settings inside the handler's
transaction, where the session cookie can be checked against the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from .. import i18n
from .middleware import TRACKING_BEACON, _cookies, _header

if TYPE_CHECKING:
    from .handler import Req

LANG_COOKIE = "dr_lang"
TZ_COOKIE = "dr_tz"
LANG_MAX_AGE = 365 * 86400


def _is_api(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/api/")


def request_preferences(scope: Scope) -> tuple[str, str | None]:
    """(locale, time zone name or None) from the request's cookies and headers."""
    cookies = {} if _is_api(scope) else _cookies(scope)
    locale = i18n.negotiate(
        cookies.get(LANG_COOKIE), accept_language=_header(scope, b"accept-language")
    )
    return locale, i18n.timezone_name(cookies.get(TZ_COOKIE))


class LocaleMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST" and TRACKING_BEACON.match(scope["path"]):
            await self.app(scope, receive, send)  # the beacon writes no words: skip the work
            return
        locale, zone = request_preferences(scope)
        with i18n.using(locale, zone):
            await self.app(scope, receive, send)


@contextmanager
def seller_preferences(req: Req) -> Iterator[None]:
    """A logged-in seller's own language and time zone, for the rest of the request."""
    from .auth import current_user

    user = None if _is_api(req.request.scope) else current_user(req)
    if user is None:
        yield
        return
    with i18n.using(user.locale, user.timezone):
        yield
