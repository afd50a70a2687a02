"""Room templates on the web: the list, the editor, "Save as template" from a room page, the
"Template" select of the new-room form, and GET /api/v1/templates.

Every change in the editor answers htmx with the refreshed editor (templates/roomtemplates/
_editor.html) and a plain form post with a 303 back to the editor; a form with errors is shown
again with its values and a 422.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import roomtemplates
from ..accounts import User
from ..errors import Conflict, InvalidInput
from ..rooms import STAGES
from ..roomtemplates import RoomTemplate, TemplateSummary
from .auth import require_api_user, require_room, require_seller
from .handler import Req, Rollback, endpoint
from .htmx import is_htmx
from .render import redirect, render

TEMPLATE_FIELDS = ("name", "description", "welcome_message", "stage")
TASK_FIELDS = ("milestone", "title", "owner", "due")
MAX_NOTE_COUNT = 100_000  # counts in a note's query string are shown only when plausible


def _count(req: Req, name: str) -> int:
    raw = req.request.query_params.get(name, "")
    return int(raw) if raw.isdigit() and int(raw) < MAX_NOTE_COUNT else 0


def _template(req: Req) -> tuple[User, RoomTemplate]:
    """The seller and the template, which must belong to the seller's organisation (else 404)."""
    user = require_seller(req)
    template = roomtemplates.get_template(
        req.session, org_id=user.org_id, template_id=req.param("template_id")
    )
    return user, template


def _editor_url(req: Req, template: RoomTemplate) -> str:
    return str(req.request.url_for("templates:edit", template_id=template.public_id))


# ---------------------------------------------------------------- the list


def _list_context(req: Req, user: User, **state: Any) -> dict[str, Any]:
    archived = req.request.query_params.get("archived") == "1"
    found = roomtemplates.list_templates(req.session, org_id=user.org_id, archived=archived)
    return {
        "summaries": found,
        "archived": archived,
        "stages": STAGES,
        "values": {},
        "errors": {},
        **state,
    }


@endpoint
def template_list(req: Req) -> Response:
    user = require_seller(req)
    return render(req, "roomtemplates/list.html", _list_context(req, user))


@endpoint(form=True)
def template_create(req: Req) -> Response:
    user = require_seller(req)
    values = req.fields(*TEMPLATE_FIELDS)
    try:
        template = roomtemplates.create_template(req.session, user=user, data=values)
    except InvalidInput as exc:
        ctx = _list_context(req, user, values=values, errors=exc.fields)
        raise Rollback(render(req, "roomtemplates/list.html", ctx, status=422)) from None
    return redirect(req, _editor_url(req, template))


# ---------------------------------------------------------------- the editor


def _editor_context(req: Req, template: RoomTemplate, **state: Any) -> dict[str, Any]:
    view = roomtemplates.load_template(req.session, template=template)
    ctx: dict[str, Any] = {
        "template": template,
        "view": view,
        "library": roomtemplates.library_choices(req.session, template=template),
        "stages": STAGES,
        "owners": roomtemplates.OWNERS,
        "form": "",  # which form `errors` and `values` belong to
        "errors": {},
        "values": {},
        # After "Save as template": what was left out of the room's content.
        "saved": req.request.query_params.get("saved") == "1",
        "skipped_uploads": _count(req, "uploads"),
        "skipped_archived": _count(req, "archived"),
    }
    ctx.update(state)
    return ctx


def _editor(req: Req, template: RoomTemplate, *, status: int = 200, **state: Any) -> Response:
    return render(
        req,
        "roomtemplates/edit.html",
        _editor_context(req, template, **state),
        fragment="roomtemplates/_editor.html",
        status=status,
    )


@endpoint
def template_edit(req: Req) -> Response:
    _user, template = _template(req)
    return _editor(req, template)


def _change(
    req: Req,
    form: str,
    names: tuple[str, ...],
    change: Callable[[RoomTemplate, dict[str, str]], object],
    anchor: str,
) -> Response:
    """One editor form: guard, apply `change`, answer the editor (or the form's errors)."""
    _user, template = _template(req)
    values = req.fields(*names)
    try:
        change(template, values)
    except (InvalidInput, Conflict) as exc:
        errors = (
            exc.fields if isinstance(exc, InvalidInput) and exc.fields else {"form": exc.message}
        )
        raise Rollback(
            _editor(req, template, status=422, form=form, errors=errors, values=values)
        ) from None
    if is_htmx(req.request):
        return _editor(req, template)
    return redirect(req, f"{_editor_url(req, template)}#{anchor}")


