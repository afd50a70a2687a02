"""The composition root: `create_app(settings)` wires settings, database, storage and routes."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .db import Database
from .jobs import Jobs
from .links import Links
from .live import Broker, InProcessBroker, make_broker
from .notify import MailRenderer, SmtpConfig
from .security import Signer
from .settings import PROJECT_ROOT, Settings, load_settings
from .storage import Storage, make_storage

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
    jobs: Jobs | None = None
    # Live events (chat): in process on SQLite, LISTEN/NOTIFY on PostgreSQL (see make_broker).
    broker: Broker = field(default_factory=InProcessBroker)
    extra: dict[str, Any] = field(default_factory=dict)

    def kick_mail(self) -> None:
        if self.jobs is not None:
            self.jobs.kick_mail()


def tune_gc() -> None:
    """For long-running servers: a big room page allocates thousands of short-lived objects, and
    the default thresholds then run full collections in the middle of requests (the p95 of the
    200-item room page was 2-3x its median; see bench/room_render.py). Objects that live for the
    whole process are frozen out of collection and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def build_services(
    settings: Settings, db: Database | None = None, storage: Storage | None = None
) -> Services:
    from .web.render import make_environment, make_templates

    signer = Signer(settings.secret_key)
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
    )


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Starlette:
    from .web import routes
    from .web.locale import LocaleMiddleware
    from .web.middleware import SecurityMiddleware

    settings = settings or (services.settings if services else load_settings())
    services = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.run_jobs:
            services.jobs = Jobs(
                services.db, services.smtp, mail=services.mail, links=services.links
            )
            services.jobs.start()
        await services.broker.start()
        try:
            yield
        finally:
            # Ends any event stream still open and stops the PostgreSQL listener thread.
            await services.broker.stop()
            if services.jobs is not None:
                services.jobs.stop()
                services.jobs = None

    app = Starlette(
        debug=False,
        routes=[
            *routes.all_routes(),
            Mount("/static", StaticFiles(directory=PROJECT_ROOT / "static"), name="static"),
        ],
        middleware=[
            # Outermost, so every answer (404s and refused forms too) speaks the reader's language.
            Middleware(LocaleMiddleware),
            Middleware(
                SecurityMiddleware,
                signer=services.signer,
                max_upload_bytes=settings.max_upload_bytes,
                https=settings.https,
                base_url=settings.base_url,
            ),
        ],
        exception_handlers={
            404: routes.not_found,
            405: routes.method_not_allowed,
            500: routes.server_error,
        },
        lifespan=lifespan,
    )
    app.state.services = services
    return app
