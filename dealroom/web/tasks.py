"""The mutual action plan on both room pages, plus its JSON API (list and create tasks).

Sellers act through /rooms/{room_id}/plan/…, buyers through /r/{room_id}/plan/…; both sides run
the same code and render the same fragment (tasks/_plan.html), which knows the viewer's rights per
task. A seller previewing the buyer's view sees the plan read-only.

Every change answers htmx with the refreshed panel (so progress and health stay right) and a
plain form post with a 303 back to the room page.

Only sellers reorder the plan (see dealroom.tasks): "Move up"/"Move down" buttons and a "Move to"
milestone select, each a form of its own, work from the keyboard and without JavaScript;
static/plan.js adds drag and drop on top, posting to the same route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import rooms, tasks, tracking
from ..accounts import User
from ..errors import InvalidInput, PermissionDenied
from ..i18n import _
from ..invites import Invite
from ..rooms import Room
from ..tasks import Actor
from .auth import require_api_user, require_room, require_viewer
from .handler import Req, Rollback, endpoint
from .htmx import is_htmx
from .render import redirect, render

TASK_FIELDS = ("milestone_id", "title", "owner_id", "due_date", "notes")
MILESTONE_FIELDS = ("title", "due_date")
MOVE_FIELDS = ("direction", "milestone_id", "position")


@dataclass
class PlanPanel:
    """The `plan` entry of a room page's context: the plan and what this viewer may do."""

    room: Room
    view: tasks.Plan
    side: str  # "seller" | "buyer": which routes the forms post to
    actor: Actor | None  # None: a seller previewing the buyer's view (read-only)
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    form: str = ""  # the form `errors` and `values` belong to: "milestone", "task", a task id
    open_task: str = ""  # keep this task's comments open after a change
    statuses: tuple[str, ...] = tasks.STATUSES

    @property
    def can_manage(self) -> bool:
        return tasks.can_manage(self.actor)

    @property
    def can_add(self) -> bool:
        return self.actor is not None and not self.room.archived and not self.view.empty

    @property
    def can_comment(self) -> bool:
        return self.actor is not None and not self.room.archived

    @property
    def can_reorder(self) -> bool:
        return tasks.can_reorder(self.actor) and not self.room.archived

    @property
    def viewer_id(self) -> str:
        return self.actor.public_id if self.actor else ""

    @property
    def prefix(self) -> str:
        """Route names of this side: `url_for(plan.prefix ~ 'status', …)`."""
        return "tasks:" if self.side == "seller" else "tasks:buyer_"

    @property
    def room_url(self) -> str:
        if self.side == "seller":
            return f"/rooms/{self.room.public_id}"
        return f"/r/{self.room.public_id}"

    def value(self, form: str, name: str, default: str = "") -> str:
        return self.values.get(name, default) if self.form == form else default

    def error(self, form: str, name: str) -> str:
        return self.errors.get(name, "") if self.form == form else ""


def panel(
    req: Req,
    room: Room,
    actor: Actor | None,
    side: str,
    *,
    users: Sequence[User] | None = None,
    invites: Sequence[Invite] | None = None,
    **state: Any,
) -> PlanPanel:
    """`users` and `invites`: see tasks.load_plan (a page that has them passes them on)."""
    view = tasks.load_plan(req.session, room=room, actor=actor, users=users, invites=invites)
    return PlanPanel(room=room, view=view, side=side, actor=actor, **state)


def seller_plan(req: Req, room: Room) -> PlanPanel:
    """For the seller's room page (the seller was checked by require_room)."""
    user = req.user
    return panel(req, room, Actor(user=user) if user is not None else None, "seller")


def buyer_plan(
    req: Req,
    room: Room,
    invite: Invite | None,
    *,
    users: Sequence[User] | None = None,
    invites: Sequence[Invite] | None = None,
) -> PlanPanel:
    """For the buyer's room page; `invite` None is a seller's preview (read-only)."""
    actor = Actor(invite=invite) if invite is not None else None
    return panel(req, room, actor, "buyer", users=users, invites=invites)


