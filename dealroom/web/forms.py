"""Reading request bodies: small forms, JSON and streamed uploads, each with its own limits."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request

from ..content import Upload
from ..errors import InvalidInput, MalformedRequest, TooLarge
from ..i18n import _

FORM_LIMITS = {"max_files": 0, "max_fields": 200, "max_part_size": 256 * 1024}


def _unreadable(exc: Exception) -> str:
    """Why a body could not be parsed. Inside an app, Starlette turns its MultiPartException
    into a plain-text HTTPException(400); we answer with our own page or JSON instead."""
    if isinstance(exc, HTTPException):
        if exc.status_code != 400:
            raise exc
        return str(exc.detail)
    return exc.message if isinstance(exc, MultiPartException) else str(exc)


async def read_form(request: Request) -> FormData:
    try:
        return await request.form(**FORM_LIMITS)
    except (MultiPartException, HTTPException) as exc:
        raise InvalidInput(
            _("The form could not be read: %(reason)s", reason=_unreadable(exc))
        ) from None
    except ClientDisconnect:
        raise InvalidInput(_("The request was interrupted.")) from None


async def read_json(request: Request) -> Any:
    try:
        body = await request.body()
    except ClientDisconnect:
        raise MalformedRequest(_("The request was interrupted.")) from None
    if not body:
        return {}
    try:
        return json.loads(body)
    except (
        ValueError,
        RecursionError,
    ):  # UnicodeDecodeError is a ValueError; RecursionError: [[[[…
        raise MalformedRequest(_("The request body is not valid JSON.")) from None


async def receive_upload(request: Request, max_bytes: int) -> FormData:
    """Multipart with at most one file. The body-size middleware stops anything past the
    upload limit while it streams, so the file never lands whole in memory or on disk."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        if content_type.startswith("application/x-www-form-urlencoded"):
            return await read_form(request)
        raise InvalidInput(_("Send the file as multipart/form-data."))
    try:
        return await request.form(max_files=1, max_fields=50, max_part_size=256 * 1024)
    except (MultiPartException, HTTPException) as exc:
        raise InvalidInput(
            _("The upload could not be read: %(reason)s", reason=_unreadable(exc))
        ) from None
    except ClientDisconnect:
        raise InvalidInput(_("The upload was interrupted.")) from None


def upload_from(form: FormData | None, name: str = "file") -> Upload | None:
    if form is None:
        return None
    item = form.get(name)
    if not isinstance(item, UploadFile) or not item.filename:
        return None
    item.file.seek(0, 2)
    size = item.file.tell()
    item.file.seek(0)
    return Upload(filename=item.filename, file=item.file, size=size)


def require_upload(form: FormData | None, max_bytes: int, name: str = "file") -> Upload:
    upload = upload_from(form, name)
    if upload is None:
        raise InvalidInput(fields={name: _("Choose a file to upload.")})
    if upload.size > max_bytes:
        raise TooLarge(
            _("The file is larger than the %(mb)s MB limit.", mb=max_bytes // (1024 * 1024))
        )
    return upload
