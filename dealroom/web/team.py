"""The seller team: admins invite teammates (admin, manager, rep) who join with a signed link."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from .. import accounts, audit, i18n
from ..db import utcnow
from ..errors import Conflict, InvalidInput, LinkProblem
from ..i18n import _
from ..notify import queue_mail
from ..security import TokenExpired, TokenInvalid
from .accounts import adopt_browser_preferences
from .auth import login, logout, require_admin, require_seller
from .handler import Req, Rollback, endpoint
from .render import redirect, render

TEAM_INVITE_DAYS = 7


def _team_context(req: Req, user: accounts.User) -> dict[str, object]:
    return {
        "members": accounts.team(req.session, org_id=user.org_id),
        "pending": accounts.pending_team_invites(req.session, org_id=user.org_id),
        "org": accounts.get_org(req.session, user.org_id),
        "roles": accounts.ROLES,
        "values": {},
        "errors": {},
    }


@endpoint
def team_page(req: Req) -> Response:
    user = require_seller(req)
    return render(req, "team/page.html", _team_context(req, user))


@endpoint(form=True)
def invite(req: Req) -> Response:
    admin = require_admin(req)
    values = req.fields("email", "role")
    try:
        team_invite = accounts.invite_teammate(req.session, admin=admin, **values)
    except (InvalidInput, Conflict) as exc:
        ctx = _team_context(req, admin)
        ctx.update(
            values=values,
            errors=exc.fields if isinstance(exc, InvalidInput) else {"email": exc.message},
        )
        raise Rollback(
            render(req, "team/page.html", ctx, fragment="team/_invite_form.html", status=422)
        ) from None
    queue_mail(
        req.session,
        renderer=req.services.mail,
        to=team_invite.email,
        template="team_invite",
        org_id=admin.org_id,
        locale=admin.locale,  # a future teammate: most likely reads what the inviter reads
        context={
            "inviter": admin,
            "org": accounts.get_org(req.session, admin.org_id),
            "link": req.services.links.team_invite(team_invite),
            "days": TEAM_INVITE_DAYS,
        },
    )
    audit.record(
        req.session,
        org_id=admin.org_id,
        actor=admin.public_id,
        action="team.invited",
        target=team_invite.public_id,
        email=team_invite.email,
        role=team_invite.role,
    )
    return redirect(req, "/team")


@endpoint(form=True)
def change_role(req: Req) -> Response:
    admin = require_admin(req)
    member = accounts.change_role(
        req.session, admin=admin, user_public_id=req.param("user_id"), role=req.field("role")
    )
    audit.record(
        req.session,
        org_id=admin.org_id,
        actor=admin.public_id,
        action="team.role_changed",
        target=member.public_id,
        role=member.role,
    )
    return redirect(req, "/team")


def _team_invite(req: Req) -> accounts.TeamInvite:
    try:
        data = req.services.signer.unsign(
            "team-invite", req.param("token"), max_age=TEAM_INVITE_DAYS * 86400
        )
    except TokenExpired:
        raise LinkProblem(
            "expired", _("This invitation has expired. Ask your admin to invite you again.")
        ) from None
    except TokenInvalid:
        raise LinkProblem("tampered", _("This invitation link is not valid.")) from None
    public_id = data.get("t") if isinstance(data, dict) else None
    return accounts.get_team_invite(req.session, str(public_id))


@endpoint(form=True)
def join(req: Req) -> Response:
    team_invite = _team_invite(req)
    org = accounts.get_org(req.session, team_invite.org_id)
    ctx: dict[str, object] = {"invite": team_invite, "org": org, "values": {}, "errors": {}}
    if req.request.method == "GET":
        return render(req, "team/join.html", ctx)
    values = req.fields("name")
    try:
        user = accounts.accept_team_invite(
            req.session, invite=team_invite, name=values["name"], password=req.field("password")
        )
    except (InvalidInput, Conflict) as exc:
        ctx.update(
            values=values,
            errors=exc.fields if isinstance(exc, InvalidInput) else {"name": exc.message},
        )
        raise Rollback(render(req, "team/join.html", ctx, status=422)) from None
    adopt_browser_preferences(req, user)
    audit.record(
        req.session,
        org_id=user.org_id,
        actor=user.public_id,
        action="team.joined",
        target=team_invite.public_id,
    )
    response = redirect(req, "/rooms")
    logout(req, response)
    return login(req, response, user)


def _audit_filters(req: Req) -> audit.Filters:
    return audit.parse_filters(req.request.query_params, zone=i18n.current_timezone())


@endpoint
def audit_log(req: Req) -> Response:
    """The audit log, newest first, filtered by action, person and dates, 50 a page."""
    admin = require_admin(req)
    query = req.request.query_params
    ctx: dict[str, object] = {
        "actions": audit.actions(req.session, org_id=admin.org_id),
        "values": {key: query.get(key, "") for key in ("action", "actor", "from", "to")},
        "errors": {},
        "page": None,
    }
    try:
        filters = _audit_filters(req)
    except InvalidInput as exc:
        ctx["errors"] = exc.fields
        return render(req, "team/audit.html", ctx, status=422)
    raw_page = query.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and len(raw_page) < 6 else 1
    ctx["page"] = audit.search(req.session, org_id=admin.org_id, filters=filters, page=number)
    return render(req, "team/audit.html", ctx)


@endpoint
def audit_csv(req: Req) -> Response:
    """The filtered audit log as a CSV file (admins only); the export is itself recorded."""
    admin = require_admin(req)
    filters = _audit_filters(req)
    text, count = audit.export_csv(req.session, org_id=admin.org_id, filters=filters)
    audit.record(
        req.session,
        org_id=admin.org_id,
        actor=admin.public_id,
        action="audit.exported",
        rows=count,
        filters=filters.query(),
    )
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="audit-log-{stamp}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


routes = [
    Route("/team", team_page, name="team:page"),
    Route("/team/invite", invite, methods=["POST"], name="team:invite"),
    Route("/team/{user_id}/role", change_role, methods=["POST"], name="team:role"),
    Route("/team/audit", audit_log, name="team:audit"),
    Route("/team/audit.csv", audit_csv, name="team:audit_csv"),
    Route("/join/{token}", join, methods=["GET", "POST"], name="team:join"),
]
