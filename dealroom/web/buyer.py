"""The buyer's way in: personal links, forwarded-link verification, and the room itself.

Nothing about a room is shown before access is proven: the verification pages name neither the
room nor the seller's company.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from .. import accounts, content, invites, since
from ..champion import notice as champion_notice
from ..errors import InvalidInput, LinkProblem, RateLimited
from ..invites import AccessPolicy, LinkState, VerifyOutcome
from .auth import (
    device_hash,
    grant_viewer,
    previous_device_hashes,
    remember_device,
    require_viewer,
)
from .chat import chat_panel
from .content import buyer_panel, deliver
from .handler import Req, endpoint
from .notes import panel as notes_panel
from .render import redirect, render
from .suggestions import buyer_panel as suggestions_panel
from .tasks import buyer_plan
from .tracking import page_marks, page_tracking


def _policy(req: Req) -> AccessPolicy:
    from datetime import timedelta

    settings = req.settings
    return AccessPolicy(
        secret_key=settings.secret_key,
        code_expiry=timedelta(minutes=settings.code_expiry_minutes),
        code_attempts=settings.code_attempts,
    )


def _claimed_before_key_rotation(req: Req, token: str) -> bool:
    return any(
        invites.inspect_link(
            req.session, signer=req.services.signer, token=token, device_hash=old
        ).state
        is LinkState.GRANTED
        for old in previous_device_hashes(req)
    )


@endpoint(form=True)
def open_link(req: Req) -> Response:
    """GET shows who the link is for and a button; only the POST claims the link for this
    browser, so a mail scanner prefetching the link cannot lock the real invitee out."""
    token = req.param("token")
    claim = req.request.method == "POST"
    find = invites.open_link if claim else invites.inspect_link
    try:
        opening = find(
            req.session, signer=req.services.signer, token=token, device_hash=device_hash(req)
        )
    except LinkProblem as exc:
        if exc.kind != "expired":
            raise
        return render(req, "buyer/expired.html", {"token": token, "sent": False}, status=410)
    if opening.state is LinkState.FORWARDED and _claimed_before_key_rotation(req, token):
        invites.bind_device(req.session, invite=opening.invite, device_hash=device_hash(req))
        opening = invites.LinkOpening(LinkState.GRANTED, opening.invite, opening.room)
    if opening.state is LinkState.FORWARDED:
        return remember_device(req, redirect(req, f"/i/{token}/verify"))
    if opening.state is LinkState.UNCLAIMED:
        owner = accounts.get_user(req.session, opening.room.owner_id)
        org = accounts.get_org(req.session, opening.room.org_id)
        ctx = {
            "token": token,
            "invite": opening.invite,
            "room": opening.room,
            "owner": owner,
            "org": org,
        }
        return remember_device(req, render(req, "buyer/welcome.html", ctx))
    if not claim:
        invites.bind_device(req.session, invite=opening.invite, device_hash=device_hash(req))
    return grant_viewer(
        req, redirect(req, f"/r/{opening.room.public_id}"), opening.room, opening.invite
    )


@endpoint(form=True)
def renew_link(req: Req) -> Response:
    """An expired link asks for a fresh one, which is mailed to the invitee's own address."""
    token = req.param("token")
    invite, room = invites.invite_for_token(
        req.session, signer=req.services.signer, token=token, check_expiry=False
    )
    try:
        invites.request_fresh_link(
            req.session,
            invite=invite,
            room=room,
            links=req.services.links,
            renderer=req.services.mail,
        )
    except RateLimited as exc:
        return render(
            req,
            "buyer/expired.html",
            {"token": token, "sent": False, "error": exc.message},
            status=429,
        )
    return render(req, "buyer/expired.html", {"token": token, "sent": True})


@endpoint(form=True)
def verify(req: Req) -> Response:
    token = req.param("token")
    via, room = invites.invite_for_token(
        req.session, signer=req.services.signer, token=token, check_expiry=True
    )
    ctx: dict[str, object] = {"token": token, "values": {}, "errors": {}}
    if req.request.method == "GET":
        return remember_device(req, render(req, "buyer/verify.html", ctx))
    values = req.fields("email", "name", "message")
    try:
        outcome = invites.start_verification(
            req.session,
            policy=_policy(req),
            room=room,
            via=via,
            device_hash=device_hash(req),
            renderer=req.services.mail,
            **values,
        )
    except InvalidInput as exc:
        ctx.update(values=values, errors=exc.fields)
        return render(req, "buyer/verify.html", ctx, status=422)
    except RateLimited as exc:
        ctx.update(values=values, errors={"email": exc.message})
        return render(
            req, "buyer/verify.html", ctx, status=429, headers={"Retry-After": str(exc.retry_after)}
        )
    if outcome is VerifyOutcome.REQUESTED:
        return remember_device(
            req, render(req, "buyer/requested.html", {"email": values["email"].strip().lower()})
        )
    pending = req.services.signer.sign(
        "verify", {"e": values["email"].strip().lower(), "r": room.public_id}
    )
    return remember_device(req, redirect(req, f"/i/{token}/code?p={pending}"))


