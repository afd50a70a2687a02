"""Meeting notes: the room page panel (seller and buyer), a note's page with its history, inline
htmx create and edit on top of real forms, and the API's notes collection.

Buyers get shared notes only, on every route: the panel, the note page and nothing else (they
never see history, which may hold internal versions). Sellers of the room's organisation see
everything and may change anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import markdown, notes, rooms
from ..accounts import User
from ..errors import Conflict, InvalidInput
from ..i18n import _
from ..notes import Note
from ..rooms import Room
from .auth import require_api_user, require_room, require_viewer
from .handler import Req, Rollback, endpoint
from .htmx import is_htmx
from .render import redirect, render

NOTE_FIELDS = ("title", "meeting_date", "attendees", "body", "visibility")


# ---------------------------------------------------------------- what the templates get


@dataclass
class Card:
    """A note as shown: its markdown rendered (sanitized) and the name of who wrote it."""

    note: Note
    html: Markup
    author: str = ""


@dataclass
class Panel:
    """Everything the "Meeting notes" panel needs; `can_edit` is False on the buyer's page."""

    room: Room
    cards: list[Card]
    can_edit: bool
    today: str
    values: dict[str, str] = field(default_factory=dict)  # the create form
    errors: dict[str, str] = field(default_factory=dict)
    editing: str = ""  # public id of the note whose inline edit form is open
    edit_values: dict[str, str] = field(default_factory=dict)
    edit_errors: dict[str, str] = field(default_factory=dict)
    edit_base: int = 0


def cards(req: Req, room: Room, found: list[Note]) -> list[Card]:
    authors = notes.people(
        req.session, org_id=room.org_id, user_ids={n.created_by_id for n in found}
    )
    return [
        Card(
            note=note,
            html=markdown.render(note.body),
            author=authors[note.created_by_id].display_name
            if note.created_by_id in authors
            else "",
        )
        for note in found
    ]


def panel(req: Req, room: Room, *, can_edit: bool, **state: Any) -> Panel:
    """The panel for the room page: a seller's (every note) or a buyer's (shared ones only)."""
    found = notes.list_notes(req.session, room=room, shared_only=not can_edit)
    return Panel(
        room=room,
        cards=cards(req, room, found),
        can_edit=can_edit,
        today=notes.default_meeting_date().isoformat(),
        **state,
    )


def form_values(note: Note) -> dict[str, str]:
    return {
        "title": note.title,
        "meeting_date": note.meeting_date.isoformat(),
        "attendees": note.attendees,
        "body": note.body,
        "visibility": note.visibility,
    }


def _panel_answer(req: Req, room: Room, **state: Any) -> Response:
    ctx = {"room": room, "notes_panel": panel(req, room, can_edit=True, **state)}
    return render(req, "notes/list.html", ctx, fragment="notes/_panel.html")


def _back(req: Req, room: Room, note: Note | None = None) -> Response:
    """After a change: htmx gets the refreshed panel; a plain form goes back where it was."""
    if is_htmx(req.request):
        return _panel_answer(req, room)
    if note is not None and req.field("from") == "note":
        return redirect(req, f"/rooms/{room.public_id}/notes/{note.public_id}")
    return redirect(req, f"/rooms/{room.public_id}#notes")


def _base_revision(req: Req) -> int | None:
    raw = req.field("base_revision").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


# ---------------------------------------------------------------- seller pages


@endpoint
def note_list(req: Req) -> Response:
    _user, room = require_room(req)
    return _panel_answer(req, room)


@endpoint(form=True)
def note_new(req: Req) -> Response:
    user, room = require_room(req)
    if req.request.method == "GET":
        values = {"meeting_date": notes.default_meeting_date().isoformat()}
        return render(req, "notes/new.html", {"room": room, "values": values, "errors": {}})
    values = req.fields(*NOTE_FIELDS)
    try:
        note = notes.create_note(req.session, room=room, user=user, data=values)
    except InvalidInput as exc:
        errors = exc.fields or {"body": exc.message}
        ctx = {
            "room": room,
            "values": values,
            "errors": errors,
            "notes_panel": panel(req, room, can_edit=True, values=values, errors=errors),
        }
        raise Rollback(
            render(req, "notes/new.html", ctx, fragment="notes/_panel.html", status=422)
        ) from None
    if is_htmx(req.request):
        return _panel_answer(req, room)
    return redirect(req, f"/rooms/{room.public_id}/notes/{note.public_id}")


@endpoint
def note_detail(req: Req) -> Response:
    _user, room = require_room(req)
    note = notes.get_note(req.session, room=room, note_id=req.param("note_id"), shared_only=False)
    ctx = {
        "room": room,
        "card": cards(req, room, [note])[0],
        "history": notes.history(req.session, note=note),
        "render_markdown": markdown.render,
    }
    return render(req, "notes/detail.html", ctx)


