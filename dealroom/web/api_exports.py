"""JSON API v1 for exports: queue one, read its status, fetch a file export.

POST /api/v1/rooms/{room_id}/exports   {"target": "hubspot"}  -> 202 {"id", "status", ...}
GET  /api/v1/exports/{export_id}                              -> {"id", "status", "target", ...}
GET  /api/v1/exports/{export_id}/file                         -> the CSV / JSON / Markdown file
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import exports, rooms
from ..errors import InvalidInput
from ..exports import ExportRun
from ..i18n import _
from .auth import require_api_user
from .content import deliver
from .handler import Req, after_commit, endpoint

EXPORT_FIELDS = ("target", "intro", "next_steps")


def export_json(req: Req, run: ExportRun, room: rooms.Room) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": run.public_id,
        "status": run.status,
        "target": run.target,
        "room_id": room.public_id,
        "attempts": run.attempts,
        "remote_ids": run.ids,
        "url": run.url or None,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    if run.status == "queued" and run.attempts:
        body["next_attempt_at"] = run.next_attempt_at.isoformat()
    if run.error:
        body["error"] = {"message": run.error, "fix": run.fix}
    if run.file_id is not None:
        body["download_url"] = str(req.request.url_for("api:export_file", export_id=run.public_id))
    return body


@endpoint(json=True)
def export_collection(req: Req) -> Response:
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    if not isinstance(req.json, dict):
        raise InvalidInput(_("The request body must be a JSON object."))
    unknown = sorted(set(req.json) - set(EXPORT_FIELDS))
    if unknown:
        raise InvalidInput(fields={key: _("Unknown field.") for key in unknown[:10]})
    values = {}
    for key in EXPORT_FIELDS:
        value = req.json.get(key, "")
        if not isinstance(value, str):
            raise InvalidInput(fields={key: _("Must be a string.")})
        values[key] = value
    if values["target"] not in exports.available_targets(req.session, org_id=room.org_id):
        if values["target"] in exports.registry():
            message = _(
                "%(target)s is not connected. An admin can connect it under Integrations.",
                target=exports.target_label(values["target"]),
            )
        else:
            message = _(
                "Choose one of: %(kinds)s.",
                kinds=", ".join(exports.available_targets(req.session, org_id=room.org_id)),
            )
        raise InvalidInput(fields={"target": message})
    run = exports.request_export(
        req.session,
        room=room,
        user=user,
        kind=values["target"],
        intro=values["intro"],
        next_steps=values["next_steps"],
    )
    if req.services.jobs is not None:
        after_commit(req.session, req.services.jobs.kick_exports)
    location = str(req.request.url_for("api:export", export_id=run.public_id))
    return JSONResponse(
        export_json(req, run, room), status_code=202, headers={"Location": location}
    )


def _run(req: Req) -> tuple[ExportRun, rooms.Room]:
    user = require_api_user(req)
    run = exports.get_run(req.session, org_id=user.org_id, export_id=req.param("export_id"))
    room = req.session.get(rooms.Room, run.room_id)
    assert room is not None and room.org_id == user.org_id  # the run is scoped to the org
    return run, room


@endpoint
def export_item(req: Req) -> Response:
    run, room = _run(req)
    return JSONResponse(export_json(req, run, room))


@endpoint
def export_file(req: Req) -> Response:
    run, _room = _run(req)
    return deliver(req, exports.run_file(req.session, run=run), as_download=True)


routes = [
    Route(
        "/api/v1/rooms/{room_id}/exports",
        export_collection,
        methods=["POST"],
        name="api:exports",
    ),
    Route("/api/v1/exports/{export_id}", export_item, name="api:export"),
    Route("/api/v1/exports/{export_id}/file", export_file, name="api:export_file"),
]