@endpoint(form=True)
def template_update(req: Req) -> Response:
    def change(template: RoomTemplate, values: dict[str, str]) -> None:
        roomtemplates.update_template(req.session, template=template, data=values)

    return _change(req, "details", TEMPLATE_FIELDS, change, "template-details")


@endpoint(form=True)
def template_archive(req: Req) -> Response:
    _user, template = _template(req)
    roomtemplates.archive_template(req.session, template=template)
    return redirect(req, _editor_url(req, template))


@endpoint(form=True)
def template_restore(req: Req) -> Response:
    _user, template = _template(req)
    roomtemplates.restore_template(req.session, template=template)
    return redirect(req, _editor_url(req, template))


@endpoint(form=True)
def section_add(req: Req) -> Response:
    def change(template: RoomTemplate, values: dict[str, str]) -> None:
        roomtemplates.add_section(req.session, template=template, title=values["section_title"])

    return _change(req, "section", ("section_title",), change, "template-content")


@endpoint(form=True)
def section_rename(req: Req) -> Response:
    section_id = req.param("tsec_id")

    def change(template: RoomTemplate, values: dict[str, str]) -> None:
        section = roomtemplates.get_section(req.session, template=template, section_id=section_id)
        roomtemplates.rename_section(
            req.session, template=template, section=section, title=values["section_title"]
        )

    # The form's errors are shown under that section's own rename field.
    return _change(req, f"section:{section_id}", ("section_title",), change, "template-content")


@endpoint(form=True)
def section_remove(req: Req) -> Response:
    def change(template: RoomTemplate, _values: dict[str, str]) -> None:
        section = roomtemplates.get_section(
            req.session, template=template, section_id=req.param("tsec_id")
        )
        roomtemplates.remove_section(req.session, template=template, section=section)

    return _change(req, "content", (), change, "template-content")


@endpoint(form=True)
def section_move(req: Req) -> Response:
    def change(template: RoomTemplate, values: dict[str, str]) -> None:
        section = roomtemplates.get_section(
            req.session, template=template, section_id=req.param("tsec_id")
        )
        roomtemplates.move_section(
            req.session, template=template, section=section, direction=values["direction"]
        )

    return _change(req, "content", ("direction",), change, "template-content")


@endpoint(form=True)
def item_add(req: Req) -> Response:
    def change(template: RoomTemplate, values: dict[str, str]) -> None:
        roomtemplates.add_item(
            req.session,
            template=template,
            document_id=values["document"],
            section_id=values["section"],
        )

    return _change(req, "item", ("document", "section"), change, "template-content")


@endpoint(form=True)
def item_remove(req: Req) -> Response:
    def change(template: RoomTemplate, _values: dict[str, str]) -> None:
        item = roomtemplates.get_item(req.session, template=template, item_id=req.param("titem_id"))
        roomtemplates.remove_item(req.session, template=template, item=item)

    return _change(req, "content", (), change, "template-content")


@endpoint(form=True)
def item_move(req: Req) -> Response:
    def change(template: RoomTemplate, values: dict[str, str]) -> None:
        item = roomtemplates.get_item(req.session, template=template, item_id=req.param("titem_id"))
        roomtemplates.move_item(
            req.session, template=template, item=item, direction=values["direction"]
        )

    return _change(req, "content", ("direction",), change, "template-content")


@endpoint(form=True)
def task_add(req: Req) -> Response:
    def change(template: RoomTemplate, values: dict[str, str]) -> None:
        roomtemplates.add_task(req.session, template=template, data=values)

    return _change(req, "task", TASK_FIELDS, change, "template-plan")


@endpoint(form=True)
def task_remove(req: Req) -> Response:
    def change(template: RoomTemplate, _values: dict[str, str]) -> None:
        task = roomtemplates.get_task(req.session, template=template, task_id=req.param("ttask_id"))
        roomtemplates.remove_task(req.session, template=template, task=task)

    return _change(req, "plan", (), change, "template-plan")


@endpoint(form=True)
def task_move(req: Req) -> Response:
    def change(template: RoomTemplate, values: dict[str, str]) -> None:
        task = roomtemplates.get_task(req.session, template=template, task_id=req.param("ttask_id"))
        roomtemplates.move_task(
            req.session, template=template, task=task, direction=values["direction"]
        )

    return _change(req, "plan", ("direction",), change, "template-plan")


# ---------------------------------------------------------------- rooms and templates