@endpoint(form=True)
def code(req: Req) -> Response:
    token = req.param("token")
    _via, room = invites.invite_for_token(
        req.session, signer=req.services.signer, token=token, check_expiry=True
    )
    pending = req.request.query_params.get("p", "") or req.field("p")
    try:
        data = req.services.signer.unsign(
            "verify", pending, max_age=req.settings.code_expiry_minutes * 60 + 60
        )
    except Exception:  # noqa: BLE001 - any bad or stale state sends the person back one step
        data = None
    if not isinstance(data, dict) or data.get("r") != room.public_id:
        return redirect(req, f"/i/{token}/verify")
    email = str(data.get("e", ""))
    ctx: dict[str, object] = {
        "token": token,
        "pending": pending,
        "email": email,
        "error": "",
        "locked": False,
    }
    if req.request.method == "GET":
        return render(req, "buyer/code.html", ctx)
    owner = accounts.get_user(req.session, room.owner_id)
    result = invites.confirm_code(
        req.session,
        policy=_policy(req),
        room=room,
        email=email,
        code=req.field("code"),
        device_hash=device_hash(req),
        inviter=owner,
    )
    if result.invite is None:
        ctx.update(error=result.error, locked=result.locked)
        return render(req, "buyer/code.html", ctx, status=429 if result.locked else 422)
    return grant_viewer(req, redirect(req, f"/r/{room.public_id}"), room, result.invite)


@endpoint
def room_page(req: Req) -> Response:
    room, invite = require_viewer(req)
    # The room's people are read once: the list of them, the plan's task owners and the chat's
    # authors all come from these two lists.
    team = accounts.team(req.session, org_id=room.org_id)
    everyone = invites.list_invites(req.session, room=room)
    # Opening the room moves the buyer's "since your last visit" marker and records the notices
    # shown: written in a short transaction of their own (see page_marks), this one only reads.
    if invite is None:
        changes, champion = None, champion_notice(req.session, room=room, invite=None)
    else:
        with page_marks(req, invite) as (session, mine):
            changes = since.banner(session, room=room, invite=mine, users=team, invites=everyone)
            champion = champion_notice(session, room=room, invite=mine)
    ctx = {
        "room": room,
        "viewer": invite,
        "preview": invite is None,
        "owner": accounts.get_user(req.session, room.owner_id),  # in `team`: no query
        "org": accounts.get_org(req.session, room.org_id),
        "content_panel": (content_panel := buyer_panel(req, room, invite)),
        "people": [person for person in everyone if not person.revoked],
        "notes_panel": notes_panel(req, room, can_edit=False),  # shared notes only
        "plan_panel": buyer_plan(req, room, invite, users=team, invites=everyone),
        "chat_panel": chat_panel(
            req,
            room,
            seller=False,
            can_post=invite is not None,
            reader=invite.public_id if invite is not None else "",
            users=team,
            invites=everyone,
        ),
        "track": page_tracking(req, room, invite),
        # Suggestions rank the items and people read above, not read again.
        "suggest": suggestions_panel(
            req, room, invite, listing=content_panel.content, people=everyone
        ),
        "since_changes": changes,
        "champion": champion,
    }
    return render(req, "buyer/room.html", ctx)


@endpoint
def room_logo(req: Req) -> Response:
    room, _invite = require_viewer(req)
    return deliver(req, content.room_logo(req.session, room=room), as_download=False, stream=True)


routes = [
    Route("/i/{token}", open_link, methods=["GET", "POST"], name="buyer:open"),
    Route("/i/{token}/renew", renew_link, methods=["POST"], name="buyer:renew"),
    Route("/i/{token}/verify", verify, methods=["GET", "POST"], name="buyer:verify"),
    Route("/i/{token}/code", code, methods=["GET", "POST"], name="buyer:code"),
    Route("/r/{room_id}", room_page, name="buyer:room"),
    Route("/r/{room_id}/logo", room_logo, name="buyer:logo"),
]
