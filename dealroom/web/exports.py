"""Exports on the seller's room page (panel, preview, live status, history, CRM record link) and
the admins' Integrations page (connection settings, test, disconnect, private webhooks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from markupsafe import Markup
from starlette.responses import Response
from starlette.routing import Route

from .. import exports
from ..accounts import User
from ..crm.summary import build_summary
from ..errors import InvalidInput
from ..exports import CRM_KINDS, ExportRun, Vault
from ..i18n import N_, _
from ..rooms import Room
from .auth import require_admin, require_room
from .content import deliver
from .handler import Req, Rollback, after_commit, endpoint
from .htmx import is_htmx
from .render import redirect, render

HISTORY_ON_PAGE = 5
TEST_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

# Labels of the connection settings the targets declare (`Target.fields`); a name not listed
# here is shown as it is written.
FIELD_LABELS = {
    "url": N_("Webhook URL"),
    "secret": N_("Signing secret (whsec_…)"),
    "access_token": N_("Access token"),
    "client_id": N_("OAuth client id"),
    "client_secret": N_("OAuth client secret"),
    "refresh_token": N_("OAuth refresh token"),
    "portal_id": N_("Account (Hub) id"),
    "api_base": N_("API base URL"),
    "objects_path": N_("Objects API path"),
    "instance_url": N_("Instance URL"),
    "login_url": N_("Login URL"),
    "api_version": N_("API version"),
    "username": N_("User name"),
    "password": N_("Password"),
    "base_url": N_("Base URL (https://subdomain.cybozu.com)"),
    "app_id": N_("App id"),
    "guest_space_id": N_("Guest space id (only for apps in a guest space)"),
    "api_token": N_("API token"),
    "field_key": N_("Field code: key (receives the room id)"),
    "field_room_name": N_("Field code: deal name"),
    "field_stage": N_("Field code: stage"),
    "field_summary": N_("Field code: summary"),
    "field_next_steps": N_("Field code: next steps"),
    "field_room_url": N_("Field code: link to the room"),
}


def field_label(name: str) -> str:
    label = FIELD_LABELS.get(name)
    return _(label) if label else name.replace("_", " ").capitalize()


def vault(req: Req) -> Vault:
    return Vault(req.settings.secret_key)


def _kick(req: Req) -> None:
    jobs = req.services.jobs
    if jobs is not None:
        after_commit(req.session, jobs.kick_exports)


# ---------------------------------------------------------------- the room page panel


@dataclass
class Panel:
    room: Room
    targets: list[str]
    history: list[ExportRun]
    links: dict[str, str]  # CRM kind -> record id
    linkable: list[str]  # connected CRM kinds
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    # The panel is also included by the room page, whose context knows nothing of exports.
    @staticmethod
    def label(kind: str) -> str:
        return exports.target_label(kind)

    @staticmethod
    def record_label(kind: str) -> str:
        return exports.record_label(kind)


def panel(req: Req, room: Room, **state: Any) -> Panel:
    targets = exports.available_targets(req.session, org_id=room.org_id)
    return Panel(
        room=room,
        targets=targets,
        history=exports.room_history(req.session, room=room, limit=HISTORY_ON_PAGE),
        links=exports.room_links(req.session, room=room),
        linkable=[k for k in targets if k in CRM_KINDS],
        **state,
    )


def _panel_context(req: Req, room: Room, **state: Any) -> dict[str, Any]:
    return {"room": room, "export_panel": panel(req, room, **state), **template_helpers()}


def template_helpers() -> dict[str, Any]:
    """Label functions the export templates use."""
    return {"target_label": exports.target_label, "record_label": exports.record_label}


# ---------------------------------------------------------------- preview and queueing


def _target(req: Req, room: Room, value: str) -> str:
    if value not in exports.available_targets(req.session, org_id=room.org_id):
        raise InvalidInput(
            fields={
                "target": _(
                    "Choose an export target that is set up: %(kinds)s.",
                    kinds=", ".join(exports.available_targets(req.session, org_id=room.org_id)),
                )
            }
        )
    return value


def _preview_context(
    req: Req, user: User, room: Room, target: str, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    summary = build_summary(
        req.session,
        room=room,
        user=user,
        links=req.services.links,
        intro=values.get("intro", ""),
        next_steps=values.get("next_steps", ""),
        crm_record_id=exports.room_links(req.session, room=room).get(target, ""),
    )
    return {
        "room": room,
        "target": target,
        "values": values,
        "errors": errors,
        "summary": summary,
        # Built by an autoescaping template from sanitized markdown (dealroom.crm.summary).
        "summary_html": Markup(summary.html),  # noqa: S704
        "record_id": exports.room_links(req.session, room=room).get(target, ""),
        "linkable": target in CRM_KINDS,
        **template_helpers(),
    }


@endpoint(form=True)
def preview(req: Req) -> Response:
    """GET ?target=: the summary as it will be sent; POST: again with the edited free text."""
    user, room = require_room(req)
    if req.request.method == "GET":
        target = req.request.query_params.get("target", "")[:40]
        values = {"intro": "", "next_steps": ""}
    else:
        target = req.field("target")[:40]
        values = req.fields("intro", "next_steps")
    target = _target(req, room, target)
    return render(
        req, "exports/preview.html", _preview_context(req, user, room, target, values, {})
    )


@endpoint(form=True)
def create(req: Req) -> Response:
    user, room = require_room(req)
    values = req.fields("target", "intro", "next_steps")
    try:
        run = exports.request_export(
            req.session,
            room=room,
            user=user,
            kind=values["target"],
            intro=values["intro"],
            next_steps=values["next_steps"],
        )
    except InvalidInput as exc:
        if values["target"] in exports.available_targets(req.session, org_id=room.org_id):
            ctx = _preview_context(req, user, room, values["target"], values, exc.fields)
            raise Rollback(render(req, "exports/preview.html", ctx, status=422)) from None
        raise
    _kick(req)
    return redirect(
        req,
        str(req.request.url_for("exports:detail", room_id=room.public_id, export_id=run.public_id)),
    )


# ---------------------------------------------------------------- status, history, download


def run_context(req: Req, room: Room, run: ExportRun) -> dict[str, Any]:
    return {"room": room, "run": run, "max_attempts": exports.MAX_ATTEMPTS, **template_helpers()}


@endpoint
def detail(req: Req) -> Response:
    """The run's page; to htmx, the status fragment that polls itself until the run ends."""
    _user, room = require_room(req)
    run = exports.get_room_run(req.session, room=room, export_id=req.param("export_id"))
    return render(
        req, "exports/detail.html", run_context(req, room, run), fragment="exports/_status.html"
    )


