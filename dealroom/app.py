"""The composition root: `create_app(settings)` wires settings, database, storage and routes."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import jinja2
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Receive, Scope, Send

from .db import Database
from .gctune import tune_gc as tune_gc  # re-exported: `dealroom.app.tune_gc`
from .jobs import Jobs
from .links import Links
from .live import Broker, InProcessBroker, make_broker
from .notify import MailRenderer, SmtpConfig
from .security import Signer
from .settings import PROJECT_ROOT, Settings, load_settings
from .storage import Storage, make_storage
from .tracking import Ingest

log = logging.getLogger("dealroom")


@dataclass
class Services:
    """Everything a request handler may use, built once per app."""

    settings: Settings
    db: Database
    storage: Storage
    signer: Signer
    links: Links
    env: jinja2.Environment
    templates: Jinja2Templates
    mail: MailRenderer
    smtp: SmtpConfig | None
    # Tracking beats wait here and are written in batches (see dealroom/tracking.py).
    ingest: Ingest
    jobs: Jobs | None = None
    # Live events (chat): in process on SQLite, LISTEN/NOTIFY on PostgreSQL (see make_broker).
    broker: Broker = field(default_factory=InProcessBroker)
    extra: dict[str, Any] = field(default_factory=dict)
    # Called once when the app stops (SIGTERM), after in-flight requests were answered and the
    # scheduler stopped: e.g. flushing a buffer of accepted events. Plain callables or coroutine
    # functions; one that fails is logged and the others still run.
    on_shutdown: list[Callable[[], Any]] = field(default_factory=list)

    def kick_mail(self) -> None:
        if self.jobs is not None:
            self.jobs.kick_mail()


def build_services(
    settings: Settings, db: Database | None = None, storage: Storage | None = None
) -> Services:
    from .web.render import make_environment, make_templates

    signer = Signer(settings.secret_key, settings.previous_secret_keys)
    env = make_environment()
    db = db or Database.from_url(settings.sqlalchemy_url)
    return Services(
        settings=settings,
        db=db,
        storage=storage or make_storage(settings),
        signer=signer,
        links=Links(signer, settings.base_url),
        env=env,
        templates=make_templates(env),
        mail=MailRenderer(env),
        smtp=SmtpConfig.from_settings(settings),
        broker=make_broker(db.engine),
        ingest=make_ingest(settings, db),
    )


def make_ingest(settings: Settings, db: Database) -> Ingest:
    """The tracking buffer; its writer runs in a child process when the setting asks for it and
    the database is one a second process can open (a file or a server, not a test connection)."""
    options: dict[str, Any] = {
        "interval": settings.track_flush_ms / 1000,
        "return_days": settings.track_return_days,
    }
    url = db.engine.url
    shareable = isinstance(db.bind, Engine) and not (
        url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    )
    if settings.track_writer_process and shareable:
        from .trackwriter import ProcessIngest

        return ProcessIngest(db, url=url.render_as_string(hide_password=False), **options)
    return Ingest(db, **options)


async def shutdown(services: Services) -> None:
    """The app's half of a graceful stop; uvicorn has already drained in-flight requests."""
    # Ends any event stream still open and stops the PostgreSQL listener thread.
    await services.broker.stop()
    if services.jobs is not None:
        # Waits for a running job (a mail batch, an export) to finish its unit of work.
        await anyio.to_thread.run_sync(services.jobs.stop)
        services.jobs = None
    for hook in services.on_shutdown:
        try:
            if inspect.iscoroutinefunction(hook):
                await hook()
            else:
                await anyio.to_thread.run_sync(hook)
        except Exception:  # noqa: BLE001 - one failed flush must not keep the others from running
            log.exception("shutdown hook %r failed", hook)
    log.info("Dealroom stopped cleanly")


class DealroomApp(Starlette):
    """The app. A tracking beat (POST /r/{room_id}/t, the most frequent request by far) is
    answered by `beacon` before Starlette's own error and middleware layers; see
    web/tracking.py's BeaconFastPath."""

    beacon: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.beacon is not None:
            room_id = self.beacon.room_of(scope)
            if room_id is not None:
                await self.beacon(scope, receive, send, room_id)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Starlette:
    from .web import errors as web_errors
    from .web import routes
    from .web.locale import LocaleMiddleware
    from .web.middleware import SecurityMiddleware
    from .web.observe import ObservabilityMiddleware
    from .web.tracking import BeaconFastPath

    settings = settings or (services.settings if services else load_settings())
    services = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.run_jobs:
            services.jobs = Jobs(
                services.db,
                services.smtp,
                mail=services.mail,
                links=services.links,
                storage=services.storage,
                secret_key=settings.secret_key,
                lease_seconds=settings.scheduler_lease_seconds,
                renew_seconds=settings.scheduler_renew_seconds,
                invite_reminder_days=settings.invite_reminder_days,
                notify_merge_minutes=settings.notify_merge_minutes,
            )
            services.jobs.start()
        await services.broker.start()
        # The flusher thread needs an engine: a Database bound to one connection (the test
        # suite's rolled-back transaction) is not thread-safe, and its tests flush explicitly.
        if isinstance(services.db.bind, Engine):
            services.ingest.start()
        if services.ingest.close not in services.on_shutdown:
            services.on_shutdown.append(services.ingest.close)
        try:
            yield
        finally:
            await shutdown(services)

    security_options: dict[str, Any] = {
        "signer": services.signer,
        "max_upload_bytes": settings.max_upload_bytes,
        "https": settings.https,
        "base_url": settings.base_url,
        "trust_proxy": settings.trust_proxy,
    }
    # Its checks and headers, for the fast path (which never calls the app it would wrap).
    security = SecurityMiddleware(Response(status_code=404), **security_options)
    app = DealroomApp(
        debug=False,
        routes=[
            *routes.all_routes(),
            Mount("/static", StaticFiles(directory=PROJECT_ROOT / "static"), name="static"),
        ],
        middleware=[
            # Every answer but a tracking beat's (see DealroomApp), refused ones too, gets a
            # request id, a log line and metrics.
            Middleware(ObservabilityMiddleware),
            # Then the language, so every answer (404s and refused forms too) speaks the reader's.
            Middleware(LocaleMiddleware),
            Middleware(SecurityMiddleware, **security_options),
        ],
        exception_handlers={
            404: routes.not_found,
            405: routes.method_not_allowed,
            500: routes.server_error,
            # Database or file storage down: 503 "temporarily unavailable", not a 500.
            **dict.fromkeys(web_errors.OUTAGES, web_errors.outage),
        },
        lifespan=lifespan,
    )
    app.state.services = services
    # The tracking beat is answered first, with the same origin check, security headers and
    # metrics as everything else.
    app.beacon = BeaconFastPath(services, security)
    return app
