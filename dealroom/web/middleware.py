"""Pure ASGI middleware: security headers, body size limits and CSRF.

CSRF is enforced here, for every unsafe request outside the bearer-token API, so no route can
forget it. The token lives in a signed HttpOnly cookie and comes back in the `X-CSRF-Token`
header (htmx, via `hx-headers` on <body>), in the `csrf_token` field of urlencoded forms, or in
the `csrf_token` query parameter of multipart uploads (whose bodies we do not buffer).
"""

from __future__ import annotations

import json
import re
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import i18n
from ..errors import TooLarge
from ..i18n import _
from ..security import Signer, TokenInvalid

# The tracking beacon: navigator.sendBeacon cannot send our header, so its CSRF proof is the
# page's signed stream token, bound to the room and the viewer (see web/tracking.py).
TRACKING_BEACON = re.compile(r"^/r/[A-Za-z0-9_-]+/t$")
CSRF_COOKIE = "dr_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SMALL_BODY = 1024 * 1024


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookies
                return {}
            return {key: morsel.value for key, morsel in jar.items()}
    return {}


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _forbidden_page(send: Send, message: str) -> Any:
    # No inline style or javascript: link: the page is served under the same strict CSP.
    title, home = _("Form expired"), _("Go to the start page")
    body = (
        f"<!doctype html><html lang={i18n.current_locale()}><meta charset=utf-8><title>{title}</title>"
        f"<link rel=stylesheet href='/static/app.css'><main><section class='card narrow'>"
        f"<h1>{title}</h1><p>{message}</p><p><a href='/'>{home}</a></p></section></main>"
    ).encode()

    async def answer() -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return answer()


class SecurityMiddleware:
    """Security headers, body-size limits and CSRF for one app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        signer: Signer,
        max_upload_bytes: int,
        https: bool,
        base_url: str,
        trust_proxy: bool = False,
    ) -> None:
        self.app = app
        self.signer = signer
        self.max_upload_bytes = max_upload_bytes
        self.https = https  # the public URL is https: cookies are Secure
        self.trust_proxy = trust_proxy
        base = urlsplit(base_url)
        self.base_origin = f"{base.scheme}://{base.netloc}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path: str = scope["path"]
        content_type = _header(scope, b"content-type")
        limit = (
            self.max_upload_bytes + SMALL_BODY
            if content_type.startswith("multipart/")
            else SMALL_BODY
        )
        length = _header(scope, b"content-length")
        if length.isdigit() and int(length) > limit:
            await self._too_large(scope, send, limit)
            return
        receive = self._limited(receive, limit)

        if method == "POST" and TRACKING_BEACON.match(path):
            # The tracking beacon: no CSRF token to check or to issue (see TRACKING_BEACON);
            # this is the hottest route, so it skips the cookie work entirely.
            problem = self._origin_problem(scope)
            if problem:
                await _forbidden_page(send, problem)
                return
            https = self._served_over_https(scope)

            async def send_beacon(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self._security_headers(MutableHeaders(scope=message), path, https=https)
                await send(message)

            await self.app(scope, receive, send_beacon)
            return

        cookies = _cookies(scope)
        token = self._valid_token(cookies.get(CSRF_COOKIE, ""))
        new_cookie = token is None
        if token is None:
            token = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_token"] = token

        if method in UNSAFE and not path.startswith("/api/"):
            problem = self._origin_problem(scope)
            if problem is None:
                supplied, receive = await self._supplied_token(scope, receive, content_type)
                if new_cookie or not supplied or not secrets.compare_digest(supplied, token):
                    problem = _(
                        "This form has expired or was sent from another page. Reload the page and try again."
                    )
            if problem:
                await _forbidden_page(send, problem)
                return

        secure = "; Secure" if self.https else ""
        # Signed only when the browser has no valid token yet (signing costs an HMAC).
        cookie = (
            f"{CSRF_COOKIE}={self.signer.sign('csrf', token)}; Path=/; HttpOnly; SameSite=Lax{secure}"
            if new_cookie
            else ""
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                self._security_headers(headers, path, https=self._served_over_https(scope))
                if new_cookie:
                    headers.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _valid_token(self, signed: str) -> str | None:
        if not signed:
            return None
        try:
            value = self.signer.unsign("csrf", signed, max_age=None)
        except TokenInvalid:
            return None
        return value if isinstance(value, str) else None

    def _origin_problem(self, scope: Scope) -> str | None:
        return self.origin_problem(
            _header(scope, b"origin"), _header(scope, b"host"), scope.get("scheme", "http")
        )

    def origin_problem(self, origin: str, host: str, scheme: str) -> str | None:
        """Why a request with this Origin header is refused (None: accepted)."""
        if not origin or origin == "null":
            return None if not origin else _("Requests from this origin are not accepted.")
        if origin in (self.base_origin, f"{scheme}://{host}"):
            return None
        return _("Requests from another site are not accepted.")

    async def _supplied_token(
        self, scope: Scope, receive: Receive, content_type: str
    ) -> tuple[str, Receive]:
        header = _header(scope, CSRF_HEADER.encode())
        if header:
            return header, receive
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get(CSRF_FIELD):
            return query[CSRF_FIELD][0], receive
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = b""
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                body += message.get("body", b"")
                more = message.get("more_body", False)
            fields = parse_qs(body.decode("latin-1"))
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return (fields.get(CSRF_FIELD) or [""])[0], replay
        return "", receive

    def _limited(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(
                        _(
                            "The request is larger than the %(mb)s MB limit.",
                            mb=limit // (1024 * 1024),
                        )
                    )
            return message

        return limited

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        mb = limit // (1024 * 1024)
        if scope["path"].startswith("/api/"):
            message = _("The request is larger than the %(mb)s MB limit.", mb=mb)
            body = json.dumps({"error": {"code": "too_large", "message": message}}).encode()
            kind = b"application/json"
        else:
            title = _("Too large")
            text = _("The upload is larger than the %(mb)s MB limit.", mb=mb)
            body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{text}</p>".encode()
            kind = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _served_over_https(self, scope: Scope) -> bool:
        """This request came over TLS: to us, or to the load balancer in front of us when we
        trust it (`DEALROOM_TRUST_PROXY`). A client's own X-Forwarded-Proto is ignored otherwise."""
        if scope.get("scheme") == "https":
            return True
        return self.trust_proxy and self.forwarded_https(_header(scope, b"x-forwarded-proto"))

    @staticmethod
    def forwarded_https(forwarded_proto: str) -> bool:
        return forwarded_proto.split(",")[0].strip().lower() == "https"

    def _security_headers(self, headers: MutableHeaders, path: str, *, https: bool) -> None:
        headers.setdefault(
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'",
        )
        headers.setdefault("x-content-type-options", "nosniff")
        headers.setdefault("referrer-policy", "same-origin")
        headers.setdefault("x-frame-options", "DENY")
        if https:
            # Only over TLS: browsers ignore it on plain http, and a development server on
            # http://127.0.0.1 must not pin that host to https.
            headers.setdefault("strict-transport-security", "max-age=31536000; includeSubDomains")
        if path.startswith(("/i/", "/r/", "/join/")):
            # Personal links and buyer pages must never be cached by shared caches.
            headers.setdefault("cache-control", "private, no-store")
