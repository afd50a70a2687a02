"""Test harness: real components on 127.0.0.1, one rolled-back transaction per test.

The `db` fixture is parametrized, so every domain and web test that uses it runs on SQLite and on
PostgreSQL (a throwaway cluster started here and removed after). Schemas are built by running the
Alembic migrations, so the migrations are tested too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url
from starlette.testclient import TestClient

from dealroom.app import Services, build_services, create_app
from dealroom.db import Database, make_engine
from dealroom.migrate import upgrade
from dealroom.security import Signer
from dealroom.settings import Settings, load_settings
from dealroom.storage.local import LocalStorage
from tests.harness.postgres import create_database, drop_database, postgres_cluster
from tests.harness.smtp import SMTPServer, smtp_server

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_cluster() as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def postgresql_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    connection = engine.connect()
    outer = connection.begin()
    try:
        yield Database(connection)
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def committed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database whose commits are real, so several connections race for it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'committed.db'}"
        upgrade(url)
        database = Database.from_url(url)
        yield database
        database.dispose()
        return
    postgres_url = request.getfixturevalue("postgres_url")
    name = f"dealroom_committed_{uuid.uuid4().hex[:12]}"
    upgrade(create_database(postgres_url, name))
    database = Database.from_url(make_url(postgres_url).set(database=name).render_as_string(False))
    yield database
    database.dispose()
    drop_database(postgres_url, name)


@pytest.fixture
def session(db: Database) -> Iterator[Any]:
    """A session inside the test's transaction (domain tests flush, never commit)."""
    s = db._factory()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        dotenv=None,
        secret_key=TEST_SECRET,
        base_url="http://testserver",
        storage_dir=str(tmp_path / "files"),
        run_jobs=False,
    )


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


@pytest.fixture
def services(settings: Settings, db: Database, storage: LocalStorage) -> Services:
    return build_services(settings, db=db, storage=storage)


@pytest.fixture
def app(services: Services) -> Any:
    return create_app(services=services)


class Browser(TestClient):
    """A TestClient that behaves like a browser page: it sends the CSRF token the page had."""

    signer: Signer

    @property
    def csrf(self) -> str:
        signed = self.cookies.get("dr_csrf")
        if not signed:
            self.get("/login")
            signed = self.cookies.get("dr_csrf")
        return self.signer.unsign("csrf", signed, max_age=None)

    def submit(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a form the way a browser does: urlencoded, token in the csrf_token field."""
        body = dict(data or {})
        body.setdefault("csrf_token", self.csrf)
        return self.post(
            url, data=body, follow_redirects=kwargs.pop("follow_redirects", False), **kwargs
        )

    def enter(self, link: str) -> Any:
        """Open a personal invite link as a person does: the link page, then "Enter the room"."""
        path = link.removeprefix("http://testserver")
        response = self.get(path, follow_redirects=False)
        if response.status_code == 200 and response.template.name == "buyer/welcome.html":
            response = self.submit(path)
        return response

    def login(self, email: str, password: str) -> Any:
        response = self.submit("/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        return response


def make_browser(app: Any, services: Services) -> Browser:
    browser = Browser(app, base_url="http://testserver")
    browser.signer = services.signer
    return browser


@pytest.fixture
def client(app: Any, services: Services) -> Iterator[Browser]:
    with make_browser(app, services) as browser:
        yield browser


@pytest.fixture
def new_browser(app: Any, services: Services) -> Iterator[Any]:
    """Factory for extra, independent browsers (a buyer, a forwarded link's recipient...)."""
    opened: list[Browser] = []

    def factory() -> Browser:
        browser = make_browser(app, services)
        browser.__enter__()
        opened.append(browser)
        return browser

    yield factory
    for browser in opened:
        browser.__exit__(None, None, None)


@pytest.fixture(scope="session")
def smtp() -> Iterator[SMTPServer]:
    with smtp_server() as server:
        yield server


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://\S+", text)