# ---------------------------------------------------------------- who is asking


@dataclass
class Who:
    room: Room
    actor: Actor
    side: str


def _seller(req: Req) -> Who:
    user, room = require_room(req)
    return Who(room, Actor(user=user), "seller")


def _buyer(req: Req) -> Who:
    room, invite = require_viewer(req)
    if invite is None:
        raise PermissionDenied(
            _("This is a preview of the buyer's view. Change the plan from your room page.")
        )
    return Who(room, Actor(invite=invite), "buyer")


def _answer(req: Req, who: Who, *, open_task: str = "", anchor: str = "") -> Response:
    if is_htmx(req.request):
        return _page(req, who, open_task=open_task)
    anchor = anchor or (f"#task-{open_task}" if open_task else "#plan")
    return redirect(req, f"{panel_url(who)}{anchor}")


def _layout(who: Who) -> str:
    return "base.html" if who.side == "seller" else "buyer/_shell.html"


def panel_url(who: Who) -> str:
    prefix = "/rooms" if who.side == "seller" else "/r"
    return f"{prefix}/{who.room.public_id}"


def _page(req: Req, who: Who, *, status: int = 200, **state: Any) -> Response:
    ctx = {
        "room": who.room,
        "plan": panel(req, who.room, who.actor, who.side, **state),
        "layout": _layout(who),
    }
    return render(req, "tasks/page.html", ctx, fragment="tasks/_plan.html", status=status)


def _invalid(req: Req, who: Who, exc: InvalidInput, form: str, values: dict[str, str]) -> Rollback:
    """Answer a form with errors (the panel, or the plan page without JS) and roll back."""
    errors = exc.fields or {"title": exc.message}
    open_task = form if form.startswith("task_") else ""
    return Rollback(
        _page(req, who, status=422, errors=errors, values=values, form=form, open_task=open_task)
    )


# ---------------------------------------------------------------- actions (both sides)


def _show(req: Req, who: Who) -> Response:
    return _page(req, who)


def _add_milestone(req: Req, who: Who) -> Response:
    values = req.fields(*MILESTONE_FIELDS)
    try:
        tasks.add_milestone(req.session, room=who.room, actor=who.actor, data=values)
    except InvalidInput as exc:
        raise _invalid(req, who, exc, "milestone", values) from None
    return _answer(req, who)


def _edit_milestone(req: Req, who: Who) -> Response:
    milestone = tasks.get_milestone(
        req.session, room=who.room, milestone_id=req.param("milestone_id")
    )
    values = req.fields(*MILESTONE_FIELDS)
    try:
        tasks.update_milestone(
            req.session, room=who.room, actor=who.actor, milestone=milestone, data=values
        )
    except InvalidInput as exc:
        raise _invalid(req, who, exc, milestone.public_id, values) from None
    return _answer(req, who)


def _delete_milestone(req: Req, who: Who) -> Response:
    milestone = tasks.get_milestone(
        req.session, room=who.room, milestone_id=req.param("milestone_id")
    )
    tasks.delete_milestone(req.session, room=who.room, actor=who.actor, milestone=milestone)
    return _answer(req, who)


def _move_milestone(req: Req, who: Who) -> Response:
    milestone = tasks.get_milestone(
        req.session, room=who.room, milestone_id=req.param("milestone_id")
    )
    values = req.fields("direction")
    try:
        tasks.move_milestone(
            req.session,
            room=who.room,
            actor=who.actor,
            milestone=milestone,
            direction=values["direction"],
        )
    except InvalidInput as exc:
        raise _invalid(req, who, exc, milestone.public_id, values) from None
    return _answer(req, who, anchor=f"#ms-{milestone.public_id}")


