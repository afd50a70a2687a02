"""Sign-up, log in/out, the development mail outbox and personal API tokens."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import Response
from starlette.routing import Route

from .. import accounts, audit, i18n, notify, ratelimit
from ..accounts import User
from ..errors import Conflict, InvalidInput, RateLimited
from ..i18n import _, ngettext
from .auth import current_user, login, logout, require_seller
from .handler import Req, Rollback, endpoint
from .render import redirect, render


def _safe_next(value: str) -> str:
    """Only same-site paths: `//evil.example` and absolute URLs are open redirects."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/rooms"


def _client_address(req: Req) -> str:
    if req.settings.trust_proxy:
        forwarded = req.request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    client = req.request.client
    return client.host if client else "unknown"


@endpoint
def home(req: Req) -> Response:
    return redirect(req, "/rooms" if current_user(req) else "/login")


@endpoint(form=True)
def signup(req: Req) -> Response:
    if req.request.method == "GET":
        return render(req, "accounts/signup.html", {"values": {}, "errors": {}})
    values = req.fields("org_name", "name", "email")
    try:
        user = accounts.signup(req.session, password=req.field("password"), **values)
    except (InvalidInput, Conflict) as exc:
        errors = exc.fields if isinstance(exc, InvalidInput) else {"email": exc.message}
        raise Rollback(
            render(req, "accounts/signup.html", {"values": values, "errors": errors}, status=422)
        ) from None
    adopt_browser_preferences(req, user)
    return login(req, redirect(req, "/rooms"), user)


def adopt_browser_preferences(req: Req, user: accounts.User) -> None:
    """A new seller starts in the language the sign-up page was shown in, and the browser's
    time zone; both can be changed on the preferences page."""
    from .locale import TZ_COOKIE

    zone = i18n.timezone_name(req.request.cookies.get(TZ_COOKIE)) or user.timezone
    accounts.update_preferences(req.session, user=user, locale=i18n.current_locale(), timezone=zone)


@endpoint(form=True)
def login_page(req: Req) -> Response:
    next_url = _safe_next(req.request.query_params.get("next", "") or req.field("next"))
    if req.request.method == "GET":
        if current_user(req):
            return redirect(req, next_url)
        return render(req, "accounts/login.html", {"values": {}, "error": "", "next": next_url})
    email = req.field("email").strip().lower()
    window = timedelta(minutes=req.settings.login_window_minutes)
    limit = req.settings.login_attempts
    keys = [f"login:email:{email}", f"login:ip:{_client_address(req)}"]
    try:
        for key in keys:
            ratelimit.check(req.session, key, limit=limit, window=window, message="")
    except RateLimited as exc:
        minutes = max(1, round(exc.retry_after / 60))
        message = ngettext(
            "Too many failed attempts. For your security, wait %(num)d minute and try again.",
            "Too many failed attempts. For your security, wait %(num)d minutes and try again.",
            minutes,
        )
        return render(
            req,
            "accounts/login.html",
            {"values": {"email": email}, "error": message, "next": next_url},
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    user = accounts.authenticate(req.session, email=email, password=req.field("password"))
    if user is None:
        # Counted and committed: the failure must stick even though we answer with an error.
        for key in keys:
            ratelimit.hit(req.session, key, window=window)
        return render(
            req,
            "accounts/login.html",
            {
                "values": {"email": email},
                "error": _("That email and password do not match an account."),
                "next": next_url,
            },
            status=400,
        )
    ratelimit.reset(req.session, keys[0])
    return login(req, redirect(req, next_url), user)


@endpoint(form=True)
def logout_page(req: Req) -> Response:
    return logout(req, redirect(req, "/login"))


@endpoint
def outbox(req: Req) -> Response:
    user = require_seller(req)
    mails = notify.outbox(req.session, org_id=user.org_id)
    return render(
        req, "accounts/outbox.html", {"mails": mails, "smtp": req.services.smtp is not None}
    )


@endpoint(form=True)
def tokens(req: Req) -> Response:
    user = require_seller(req)
    created = None
    if req.request.method == "POST":
        try:
            token, created = accounts.create_api_token(
                req.session, user=user, name=req.field("name")
            )
            _audit_token(req, user, "api_token.created", token.public_id, name=token.name)
        except InvalidInput as exc:
            raise Rollback(
                render(
                    req,
                    "accounts/tokens.html",
                    {
                        "tokens": accounts.list_api_tokens(req.session, user=user),
                        "created": None,
                        "errors": exc.fields,
                    },
                    status=422,
                )
            ) from None
    return render(
        req,
        "accounts/tokens.html",
        {
            "tokens": accounts.list_api_tokens(req.session, user=user),
            "created": created,
            "errors": {},
        },
    )


@endpoint(form=True)
def revoke_token(req: Req) -> Response:
    user = require_seller(req)
    token = accounts.revoke_api_token(req.session, user=user, token_id=req.param("token_id"))
    _audit_token(req, user, "api_token.revoked", token.public_id, name=token.name)
    return redirect(req, "/settings/tokens")


def _audit_token(req: Req, user: User, action: str, token_id: str, **detail: object) -> None:
    audit.record(
        req.session,
        org_id=user.org_id,
        actor=user.public_id,
        action=action,
        target=token_id,
        **detail,
    )


routes = [
    Route("/", home, name="home"),
    Route("/signup", signup, methods=["GET", "POST"], name="accounts:signup"),
    Route("/login", login_page, methods=["GET", "POST"], name="accounts:login"),
    Route("/logout", logout_page, methods=["POST"], name="accounts:logout"),
    Route("/outbox", outbox, name="accounts:outbox"),
    Route("/settings/tokens", tokens, methods=["GET", "POST"], name="accounts:tokens"),
    Route(
        "/settings/tokens/{token_id}/revoke",
        revoke_token,
        methods=["POST"],
        name="accounts:revoke_token",
    ),
]