@endpoint(form=True)
def save_room(req: Req) -> Response:
    """ "Save as template" on the seller's room page."""
    user, room = require_room(req)
    saved = roomtemplates.save_as_template(
        req.session, user=user, room=room, data=req.fields("name")
    )
    query = f"?saved=1&uploads={saved.uploads}&archived={saved.archived}"
    return redirect(req, _editor_url(req, saved.template) + query)


def new_room_defaults(req: Req, user: User) -> tuple[dict[str, str], dict[str, str]]:
    """Values (and errors) of the new-room form as first shown: "Use template" links to it with
    `?template=tpl_…`, which preselects the template and shows its defaults in the form."""
    values = {"stage": "discovery", "template_id": ""}
    chosen = req.request.query_params.get("template", "")
    if not chosen:
        if roomtemplates.active_templates(req.session, org_id=user.org_id):
            values["stage"] = ""  # "as in the template", Discovery for a blank room
        return values, {}
    try:
        template = roomtemplates.template_for_room(
            req.session, org_id=user.org_id, template_id=chosen
        )
    except InvalidInput as exc:
        return values, exc.fields
    values.update(
        template_id=template.public_id,
        stage=template.stage,
        welcome_message=template.welcome_message,
    )
    return values, {}


def new_room_choices(req: Req, user: User, values: Mapping[str, str]) -> dict[str, Any]:
    """The new-room form's context for its "Template" select, and the note about documents the
    chosen template will leave out."""
    choices = roomtemplates.active_templates(req.session, org_id=user.org_id)
    skipped: list[str] = []
    chosen = next((t for t in choices if t.public_id == values.get("template_id")), None)
    if chosen is not None:
        view = roomtemplates.load_template(req.session, template=chosen)
        skipped = [entry.document.title for entry in view.skipped]
    return {"templates": choices, "template_skipped": skipped}


def room_url(req: Req, created: roomtemplates.NewRoom) -> str:
    """Where a new room is shown; the room page then notes documents the template left out."""
    url = f"/rooms/{created.room.public_id}"
    return f"{url}?skipped={len(created.skipped)}" if created.skipped else url


def skipped_note(req: Req) -> int:
    """For the room page: how many template documents were left out (from `room_url`)."""
    return _count(req, "skipped")


# ---------------------------------------------------------------- JSON API


def template_json(summary: TemplateSummary) -> dict[str, Any]:
    template = summary.template
    return {
        "id": template.public_id,
        "name": template.name,
        "description": template.description,
        "stage": template.stage,
        "welcome_message": template.welcome_message,
        "sections": summary.sections,
        "documents": summary.items,
        "tasks": summary.tasks,
        "created_at": template.created_at.isoformat(),
        "updated_at": template.updated_at.isoformat(),
    }


@endpoint(json=True)
def api_templates(req: Req) -> Response:
    user = require_api_user(req)
    found = roomtemplates.list_templates(req.session, org_id=user.org_id)
    return JSONResponse({"data": [template_json(s) for s in found]})


def _template_route(path: str, handler: Any, name: str) -> Route:
    return Route(f"/templates/{{template_id}}{path}", handler, methods=["POST"], name=name)


routes = [
    Route("/templates", template_list, name="templates:list"),
    Route("/templates/new", template_create, methods=["POST"], name="templates:new"),
    Route("/templates/{template_id}", template_edit, name="templates:edit"),
    _template_route("/edit", template_update, "templates:update"),
    _template_route("/archive", template_archive, "templates:archive"),
    _template_route("/restore", template_restore, "templates:restore"),
    _template_route("/sections", section_add, "templates:section_add"),
    _template_route("/sections/{tsec_id}/edit", section_rename, "templates:section_rename"),
    _template_route("/sections/{tsec_id}/remove", section_remove, "templates:section_remove"),
    _template_route("/sections/{tsec_id}/move", section_move, "templates:section_move"),
    _template_route("/items", item_add, "templates:item_add"),
    _template_route("/items/{titem_id}/remove", item_remove, "templates:item_remove"),
    _template_route("/items/{titem_id}/move", item_move, "templates:item_move"),
    _template_route("/tasks", task_add, "templates:task_add"),
    _template_route("/tasks/{ttask_id}/remove", task_remove, "templates:task_remove"),
    _template_route("/tasks/{ttask_id}/move", task_move, "templates:task_move"),
    Route(
        "/rooms/{room_id}/save-as-template",
        save_room,
        methods=["POST"],
        name="templates:save_room",
    ),
    Route("/api/v1/templates", api_templates, name="api:templates"),
]