def _move_task(req: Req, who: Who) -> Response:
    task = tasks.get_task(req.session, room=who.room, task_id=req.param("task_id"))
    values = req.fields(*MOVE_FIELDS)
    try:
        tasks.move_task(req.session, room=who.room, actor=who.actor, task=task, **values)
    except InvalidInput as exc:
        raise _invalid(req, who, exc, task.public_id, values) from None
    return _answer(req, who, anchor=f"#task-{task.public_id}")


def _add_task(req: Req, who: Who) -> Response:
    values = req.fields(*TASK_FIELDS)
    try:
        tasks.add_task(req.session, room=who.room, actor=who.actor, data=values)
    except InvalidInput as exc:
        raise _invalid(req, who, exc, "task", values) from None
    return _answer(req, who)


def _edit_task(req: Req, who: Who) -> Response:
    task = tasks.get_task(req.session, room=who.room, task_id=req.param("task_id"))
    if not tasks.can_edit(who.actor, task):
        raise PermissionDenied(
            _("Only the seller's team or whoever added this task can change it.")
        )
    ctx: dict[str, object] = {
        "room": who.room,
        "task": task,
        "plan": panel(req, who.room, who.actor, who.side),
        "layout": _layout(who),
        "back": f"{panel_url(who)}#task-{task.public_id}",
        "values": tasks.task_values(req.session, task=task),
        "errors": {},
    }
    if req.request.method == "GET":
        return render(req, "tasks/edit.html", ctx)
    values = req.fields(*TASK_FIELDS)
    try:
        tasks.update_task(req.session, room=who.room, actor=who.actor, task=task, data=values)
    except InvalidInput as exc:
        ctx.update(values=values, errors=exc.fields or {"title": exc.message})
        raise Rollback(render(req, "tasks/edit.html", ctx, status=422)) from None
    return redirect(req, f"{panel_url(who)}#task-{task.public_id}")


def _set_status(req: Req, who: Who) -> Response:
    task = tasks.get_task(req.session, room=who.room, task_id=req.param("task_id"))
    try:
        tasks.set_status(
            req.session, room=who.room, actor=who.actor, task=task, status=req.field("status")
        )
    except InvalidInput as exc:
        raise _invalid(req, who, exc, task.public_id, req.fields("status")) from None
    return _answer(req, who)


def _delete_task(req: Req, who: Who) -> Response:
    task = tasks.get_task(req.session, room=who.room, task_id=req.param("task_id"))
    tasks.delete_task(req.session, room=who.room, actor=who.actor, task=task)
    return _answer(req, who)


def _comment(req: Req, who: Who) -> Response:
    task = tasks.get_task(req.session, room=who.room, task_id=req.param("task_id"))
    values = req.fields("body")
    try:
        tasks.add_comment(
            req.session, room=who.room, actor=who.actor, task=task, body=values["body"]
        )
    except InvalidInput as exc:
        raise _invalid(req, who, exc, task.public_id, values) from None
    return _answer(req, who, open_task=task.public_id)


# ---------------------------------------------------------------- endpoints
# Each side's endpoint checks who is asking first (_seller / _buyer), then runs the shared action.


@endpoint
def page(req: Req) -> Response:
    return _show(req, _seller(req))


@endpoint(form=True)
def add_milestone(req: Req) -> Response:
    return _add_milestone(req, _seller(req))


@endpoint(form=True)
def edit_milestone(req: Req) -> Response:
    return _edit_milestone(req, _seller(req))


@endpoint(form=True)
def delete_milestone(req: Req) -> Response:
    return _delete_milestone(req, _seller(req))


@endpoint(form=True)
def move_milestone(req: Req) -> Response:
    return _move_milestone(req, _seller(req))


@endpoint(form=True)
def add_task(req: Req) -> Response:
    return _add_task(req, _seller(req))


@endpoint(form=True)
def move_task(req: Req) -> Response:
    return _move_task(req, _seller(req))