@endpoint
def history(req: Req) -> Response:
    _user, room = require_room(req)
    runs = exports.room_history(req.session, room=room, limit=200)
    return render(req, "exports/history.html", {"room": room, "runs": runs, **template_helpers()})


@endpoint
def download(req: Req) -> Response:
    _user, room = require_room(req)
    run = exports.get_room_run(req.session, room=room, export_id=req.param("export_id"))
    return deliver(req, exports.run_file(req.session, run=run), as_download=True)


@endpoint(form=True)
def link(req: Req) -> Response:
    user, room = require_room(req)
    values = req.fields("kind", "record_id")
    try:
        exports.link_record(
            req.session, room=room, user=user, kind=values["kind"], record_id=values["record_id"]
        )
    except InvalidInput as exc:
        ctx = _panel_context(req, room, values=values, errors=exc.fields)
        raise Rollback(
            render(req, "exports/history.html", ctx, fragment="exports/_panel.html", status=422)
        ) from None
    if is_htmx(req.request):
        return render(
            req, "exports/history.html", _panel_context(req, room), fragment="exports/_panel.html"
        )
    back = req.field("back")
    if back == "preview" and values["kind"]:
        url = req.request.url_for("exports:preview", room_id=room.public_id)
        return redirect(req, f"{url}?target={values['kind']}")
    return redirect(req, f"{req.request.url_for('rooms:detail', room_id=room.public_id)}#exports")


