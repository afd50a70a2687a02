"""Who is asking: sellers (session cookie or API token) and buyers (viewer cookie).

Seller and buyer sessions are separate cookies signed in separate namespaces; a buyer cookie maps
room ids to the invite this browser entered as, and is re-checked against the database on every
request (revocation and archiving take effect at once).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import inspect, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from starlette.responses import Response

from .. import accounts, i18n, invites, rooms
from ..accounts import User
from ..errors import NotFound, PermissionDenied
from ..i18n import _
from ..invites import Invite
from ..rooms import Room
from ..security import TokenInvalid, keyed_hash
from .errors import LoginRequired
from .handler import SAFE_METHODS, Req, after_commit

SESSION_COOKIE = "dr_session"
VIEWER_COOKIE = "dr_viewer"
DEVICE_COOKIE = "dr_device"
VIEWER_MAX_AGE = 90 * 86400
DEVICE_MAX_AGE = 5 * 365 * 86400


def _set_cookie(req: Req, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=req.settings.https,
        path="/",
    )


# ---------------------------------------------------------------- sellers


def current_user(req: Req) -> User | None:
    if "user" in req.cache:
        return req.cache["user"]
    user = None
    raw = req.request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            data = req.services.signer.unsign(
                "seller-session", raw, max_age=req.settings.session_days * 86400
            )
        except TokenInvalid:
            data = None
        if isinstance(data, dict) and isinstance(data.get("u"), int):
            candidate = accounts.get_user(req.session, data["u"])
            if candidate is not None and candidate.session_epoch == data.get("e"):
                user = candidate
    req.cache["user"] = user
    return user


def login(req: Req, response: Response, user: User) -> Response:
    token = req.services.signer.sign("seller-session", {"u": user.id, "e": user.session_epoch})
    _set_cookie(req, response, SESSION_COOKIE, token, req.settings.session_days * 86400)
    return response


def logout(req: Req, response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def require_seller(req: Req) -> User:
    user = current_user(req)
    if user is None:
        raise LoginRequired(_("Log in to continue."))
    return user


def require_admin(req: Req) -> User:
    user = require_seller(req)
    if not user.is_admin:
        raise PermissionDenied(_("Only admins of your organisation can do this."))
    return user


def require_room(req: Req, param: str = "room_id") -> tuple[User, Room]:
    """The seller and the room, which must belong to the seller's organisation (else 404)."""
    user = require_seller(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param(param))
    return user, room


def require_api_user(req: Req) -> User:
    """Bearer token only: the API never accepts cookies, so it needs no CSRF protection."""
    header = req.request.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise LoginRequired(_("Send an API token as `Authorization: Bearer <token>`."))
    user = accounts.user_for_api_token(req.session, token.strip())
    if user is None:
        raise LoginRequired(_("The API token is invalid or was revoked."))
    return user


# ---------------------------------------------------------------- buyers


def device_id(req: Req) -> str:
    """A random id for this browser, kept in a signed cookie (set by `remember_device`)."""
    if "device" in req.cache:
        return req.cache["device"]
    value = None
    raw = req.request.cookies.get(DEVICE_COOKIE)
    if raw:
        try:
            value = req.services.signer.unsign("device", raw, max_age=None)
        except TokenInvalid:
            value = None
    if not isinstance(value, str):
        value = secrets.token_urlsafe(24)
        req.cache["device_new"] = True
    req.cache["device"] = value
    return value


def device_hash(req: Req) -> str:
    return keyed_hash(req.settings.secret_key, "device:" + device_id(req))


def previous_device_hashes(req: Req) -> list[str]:
    """This browser's device hash under each previous secret key (see security.Signer): a link
    claimed before a key rotation must still open in the same browser."""
    return [
        keyed_hash(key, "device:" + device_id(req)) for key in req.settings.previous_secret_keys
    ]


def remember_device(req: Req, response: Response) -> Response:
    if req.cache.get("device_new"):
        _set_cookie(
            req,
            response,
            DEVICE_COOKIE,
            req.services.signer.sign("device", device_id(req)),
            DEVICE_MAX_AGE,
        )
    return response


def viewer_grants(req: Req) -> dict[str, str]:
    raw = req.request.cookies.get(VIEWER_COOKIE)
    if not raw:
        return {}
    try:
        data: Any = req.services.signer.unsign("viewer", raw, max_age=VIEWER_MAX_AGE)
    except TokenInvalid:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def grant_viewer(req: Req, response: Response, room: Room, invite: Invite) -> Response:
    grants = viewer_grants(req)
    grants[room.public_id] = invite.public_id
    # Keep the cookie small: the 20 most recent rooms are plenty for one browser.
    grants = dict(list(grants.items())[-20:])
    _set_cookie(
        req, response, VIEWER_COOKIE, req.services.signer.sign("viewer", grants), VIEWER_MAX_AGE
    )
    return remember_device(req, response)


def _touch_apart(req: Req, invite: Invite) -> None:
    """A page view's touches of the invite (last seen, once a minute; the language) are written
    in a short transaction after the page's own, which then only reads: on SQLite a read that
    turns into a write fails when another connection committed meanwhile (the tracking writer
    commits every half second), and the page had to run again holding the write lock (see
    page_marks)."""
    state = inspect(invite)
    changed = {attr.key: attr.value for attr in state.attrs if attr.history.has_changes()}
    if not changed:
        return
    for key, value in changed.items():
        set_committed_value(invite, key, value)  # shown as is, not written by this transaction
    db, invite_id = req.services.db, invite.id

    def touch() -> None:
        with db.session() as session:
            session.execute(update(Invite).where(col(Invite.id) == invite_id).values(**changed))

    after_commit(req.session, touch)


def require_viewer(req: Req, param: str = "room_id") -> tuple[Room, Invite | None]:
    """The room and the invite this browser holds for it. A seller of the room's organisation
    gets the buyer view as a preview (invite None). Anyone else: 404, whether or not it exists."""
    room = rooms.get_room_by_public_id(req.session, req.param(param))
    if room is None:
        raise NotFound(_("Open your personal invite link to enter this room."))
    invite_id = viewer_grants(req).get(room.public_id)
    if invite_id is not None:
        invite = invites.viewer_invite(req.session, room=room, invite_id=invite_id)
        # Later mails to this buyer are written in the language they read the room in.
        invites.remember_locale(invite, i18n.current_locale())
        if req.request.method in SAFE_METHODS:
            _touch_apart(req, invite)
        return room, invite
    user = current_user(req)
    if user is not None and user.org_id == room.org_id:
        return room, None
    raise NotFound(_("Open your personal invite link to enter this room."))