@endpoint(form=True)
def edit_task(req: Req) -> Response:
    return _edit_task(req, _seller(req))


@endpoint(form=True)
def set_status(req: Req) -> Response:
    return _set_status(req, _seller(req))


@endpoint(form=True)
def delete_task(req: Req) -> Response:
    return _delete_task(req, _seller(req))


@endpoint(form=True)
def comment(req: Req) -> Response:
    return _comment(req, _seller(req))


@endpoint
def buyer_page(req: Req) -> Response:
    room, invite = require_viewer(req)  # a seller previewing the buyer's view looks read-only
    ctx = {"room": room, "plan": buyer_plan(req, room, invite), "layout": "buyer/_shell.html"}
    return render(req, "tasks/page.html", ctx, fragment="tasks/_plan.html")


def _buyer_did(req: Req, who: Who, response: Response) -> Response:
    """Task activity is part of a buyer's engagement (the change itself succeeded)."""
    if who.actor.invite is not None:
        tracking.record(
            req.session,
            invite=who.actor.invite,
            event=tracking.TaskActivity(req.request.path_params.get("task_id", "")),
            return_days=req.settings.track_return_days,
        )
    return response


@endpoint(form=True)
def buyer_add_task(req: Req) -> Response:
    who = _buyer(req)
    return _buyer_did(req, who, _add_task(req, who))


@endpoint(form=True)
def buyer_edit_task(req: Req) -> Response:
    who = _buyer(req)
    return _buyer_did(req, who, _edit_task(req, who))


@endpoint(form=True)
def buyer_set_status(req: Req) -> Response:
    who = _buyer(req)
    return _buyer_did(req, who, _set_status(req, who))


@endpoint(form=True)
def buyer_delete_task(req: Req) -> Response:
    who = _buyer(req)
    return _buyer_did(req, who, _delete_task(req, who))


@endpoint(form=True)
def buyer_comment(req: Req) -> Response:
    who = _buyer(req)
    return _buyer_did(req, who, _comment(req, who))


# ---------------------------------------------------------------- JSON API
# Documented in openapi.py (TaskList, TaskCreate, Task); errors as in web/api.py.

API_TASK_FIELDS = ("milestone_id", "milestone", "title", "owner_id", "due_date", "notes", "status")


def task_json(task: tasks.Task, item: tasks.TaskItem, milestone: tasks.Milestone) -> dict[str, Any]:
    owner = item.owner
    return {
        "id": task.public_id,
        "milestone": {"id": milestone.public_id, "title": milestone.title},
        "title": task.title,
        "notes": task.notes,
        "status": task.status,
        "due_date": task.due_date.isoformat() if task.due_date else None,
        "overdue": item.overdue,
        "owner": {"id": owner.id, "name": owner.name, "side": owner.side} if owner else None,
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat(),
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
    }


def _plan_json(plan: tasks.Plan, only: str | None = None) -> list[dict[str, Any]]:
    return [
        task_json(item.task, item, m.milestone)
        for m in plan.milestones
        for item in m.tasks
        if only is None or item.task.public_id == only
    ]


def _api_body(req: Req) -> dict[str, object]:
    """Check the JSON types the spec documents; the domain validates the values."""
    data = req.json
    if not isinstance(data, dict):
        raise InvalidInput(_("The request body must be a JSON object."))
    unknown = sorted(set(data) - set(API_TASK_FIELDS))
    if unknown:
        raise InvalidInput(fields={key: _("Unknown field.") for key in unknown[:10]})
    body: dict[str, object] = {}
    errors: dict[str, str] = {}
    for key, value in data.items():
        if value is None and key in ("owner_id", "due_date"):
            body[key] = ""
        elif isinstance(value, str):
            body[key] = value
        else:
            errors[key] = _("Must be a string.")
    if "milestone" in body and "milestone_id" in body:
        errors["milestone"] = _("Give milestone_id or milestone, not both.")
    if errors:
        raise InvalidInput(fields=errors)
    return body