@endpoint(form=True)
def note_edit(req: Req) -> Response:
    user, room = require_room(req)
    note = notes.get_note(req.session, room=room, note_id=req.param("note_id"), shared_only=False)
    if req.request.method == "GET":
        ctx = {
            "room": room,
            "note": note,
            "values": form_values(note),
            "errors": {},
            "base_revision": note.revision,
            # Asked for by htmx from the panel: the form replaces the note's card in place.
            "inline": is_htmx(req.request),
        }
        return render(req, "notes/edit.html", ctx, fragment="notes/_form.html")
    values = req.fields(*NOTE_FIELDS)
    try:
        notes.update_note(
            req.session, note=note, user=user, data=values, base_revision=_base_revision(req)
        )
    except (InvalidInput, Conflict) as exc:
        conflict = not isinstance(exc, InvalidInput)
        if isinstance(exc, InvalidInput):
            errors = exc.fields or {"body": exc.message}
        else:
            errors = {"revision": exc.message}
        # A conflict is a 409, but htmx (see base.html) only swaps 422 and 429 error answers,
        # and the inline form must come back with the message and the editor's text.
        status = 409 if conflict and not is_htmx(req.request) else 422
        ctx = {
            "room": room,
            "note": note,
            "values": values,
            "errors": errors,
            "base_revision": note.revision,
            "inline": False,
            "notes_panel": panel(
                req,
                room,
                can_edit=True,
                editing=note.public_id,
                edit_values=values,
                edit_errors=errors,
                edit_base=note.revision,
            ),
        }
        raise Rollback(
            render(req, "notes/edit.html", ctx, fragment="notes/_panel.html", status=status)
        ) from None
    if is_htmx(req.request):
        return _panel_answer(req, room)
    return redirect(req, f"/rooms/{room.public_id}/notes/{note.public_id}")


@endpoint(form=True)
def note_visibility(req: Req) -> Response:
    user, room = require_room(req)
    note = notes.get_note(req.session, room=room, note_id=req.param("note_id"), shared_only=False)
    notes.set_visibility(req.session, note=note, user=user, visibility=req.field("visibility"))
    return _back(req, room, note)


@endpoint(form=True)
def note_delete(req: Req) -> Response:
    user, room = require_room(req)
    note = notes.get_note(req.session, room=room, note_id=req.param("note_id"), shared_only=False)
    notes.delete_note(req.session, note=note, user=user)
    return _back(req, room)


# ---------------------------------------------------------------- buyers


@endpoint
def buyer_note(req: Req) -> Response:
    room, invite = require_viewer(req)
    note = notes.get_note(req.session, room=room, note_id=req.param("note_id"), shared_only=True)
    ctx = {
        "room": room,
        "viewer": invite,
        "preview": invite is None,
        "card": cards(req, room, [note])[0],
    }
    return render(req, "notes/buyer_note.html", ctx)


# ---------------------------------------------------------------- API


def note_json(req: Req, room: Room, note: Note) -> dict[str, Any]:
    return {
        "id": note.public_id,
        "title": note.title,
        "meeting_date": note.meeting_date.isoformat(),
        "attendees": note.attendee_list,
        "body": note.body,
        "body_html": str(markdown.render(note.body)),
        "visibility": note.visibility,
        "revision": note.revision,
        "url": f"{req.services.links.seller_room(room)}/notes/{note.public_id}",
        "created_at": note.created_at.isoformat(),
        "updated_at": note.updated_at.isoformat(),
    }


def _api_fields(body: Any) -> dict[str, object]:
    """Check the JSON types the OpenAPI document gives; the domain validates the values."""
    if not isinstance(body, dict):
        raise InvalidInput(_("The request body must be a JSON object."))
    errors = {key: _("Unknown field.") for key in sorted(set(body) - set(NOTE_FIELDS))[:10]}
    for key, value in body.items():
        if key == "attendees" and isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                errors[key] = _("Must be an array of names (strings).")
        elif key in NOTE_FIELDS and not isinstance(value, str):
            errors[key] = _("Must be a string.")
    if errors:
        raise InvalidInput(fields=errors)
    return {key: body[key] for key in NOTE_FIELDS if key in body}


def _api_room(req: Req) -> tuple[User, Room]:
    user = require_api_user(req)
    return user, rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))


@endpoint(json=True)
def api_notes(req: Req) -> Response:
    user, room = _api_room(req)
    if req.request.method == "GET":
        wanted = req.request.query_params.get("visibility", "")
        if wanted and wanted not in notes.VISIBILITIES:
            raise InvalidInput(
                fields={
                    "visibility": _(
                        "Must be one of: %(options)s.", options=", ".join(notes.VISIBILITIES)
                    )
                }
            )
        found = notes.list_notes(req.session, room=room, shared_only=wanted == "shared")
        if wanted == "internal":
            found = [note for note in found if note.visibility == "internal"]
        return JSONResponse({"data": [note_json(req, room, note) for note in found]})
    note = notes.create_note(req.session, room=room, user=user, data=_api_fields(req.json))
    location = str(req.request.url_for("api:note", room_id=room.public_id, note_id=note.public_id))
    return JSONResponse(note_json(req, room, note), status_code=201, headers={"Location": location})


@endpoint(json=True)
def api_note(req: Req) -> Response:
    _user, room = _api_room(req)
    note = notes.get_note(req.session, room=room, note_id=req.param("note_id"), shared_only=False)
    return JSONResponse(note_json(req, room, note))


routes = [
    Route("/rooms/{room_id}/notes", note_list, name="notes:list"),
    Route("/rooms/{room_id}/notes/new", note_new, methods=["GET", "POST"], name="notes:new"),
    Route("/rooms/{room_id}/notes/{note_id}", note_detail, name="notes:detail"),
    Route(
        "/rooms/{room_id}/notes/{note_id}/edit",
        note_edit,
        methods=["GET", "POST"],
        name="notes:edit",
    ),
    Route(
        "/rooms/{room_id}/notes/{note_id}/visibility",
        note_visibility,
        methods=["POST"],
        name="notes:visibility",
    ),
    Route(
        "/rooms/{room_id}/notes/{note_id}/delete",
        note_delete,
        methods=["POST"],
        name="notes:delete",
    ),
    Route("/r/{room_id}/notes/{note_id}", buyer_note, name="notes:buyer_note"),
    Route("/api/v1/rooms/{room_id}/notes", api_notes, methods=["GET", "POST"], name="api:notes"),
    Route("/api/v1/rooms/{room_id}/notes/{note_id}", api_note, name="api:note"),
]