# ---------------------------------------------------------------- integrations (admins)


def _integrations_context(req: Req, **state: Any) -> dict[str, Any]:
    admin = require_admin(req)
    ctx: dict[str, Any] = {
        "connections": exports.connections(req.session, org_id=admin.org_id, vault=vault(req)),
        "settings": exports.integration_settings(req.session, org_id=admin.org_id),
        "field_label": field_label,
        "values": {},
        "errors": {},
        "tested": None,
        "saved": req.request.query_params.get("saved", "")[:40],
    }
    ctx.update(state)
    return ctx


@endpoint
def integrations(req: Req) -> Response:
    require_admin(req)
    return render(req, "exports/integrations.html", _integrations_context(req))


@endpoint(form=True)
def integration_save(req: Req) -> Response:
    admin = require_admin(req)
    kind = req.param("kind")
    data = dict(req.form or {}) if req.form is not None else {}
    try:
        exports.save_connection(
            req.session,
            user=admin,
            kind=kind,
            data={k: v for k, v in data.items() if isinstance(v, str)},
            vault=vault(req),
        )
    except InvalidInput as exc:
        # Secrets are never sent back into the form, even the ones just typed.
        fields = exports.registry()[kind].fields
        values = {k: v for k, v in data.items() if isinstance(v, str) and not fields.get(k)}
        ctx = _integrations_context(req, values={kind: values}, errors={kind: exc.fields})
        raise Rollback(render(req, "exports/integrations.html", ctx, status=422)) from None
    return redirect(req, f"{req.request.url_for('integrations:page')}?saved={kind}#{kind}")


@endpoint(form=True)
def integration_test(req: Req) -> Response:
    admin = require_admin(req)
    kind = req.param("kind")
    with httpx.Client(timeout=TEST_TIMEOUT, follow_redirects=False) as client:
        result = exports.test_connection(
            req.session, user=admin, kind=kind, vault=vault(req), client=client
        )
    ctx = _integrations_context(req, tested={"kind": kind, "result": result})
    return render(req, "exports/integrations.html", ctx)


@endpoint(form=True)
def integration_disconnect(req: Req) -> Response:
    admin = require_admin(req)
    exports.disconnect(req.session, user=admin, kind=req.param("kind"))
    return redirect(req, str(req.request.url_for("integrations:page")))


@endpoint(form=True)
def integration_policy(req: Req) -> Response:
    admin = require_admin(req)
    exports.set_allow_private_webhooks(
        req.session, user=admin, allow=req.field("allow_private_webhooks") == "1"
    )
    return redirect(req, f"{req.request.url_for('integrations:page')}#policy")


routes = [
    Route("/rooms/{room_id}/exports", history, name="exports:history"),
    Route("/rooms/{room_id}/exports/new", create, methods=["POST"], name="exports:create"),
    Route(
        "/rooms/{room_id}/exports/preview",
        preview,
        methods=["GET", "POST"],
        name="exports:preview",
    ),
    Route("/rooms/{room_id}/exports/{export_id}", detail, name="exports:detail"),
    Route("/rooms/{room_id}/exports/{export_id}/download", download, name="exports:download"),
    Route("/rooms/{room_id}/crm-link", link, methods=["POST"], name="exports:link"),
    Route("/integrations", integrations, name="integrations:page"),
    Route(
        "/integrations/settings",
        integration_policy,
        methods=["POST"],
        name="integrations:policy",
    ),
    Route("/integrations/{kind}", integration_save, methods=["POST"], name="integrations:save"),
    Route(
        "/integrations/{kind}/test", integration_test, methods=["POST"], name="integrations:test"
    ),
    Route(
        "/integrations/{kind}/disconnect",
        integration_disconnect,
        methods=["POST"],
        name="integrations:disconnect",
    ),
]