@endpoint(json=True)
def api_tasks(req: Req) -> Response:
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    actor = Actor(user=user)
    if req.request.method == "GET":
        plan = tasks.load_plan(req.session, room=room, actor=actor)
        summary = {
            "done": plan.progress.done,
            "total": plan.progress.total,
            "health": plan.health,
            "overdue": plan.overdue,
        }
        return JSONResponse({"data": _plan_json(plan), "plan": summary})
    body = _api_body(req)
    if "milestone" in body:
        milestone = tasks.milestone_for_title(
            req.session, room=room, actor=actor, title=body.pop("milestone")
        )
        body["milestone_id"] = milestone.public_id
    task = tasks.add_task(req.session, room=room, actor=actor, data=body)
    plan = tasks.load_plan(req.session, room=room, actor=actor)
    [created] = _plan_json(plan, only=task.public_id)
    return JSONResponse(created, status_code=201)


routes = [
    Route("/rooms/{room_id}/plan", page, name="tasks:page"),
    Route(
        "/rooms/{room_id}/plan/milestones",
        add_milestone,
        methods=["POST"],
        name="tasks:add_milestone",
    ),
    Route(
        "/rooms/{room_id}/plan/milestones/{milestone_id}",
        edit_milestone,
        methods=["POST"],
        name="tasks:edit_milestone",
    ),
    Route(
        "/rooms/{room_id}/plan/milestones/{milestone_id}/delete",
        delete_milestone,
        methods=["POST"],
        name="tasks:delete_milestone",
    ),
    Route(
        "/rooms/{room_id}/plan/milestones/{milestone_id}/move",
        move_milestone,
        methods=["POST"],
        name="tasks:move_milestone",
    ),
    Route("/rooms/{room_id}/plan/tasks", add_task, methods=["POST"], name="tasks:add_task"),
    Route(
        "/rooms/{room_id}/plan/tasks/{task_id}/move",
        move_task,
        methods=["POST"],
        name="tasks:move_task",
    ),
    Route(
        "/rooms/{room_id}/plan/tasks/{task_id}",
        edit_task,
        methods=["GET", "POST"],
        name="tasks:edit_task",
    ),
    Route(
        "/rooms/{room_id}/plan/tasks/{task_id}/status",
        set_status,
        methods=["POST"],
        name="tasks:status",
    ),
    Route(
        "/rooms/{room_id}/plan/tasks/{task_id}/delete",
        delete_task,
        methods=["POST"],
        name="tasks:delete_task",
    ),
    Route(
        "/rooms/{room_id}/plan/tasks/{task_id}/comments",
        comment,
        methods=["POST"],
        name="tasks:comment",
    ),
    Route("/r/{room_id}/plan", buyer_page, name="tasks:buyer_page"),
    Route("/r/{room_id}/plan/tasks", buyer_add_task, methods=["POST"], name="tasks:buyer_add_task"),
    Route(
        "/r/{room_id}/plan/tasks/{task_id}",
        buyer_edit_task,
        methods=["GET", "POST"],
        name="tasks:buyer_edit_task",
    ),
    Route(
        "/r/{room_id}/plan/tasks/{task_id}/status",
        buyer_set_status,
        methods=["POST"],
        name="tasks:buyer_status",
    ),
    Route(
        "/r/{room_id}/plan/tasks/{task_id}/delete",
        buyer_delete_task,
        methods=["POST"],
        name="tasks:buyer_delete_task",
    ),
    Route(
        "/r/{room_id}/plan/tasks/{task_id}/comments",
        buyer_comment,
        methods=["POST"],
        name="tasks:buyer_comment",
    ),
    Route("/api/v1/rooms/{room_id}/tasks", api_tasks, methods=["GET", "POST"], name="api:tasks"),
]
