"""How a request meets the domain.

Handlers are plain synchronous functions `fn(req) -> Response`, run in the thread pool so
database and storage calls never block the event loop. The wrapper reads the form (async), opens
one transaction for the request, commits when the handler returns, and rolls back when it raises.
A handler that wants to answer *and* discard its changes (a form with errors) raises
`Rollback(response)`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ..errors import DealroomError
from .errors import error_response

if TYPE_CHECKING:
    from ..accounts import User
    from ..app import Services

log = logging.getLogger("dealroom.web")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Rollback(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Answer with `response`, but discard the transaction."""

    def __init__(self, response: Response) -> None:
        super().__init__("rollback")
        self.response = response


@dataclass
class Req:
    request: Request
    session: Session
    services: Services
    form: FormData | None = None
    json: Any = None
    # Filled by auth helpers so templates and later checks reuse one lookup.
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Any:
        return self.services.settings

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def field(self, name: str, default: str = "") -> str:
        if self.form is None:
            return default
        value = self.form.get(name, default)
        return value if isinstance(value, str) else default

    def fields(self, *names: str) -> dict[str, str]:
        return {name: self.field(name) for name in names}

    @property
    def user(self) -> User | None:
        from .auth import current_user

        return current_user(self)


Handler = Callable[[Req], Response]


def endpoint(
    fn: Handler | None = None, *, form: bool = False, json: bool = False, upload: bool = False
) -> Any:
    """Wrap a sync handler as a Starlette endpoint.

    form:   parse an urlencoded/multipart body (small forms) before the handler runs.
    json:   parse a JSON body (API); bad JSON is a 400 with a clear message.
    upload: the handler receives the raw request and streams the body itself (see web.forms).
    """

    def decorate(handler: Handler) -> Callable[[Request], Any]:
        @functools.wraps(handler)
        async def wrapped(request: Request) -> Response:
            services: Services = request.app.state.services
            form_data = None
            json_data = None
            try:
                if request.method not in SAFE_METHODS:
                    if form:
                        from .forms import read_form

                        form_data = await read_form(request)
                    elif json:
                        from .forms import read_json

                        json_data = await read_json(request)
                    elif upload:
                        from .forms import receive_upload

                        form_data = await receive_upload(
                            request, services.settings.max_upload_bytes
                        )
                return await run_in_threadpool(
                    _run, handler, request, services, form_data, json_data
                )
            except DealroomError as exc:
                return error_response(request, exc)
            finally:
                if form_data is not None:
                    await form_data.close()  # removes spooled upload files

        return wrapped

    return decorate(fn) if fn is not None else decorate


def _run(
    handler: Handler, request: Request, services: Services, form: FormData | None, json: Any
) -> Response:
    write = request.method not in SAFE_METHODS
    try:
        return _attempt(handler, request, services, form, json, write=write)
    except OperationalError as exc:
        # SQLite: a GET runs in a deferred (read) transaction; when it also writes (a buyer's
        # first view, a notice shown) while another connection is writing, SQLite refuses the
        # upgrade at once ("database is locked") rather than wait, to avoid a deadlock. The
        # transaction was rolled back whole: run it again as a writer, which waits its turn.
        if write or not services.db.is_sqlite or "locked" not in str(exc.orig):
            raise
        # No path in the line: personal links carry their token in it.
        log.info("a read transaction could not write; retried as a writer")
        return _attempt(handler, request, services, form, json, write=True)


def _attempt(
    handler: Handler,
    request: Request,
    services: Services,
    form: FormData | None,
    json: Any,
    *,
    write: bool,
) -> Response:
    from .locale import seller_preferences

    try:
        with services.db.session(write=write) as session:
            req = Req(request, session, services, form, json)
            try:
                # The seller's language applies to the handler's messages and its error pages.
                with seller_preferences(req):
                    response = handler(req)
            except Rollback as signal:
                session.rollback()
                return signal.response
            except DealroomError as exc:
                # Render while the objects are still loaded, then let the block roll back.
                session.info.pop("mail_queued", None)
                with seller_preferences(req):
                    response = error_response(request, exc, req=req)
                raise _Answered(response) from exc
            mail_queued = session.info.pop("mail_queued", False)
            committed = session.info.pop("after_commit", [])
    except _Answered as answered:
        return answered.response
    if mail_queued:
        services.kick_mail()
    for callback in committed:
        try:
            callback()
        except Exception:  # noqa: BLE001 - the change is committed; the answer must still go out
            log.exception("after-commit callback failed")
    return response


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the request's transaction has committed (never after a rollback):
    e.g. publishing a live event, whose receivers read the committed rows."""
    session.info.setdefault("after_commit", []).append(callback)


class _Answered(Exception):  # noqa: N818
    def __init__(self, response: Response) -> None:
        super().__init__("answered")
        self.response = response
