"""The organisation's content library: upload or link once, tag, search, archive, add to rooms.

A library document is referenced by the rooms that use it, so a new version uploaded here (or
from any of those rooms) reaches all of them, marked "updated" for their buyers.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from .. import accounts, audit, content, rooms
from ..accounts import User
from ..content import TAG_STAGES, Document
from ..errors import Conflict, DealroomError, InvalidInput, NotFound
from ..i18n import _
from ..invites import BUYER_ROLES
from .auth import require_seller
from .content import ACCEPT, deliver
from .forms import require_upload
from .handler import Req, Rollback, endpoint
from .render import redirect, render


def _base(req: Req, user: User) -> dict[str, Any]:
    return {
        "stages": TAG_STAGES,
        "roles": BUYER_ROLES,
        "accept": ACCEPT,
        "max_upload_mb": req.settings.max_upload_mb,
        "form": "",
        "errors": {},
        "values": {},
    }


def _list_context(req: Req, user: User) -> dict[str, Any]:
    query = req.request.query_params
    search = query.get("q", "")[:100]
    archived = query.get("archived") == "1"
    entries = content.list_library(
        req.session, org_id=user.org_id, search=search, archived=archived
    )
    return {**_base(req, user), "entries": entries, "q": search, "archived": archived}


def _list_failed(
    req: Req, user: User, form: str, exc: DealroomError, values: dict[str, Any]
) -> Rollback:
    req.session.rollback()  # also deletes a file stored before the failure
    ctx = _list_context(req, user)
    errors = exc.fields if isinstance(exc, InvalidInput) and exc.fields else {"form": exc.message}
    ctx.update(form=form, errors=errors, values=values)
    return Rollback(render(req, "content/library.html", ctx, status=422))


def _tags(req: Req) -> dict[str, list[str]]:
    form = req.form
    if form is None:
        return {"stages": [], "roles": []}
    return {
        "stages": [v for v in form.getlist("stages") if isinstance(v, str)],
        "roles": [v for v in form.getlist("roles") if isinstance(v, str)],
    }


@endpoint
def library(req: Req) -> Response:
    user = require_seller(req)
    return render(req, "content/library.html", _list_context(req, user))


@endpoint(upload=True)
def upload(req: Req) -> Response:
    user = require_seller(req)
    values: dict[str, Any] = {**req.fields("title", "description"), **_tags(req)}
    try:
        file = require_upload(req.form, req.settings.max_upload_bytes)
        document = content.create_file_document(
            req.session,
            storage=req.services.storage,
            user=user,
            upload=file,
            title=values["title"],
            description=values["description"],
            stages_=values["stages"],
            roles_=values["roles"],
        )
    except InvalidInput as exc:
        raise _list_failed(req, user, "upload", exc, values) from None
    _record(req, user, "library.uploaded", document)
    return redirect(req, str(req.request.url_for("library:document", doc_id=document.public_id)))


@endpoint(form=True)
def add_link(req: Req) -> Response:
    user = require_seller(req)
    values: dict[str, Any] = {**req.fields("url", "title", "description"), **_tags(req)}
    try:
        document = content.create_link_document(
            req.session,
            user=user,
            url=values["url"],
            title=values["title"],
            description=values["description"],
            stages_=values["stages"],
            roles_=values["roles"],
        )
    except InvalidInput as exc:
        raise _list_failed(req, user, "link", exc, values) from None
    _record(req, user, "library.link_added", document)
    return redirect(req, str(req.request.url_for("library:document", doc_id=document.public_id)))


def _record(req: Req, user: User, action: str, document: Document, **detail: object) -> None:
    audit.record(
        req.session,
        org_id=user.org_id,
        actor=user.public_id,
        action=action,
        target=document.public_id,
        **detail,
    )


# ---------------------------------------------------------------- one document


def _document(req: Req) -> tuple[User, Document]:
    user = require_seller(req)
    return user, content.get_document(
        req.session, org_id=user.org_id, document_id=req.param("doc_id")
    )


def _document_context(req: Req, user: User, document: Document) -> dict[str, Any]:
    using = content.rooms_using(req.session, document=document)
    open_rooms = rooms.list_rooms(req.session, org_id=user.org_id, limit=200)
    return {
        **_base(req, user),
        "document": document,
        "versions": content.document_versions(req.session, document=document),
        "using": using,
        "rooms": [r for r in open_rooms if r.id not in {u.id for u in using}],
        "authors": {
            u.id: u for u in accounts.team(req.session, org_id=user.org_id) if u.id is not None
        },
    }


def _document_failed(
    req: Req, user: User, document: Document, form: str, exc: DealroomError, values: dict[str, Any]
) -> Rollback:
    req.session.rollback()
    ctx = _document_context(req, user, document)
    errors = exc.fields if isinstance(exc, InvalidInput) and exc.fields else {"form": exc.message}
    ctx.update(form=form, errors=errors, values=values)
    return Rollback(render(req, "content/document.html", ctx, status=422))


def _back(req: Req, document: Document) -> Response:
    return redirect(req, str(req.request.url_for("library:document", doc_id=document.public_id)))


@endpoint
def document_page(req: Req) -> Response:
    user, document = _document(req)
    return render(req, "content/document.html", _document_context(req, user, document))


@endpoint(form=True)
def edit(req: Req) -> Response:
    user, document = _document(req)
    names = ("title", "description", "url") if document.is_link else ("title", "description")
    data: dict[str, object] = {**req.fields(*names), **_tags(req)}
    try:
        content.update_document(req.session, document=document, data=data)
    except InvalidInput as exc:
        raise _document_failed(req, user, document, "edit", exc, data) from None
    _record(req, user, "library.edited", document)
    return _back(req, document)


@endpoint(upload=True)
def new_version(req: Req) -> Response:
    user, document = _document(req)
    try:
        file = require_upload(req.form, req.settings.max_upload_bytes)
        version = content.add_version(
            req.session, storage=req.services.storage, document=document, user=user, upload=file
        )
    except (InvalidInput, Conflict) as exc:
        raise _document_failed(req, user, document, "version", exc, {}) from None
    _record(req, user, "library.version_added", document, version=version.version)
    return _back(req, document)


@endpoint(form=True)
def archive(req: Req) -> Response:
    user, document = _document(req)
    content.archive_document(req.session, document=document)
    _record(req, user, "library.archived", document)
    return _back(req, document)


@endpoint(form=True)
def restore(req: Req) -> Response:
    user, document = _document(req)
    content.restore_document(req.session, document=document)
    _record(req, user, "library.restored", document)
    return _back(req, document)


@endpoint(form=True)
def add_to_room(req: Req) -> Response:
    user, document = _document(req)
    values = req.fields("room", "section_title")
    try:
        room = rooms.get_room(req.session, org_id=user.org_id, room_id=values["room"].strip())
    except NotFound:
        exc = InvalidInput(fields={"room": _("Choose one of your rooms.")})
        raise _document_failed(req, user, document, "add", exc, values) from None
    try:
        section = (
            content.section_named(req.session, room=room, title=values["section_title"])
            if values["section_title"].strip()
            else None
        )
        item = content.place(req.session, room=room, document=document, user=user, section=section)
    except (InvalidInput, Conflict) as exc:
        raise _document_failed(req, user, document, "add", exc, values) from None
    audit.record(
        req.session,
        org_id=user.org_id,
        actor=user.public_id,
        action="content.placed",
        target=item.public_id,
        room=room.public_id,
        document=document.public_id,
    )
    return redirect(
        req, str(req.request.url_for("rooms:detail", room_id=room.public_id)) + "#content"
    )


@endpoint
def document_file(req: Req) -> Response:
    user, document = _document(req)
    raw = req.request.query_params.get("version", "")
    number = int(raw) if raw.isdigit() and len(raw) < 9 else None
    version, stored = content.version_file(req.session, document=document, version=number)
    as_download = req.request.query_params.get("download") == "1"
    if as_download:
        _record(req, user, "library.downloaded", document, version=version.version)
    return deliver(req, stored, as_download=as_download)


routes = [
    Route("/library", library, name="library:list"),
    Route("/library/upload", upload, methods=["POST"], name="library:upload"),
    Route("/library/links", add_link, methods=["POST"], name="library:add_link"),
    Route("/library/{doc_id}", document_page, name="library:document"),
    Route("/library/{doc_id}/edit", edit, methods=["POST"], name="library:edit"),
    Route("/library/{doc_id}/version", new_version, methods=["POST"], name="library:version"),
    Route("/library/{doc_id}/archive", archive, methods=["POST"], name="library:archive"),
    Route("/library/{doc_id}/restore", restore, methods=["POST"], name="library:restore"),
    Route("/library/{doc_id}/add", add_to_room, methods=["POST"], name="library:add"),
    Route("/library/{doc_id}/file", document_file, name="library:file"),
]
